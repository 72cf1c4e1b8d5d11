// Command extend is an application that uses keylin as a library over its
// own ent schema: its User adds role, nickname and internal_note to
// keylin's fields (ent/schema/user.go), its ent package is generated with
// keylin's entc extension, and keylin's routers serve those fields as the
// schema's entkeylin annotations say, and describe them at /openapi.json
// and /docs. It adds one route of its own, for superusers.
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
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/openapi"

	"github.com/keylin/keylin/examples/extend/ent"
	"github.com/keylin/keylin/examples/extend/ent/migrate/migrations"
	"github.com/keylin/keylin/examples/extend/ent/order"
	_ "github.com/keylin/keylin/examples/extend/ent/runtime" // the schema's privacy policies
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
	// GET /openapi.json and /docs: keylin's routes with this schema's
	// fields, as their annotations say.
	if err := openapi.Mount(e, svc.API, openapi.Info{Title: "extend", Version: "1.0.0"}); err != nil {
		return nil, nil, err
	}

	// The application's own entity, protected by keylin's generated
	// privacy rules: the middleware puts the user in the request's
	// context, and ent's policy filters by it.
	orders := e.Group("/orders", svc.API.RequireUser())
	orders.GET("", func(c echo.Context) error {
		os, err := client.Order.Query().Order(order.ByCreatedAt()).All(c.Request().Context())
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, os)
	})
	orders.POST("", func(c echo.Context) error {
		var in struct {
			Item     string `json:"item"`
			Quantity int    `json:"quantity"`
		}
		if err := c.Bind(&in); err != nil {
			return err
		}
		o, err := client.Order.Create().
			SetItem(in.Item).SetQuantity(max(in.Quantity, 1)).
			SetOwnerID(httpapi.CurrentUser(c).ID).
			Save(c.Request().Context())
		if ent.IsValidationError(err) {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, err.Error())
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusCreated, o)
	})
	orders.DELETE("/:id", func(c echo.Context) error {
		id, err := strconv.Atoi(c.Param("id"))
		if err != nil {
			return echo.ErrNotFound
		}
		// Another user's order is not found: the policy filters it out.
		err = client.Order.DeleteOneID(id).Exec(c.Request().Context())
		if ent.IsNotFound(err) {
			return echo.ErrNotFound
		}
		if err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})

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

// migrateUp applies the application's embedded migrations: the folder of
// the database's dialect (postgres/ or sqlite/).
func migrateUp(ctx context.Context, db *database.DB) error {
	_, err := database.Migrate(ctx, db, migrations.FS)
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
