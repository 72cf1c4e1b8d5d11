// Command echoapp is an existing Echo application that adds keylin: it
// mounts keylin's routers next to its own routes, under prefixes of its
// choosing, keeps its own error handler, and protects one of its routes.
//
//	JWT_SECRET=$(openssl rand -hex 32) go run ./examples/echoapp
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
	"github.com/keylin/keylin/httpapi"
)

// Settings are the app's own settings, embedding keylin's.
type Settings struct {
	config.Settings
	Greeting string `env:"GREETING, default=hello"`
}

// newApp builds the application around an existing Echo instance.
func newApp(s Settings, client *ent.Client) (*echo.Echo, error) {
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte(s.JWTSecret),
		VerifySecret: []byte(s.VerificationSecret),
		ResetSecret:  []byte(s.ResetPasswordSecret),
	})
	if err != nil {
		return nil, err
	}
	m, err := authn.NewManager(ent.NewAuthnStore(client), tokens)
	if err != nil {
		return nil, err
	}
	api, err := httpapi.NewAPI(m)
	if err != nil {
		return nil, err
	}

	e := echo.New()
	// The app's own error handler stays in charge of the app's routes.
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		code := http.StatusInternalServerError
		if he, ok := err.(*echo.HTTPError); ok {
			code = he.Code
		}
		_ = c.JSON(code, map[string]any{"error": http.StatusText(code), "app": "echoapp"})
	}
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, s.Greeting) })

	// keylin's routers, under the app's own prefixes.
	api.MountAuth(e.Group("/api/auth/jwt"))
	auth := e.Group("/api/auth")
	api.MountRegister(auth)
	api.MountResetPassword(auth)
	api.MountVerify(auth)
	api.MountUsers(e.Group("/api/users"))

	// One of the app's routes, for signed-in users only.
	e.GET("/dashboard", func(c echo.Context) error {
		u := httpapi.CurrentUser(c)
		return c.JSON(http.StatusOK, map[string]string{"greeting": s.Greeting + ", " + u.Email})
	}, api.RequireUser())
	return e, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var s Settings
	if err := config.Load(ctx, &s); err != nil {
		log.Fatal(err)
	}
	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := database.Migrate(ctx, db, migrations.FS); err != nil {
		log.Fatal(err)
	}
	e, err := newApp(s, ent.NewClient(ent.Driver(db.Driver())))
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		<-ctx.Done()
		_ = e.Shutdown(context.Background())
	}()
	if err := e.Start(":8080"); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
