// Command extend is an application that uses keylin as a library over its
// own ent schema: its User adds role, nickname and internal_note to
// keylin's fields (ent/schema/user.go), its ent package is generated with
// keylin's entc extension, and keylin's routers serve those fields as the
// schema's entkeylin annotations say. It adds one route of its own, for
// superusers.
//
//	cd examples/extend
//	JWT_SECRET=$(openssl rand -hex 32) go run .
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"

	"github.com/keylin/keylin/examples/extend/ent"
	"github.com/keylin/keylin/examples/extend/ent/migrate/migrations"
	"github.com/keylin/keylin/examples/extend/ent/user"
)

// Settings are the application's settings: keylin's, and its own.
type Settings struct {
	config.Settings
	Addr string `env:"ADDR, default=:8080"`
}

// newApp serves keylin's routers over the application's ent client, with
// its user fields, and the application's own routes. keylin.New wires
// every setting; the store generated into the application's ent package
// brings the application's user fields with it.
func newApp(s Settings, client *ent.Client) (*echo.Echo, *keylin.Service, error) {
	svc, err := keylin.New(s.Settings, ent.NewAuthnStore(client))
	if err != nil {
		return nil, nil, err
	}
	e := echo.New()
	svc.API.MountAll(e)

	// The application's own route: the nicknames in use, for superusers.
	e.GET("/admin/nicknames", func(c echo.Context) error {
		users, err := client.User.Query().
			Where(user.NicknameNotNil()).
			Order(user.ByNickname()).
			All(c.Request().Context())
		if err != nil {
			return err
		}
		names := make([]string, 0, len(users))
		for _, u := range users {
			names = append(names, *u.Nickname)
		}
		return c.JSON(http.StatusOK, map[string]any{"nicknames": names})
	}, svc.API.RequireSuperuser())
	return e, svc, nil
}

// migrateUp applies the application's embedded migrations.
func migrateUp(ctx context.Context, db *database.DB) error {
	dir, err := database.DirFS(migrations.FS, database.DialectDir(db.Dialect))
	if err != nil {
		return err
	}
	mig, err := database.NewMigrator(db, dir)
	if err != nil {
		return err
	}
	_, err = mig.Apply(ctx)
	return err
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var s Settings
	if err := config.Load(ctx, &s); err != nil {
		log.Fatal(err)
	}
	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	if err := migrateUp(ctx, db); err != nil {
		log.Fatal(err)
	}
	e, svc, err := newApp(s, ent.NewClient(ent.Driver(db.Driver())))
	if err != nil {
		log.Fatal(err)
	}
	svc.Start(ctx)
	defer func() { _ = svc.Close(context.Background()) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.Shutdown(sctx)
	}()
	if err := e.Start(s.Addr); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
