package authn_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keylin/keylin/authn"
)

// The contract is checked by authntest (authn/authntest/memory_test.go);
// these are what is MemoryStore's own.

func TestMemoryStoreExtra(t *testing.T) {
	type fields struct{ Nickname string }
	ctx := context.Background()
	s := authn.NewMemoryStore()
	created := &fields{"neo"}
	u, err := s.CreateUser(ctx, &authn.User{Email: "neo@example.com", HashedPassword: "h"}, created)
	if err != nil {
		t.Fatal(err)
	}
	if u.Extra != created {
		t.Errorf("CreateUser: Extra = %v, want the value passed, as is", u.Extra)
	}
	if got := s.PreviewExtra(created); got != created {
		t.Errorf("PreviewExtra = %v, want its argument", got)
	}
	if u, err = s.UpdateUser(ctx, u.ID, authn.UserChanges{IsVerified: new(true)}); err != nil || u.Extra != created {
		t.Errorf("UpdateUser without Extra: Extra = %v, %v; want it kept", u.Extra, err)
	}
	updated := &fields{"trinity"}
	if u, err = s.UpdateUser(ctx, u.ID, authn.UserChanges{Extra: updated}); err != nil || u.Extra != updated {
		t.Errorf("UpdateUser with Extra: Extra = %v, %v; want the new value", u.Extra, err)
	}
	if got, _ := s.GetUserByID(ctx, u.ID); got.Extra != updated {
		t.Errorf("GetUserByID: Extra = %v, want the updated value", got.Extra)
	}
}

func TestMemoryStoreContext(t *testing.T) {
	s := authn.NewMemoryStore()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.CreateUser(ctx, &authn.User{Email: "a@example.com"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateUser with an ended context: %v, want context.Canceled", err)
	}
	if _, err := s.TakeLimit(ctx, "k", time.Now(), time.Second, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("TakeLimit with an ended context: %v, want context.Canceled", err)
	}
}
