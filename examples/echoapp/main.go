// Command echoapp is an existing Echo application that adds keylin: it
// wires keylin from its settings with keylin.New, mounts keylin's routers
// next to its own routes under prefixes of its choosing, keeps its own
// error handler, picks two of keylin's production middleware, and protects
// one of its routes.
//
//	JWT_SECRET=$(openssl rand -hex 32) go run ./examples/echoapp
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
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

// newApp builds the application around an existing Echo instance. Every
// keylin setting (token lifetimes, hashing, verification, rate limits,
// mail, refresh tokens…) reaches the service through keylin.New.
func newApp(s Settings, client *ent.Client, log *slog.Logger) (*echo.Echo, *keylin.Service, error) {
	svc, err := keylin.New(s.Settings, ent.NewAuthnStore(client), keylin.WithLogger(log))
	if err != nil {
		return nil, nil, err
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
	// Two of keylin's production middleware, chosen by the app: client IPs
	// believed from the app's proxies only, and the security headers.
	if e.IPExtractor, err = httpapi.TrustedProxies(s.TrustedProxies); err != nil {
		return nil, nil, err
	}
	e.Use(httpapi.SecurityHeaders())
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, s.Greeting) })

	// keylin's routers, under the app's own prefixes.
	svc.API.MountAuth(e.Group("/api/auth/jwt"))
	auth := e.Group("/api/auth")
	svc.API.MountRegister(auth)
	svc.API.MountResetPassword(auth)
	svc.API.MountVerify(auth)
	svc.API.MountUsers(e.Group("/api/users"))

	// One of the app's routes, for signed-in users only.
	e.GET("/dashboard", func(c echo.Context) error {
		u := httpapi.CurrentUser(c)
		return c.JSON(http.StatusOK, map[string]string{"greeting": s.Greeting + ", " + u.Email})
	}, svc.API.RequireUser())
	return e, svc, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var s Settings
	if err := config.Load(ctx, &s); err != nil {
		log.Fatal(err)
	}
	db, err := database.Open(ctx, s.DatabaseURL, database.WithIOTimeout(s.DatabaseTimeout))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := database.Migrate(ctx, db, migrations.FS); err != nil {
		log.Fatal(err)
	}
	e, svc, err := newApp(s, ent.NewClient(ent.Driver(db.Driver())), slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	svc.Start(ctx) // pruning; Close stops it and sends the queued mail
	defer func() { _ = svc.Close(context.Background()) }()
	go func() {
		<-ctx.Done()
		_ = e.Shutdown(context.Background())
	}()
	if err := e.Start(":8080"); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
