package main

import (
	"context"
	"testing"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/authn/authntest"

	"github.com/keylin/keylin/examples/extend/ent"
	"github.com/keylin/keylin/examples/extend/ent/privacy"
)

// TestStoreConformance checks the store keylin's extension generated into
// this application's ent package against authn.Store's contract, on
// SQLite and PostgreSQL: one migrated database per dialect, emptied
// before each case of the suite.
func TestStoreConformance(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d string) {
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		db := testDB(t, d)
		if err := migrateUp(ctx, db); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		client := ent.NewClient(ent.Driver(db.Driver()))
		authntest.TestStore(t, func(t *testing.T) authn.Store {
			for name, del := range map[string]func(context.Context) (int, error){
				"orders":         client.Order.Delete().Exec,
				"refresh tokens": client.RefreshToken.Delete().Exec,
				"sessions":       client.Session.Delete().Exec,
				"rate limits":    client.RateLimit.Delete().Exec,
			} {
				if _, err := del(ctx); err != nil {
					t.Fatalf("empty the %s: %v", name, err)
				}
			}
			if _, err := client.User.Delete().Exec(ctx); err != nil {
				t.Fatalf("empty the users: %v", err)
			}
			return ent.NewAuthnStore(client)
		})
	})
}
