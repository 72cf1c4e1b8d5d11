package authntest_test

import (
	"context"
	"testing"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/authn/authntest"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/internal/dbtest"
)

// TestEntStore runs the suite against keylin's generated ent store on each
// dialect. One migrated database serves every case; it is emptied before
// each.
func TestEntStore(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		client := ent.NewClient(ent.Driver(dbtest.Migrated(t, d).Driver()))
		authntest.TestStore(t, func(t *testing.T) authn.Store {
			empty(t, client)
			return ent.NewAuthnStore(client)
		})
	})
}

// empty deletes every row keylin's store keeps.
func empty(t *testing.T, c *ent.Client) {
	t.Helper()
	ctx := context.Background()
	for name, del := range map[string]func(context.Context) (int, error){
		"refresh tokens": c.RefreshToken.Delete().Exec,
		"sessions":       c.Session.Delete().Exec,
		"users":          c.User.Delete().Exec,
		"rate limits":    c.RateLimit.Delete().Exec,
	} {
		if _, err := del(ctx); err != nil {
			t.Fatalf("empty the %s: %v", name, err)
		}
	}
}
