package authntest_test

import (
	"testing"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/authn/authntest"
)

func TestMemoryStore(t *testing.T) {
	authntest.TestStore(t, func(*testing.T) authn.Store { return authn.NewMemoryStore() })
}
