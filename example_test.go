package keylin_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// ExampleNew wires keylin from settings over keylin's generated store and
// serves it as `keylin serve` does.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "keylin-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s := config.Defaults() // in an application: config.Load(ctx, &s)
	s.JWTSecret = "example-secret-0123456789abcdef0123456789"
	s.DatabaseURL = "sqlite:///" + filepath.Join(dir, "app.db")
	s.HashMemoryKiB, s.HashIterations, s.HashParallelism = 19456, 2, 1

	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if _, err := database.Migrate(ctx, db, migrations.FS); err != nil {
		log.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(db.Driver()))
	svc, err := keylin.New(s, ent.NewAuthnStore(client),
		keylin.WithLogger(slog.New(slog.DiscardHandler)), keylin.WithConsole(io.Discard))
	if err != nil {
		log.Fatal(err)
	}
	svc.Start(ctx)
	defer svc.Close(ctx)
	app, err := svc.Echo()
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()

	res, _ := http.Post(srv.URL+"/auth/register", "application/json",
		strings.NewReader(`{"email":"ada@example.com","password":"a long passphrase"}`))
	fmt.Println("register:", res.Status)
	res, _ = http.PostForm(srv.URL+"/auth/jwt/login", url.Values{"username": {"ada@example.com"}, "password": {"a long passphrase"}})
	fmt.Println("login:", res.Status)
	res, _ = http.Get(srv.URL + "/readyz")
	fmt.Println("ready:", res.Status)
	// Output:
	// register: 201 Created
	// login: 200 OK
	// ready: 200 OK
}
