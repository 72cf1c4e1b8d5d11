package authntest_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/authn/authntest"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/internal/authtest"
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

// TestEntStoreStatementLost: the token check's prepared statement vanishing
// from the server connection (what a transaction-mode pooler such as
// PgBouncer without max_prepared_statements causes) costs no request: the
// store runs the query unprepared from then on.
func TestEntStoreStatementLost(t *testing.T) {
	db := dbtest.Migrated(t, "postgres")
	db.SetMaxOpenConns(1) // one server connection: DEALLOCATE reaches the statement
	m, err := authn.NewManager(ent.NewAuthnStore(ent.NewClient(ent.Driver(db.Driver()))), authtest.Tokens(t),
		authn.WithHasher(authtest.Hasher(t)), authn.WithLimits(authn.NoLimits()), authn.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := m.Register(ctx, authn.UserCreate{Email: "pooler@example.com", Password: authtest.Password}); err != nil {
		t.Fatal(err)
	}
	g, err := m.Login(ctx, "pooler@example.com", authtest.Password)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		if u, _, err := m.UserFromToken(ctx, g.AccessToken); err != nil || u.Email != "pooler@example.com" {
			t.Fatalf("%s: %v, %v", what, u, err)
		}
	}
	check("prepared")
	var prepared int
	if err := db.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil || prepared == 0 {
		t.Fatalf("the token check left no prepared statement (%d, %v): this test proves nothing", prepared, err)
	}
	if _, err := db.Exec(`DEALLOCATE ALL`); err != nil {
		t.Fatal(err)
	}
	check("after the server lost the statement")
	check("unprepared from then on")
	if err := db.QueryRow(`SELECT count(*) FROM pg_prepared_statements`).Scan(&prepared); err != nil || prepared != 0 {
		t.Fatalf("%d statements prepared again (%v): want none", prepared, err)
	}
}
