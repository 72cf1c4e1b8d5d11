package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/ent/migrate/migrations"
	"github.com/keylin/keylin/metrics"
)

// Server processes the benchmark starts (the hidden --role flag).
const (
	roleKeylin   = "keylin"
	roleBaseline = "baseline"
	// runKeylinMetrics is not a process role but a run: keylin with
	// METRICS=true, to show what the metrics cost in the same run.
	runKeylinMetrics = "keylin+metrics"
)

// The http.Server limits of `keylin serve` (cmd/keylin/serve.go), which
// both roles use.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 25 * time.Second
)

// listeningPrefix starts the one line a server role writes to stdout once
// it accepts connections: the prefix, then the address.
const listeningPrefix = "listening "

// runRole runs one of the server processes: keylin --role=keylin [--addr A]
// [--pprof A], or the bare baseline --role=baseline [--addr A]. Settings
// come from the environment the benchmark passes (JWT_SECRET,
// DATABASE_URL, …), read as keylin serve reads them but without a .env
// file. It serves until ctx ends (SIGTERM), then shuts down gracefully.
func runRole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keylin-bench (server role)", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "keylin or baseline")
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	pprofAddr := fs.String("pprof", "", "keylin role: serve net/http/pprof on this address")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	var s config.Settings
	if err := config.Load(ctx, &s, config.WithDotEnv("")); err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: s.Level()}))
	switch *role {
	case roleKeylin:
		return serveKeylin(ctx, s, log, *addr, *pprofAddr, stdout)
	case roleBaseline:
		if *pprofAddr != "" {
			return fmt.Errorf("--pprof is for the keylin role")
		}
		return serveBaseline(ctx, s, log, *addr, stdout)
	}
	return fmt.Errorf("unknown role %q", *role)
}

// serveKeylin opens the database, applies the migrations and serves
// keylin's production server: keylin.New and Service.Echo, as keylin serve
// does.
func serveKeylin(ctx context.Context, s config.Settings, log *slog.Logger, addr, pprofAddr string, stdout io.Writer) error {
	u, err := s.Database()
	if err != nil {
		return err
	}
	// Migrations run without the serving I/O timeout, as in keylin serve.
	mdb, err := database.OpenURL(ctx, u)
	if err != nil {
		return err
	}
	err = migrate(ctx, mdb)
	mdb.Close()
	if err != nil {
		return err
	}
	db, err := database.OpenURL(ctx, u, database.WithIOTimeout(s.DatabaseTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	svc, err := keylin.New(s, ent.NewAuthnStore(ent.NewClient(ent.Driver(db.Driver()))), keylin.WithLogger(log))
	if err != nil {
		return err
	}
	app, err := svc.Echo()
	if err != nil {
		return err
	}
	if s.Metrics { // as keylin serve does
		metrics.New(metrics.Config{Hasher: svc.Manager.Hasher(), DB: db.DB}).Mount(app)
	}
	if pprofAddr != "" {
		if err := servePprof(pprofAddr); err != nil {
			return err
		}
	}
	svc.Start(ctx)
	err = serve(ctx, addr, app, log, stdout, svc.Drain)
	if cerr := svc.Close(context.Background()); err == nil {
		err = cerr
	}
	return err
}

// serveBaseline serves NOTES.md's baseline for GET /users/me: a bare Echo
// v4 handler, no middleware, that parses the JWT with golang-jwt
// (HS256, audience fastapi-users:auth, exp required) and loads the user by
// primary key with the ent client.
func serveBaseline(ctx context.Context, s config.Settings, log *slog.Logger, addr string, stdout io.Writer) error {
	db, err := database.Open(ctx, s.DatabaseURL, database.WithIOTimeout(s.DatabaseTimeout))
	if err != nil {
		return err
	}
	defer db.Close()
	client := ent.NewClient(ent.Driver(db.Driver()))
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{"HS256"}),
		jwt.WithAudience(authn.AccessAudience),
		jwt.WithExpirationRequired(),
	)
	secret := []byte(s.JWTSecret)
	key := func(*jwt.Token) (any, error) { return secret, nil }
	app := echo.New()
	app.HideBanner, app.HidePort = true, true
	app.GET("/users/me", func(c echo.Context) error {
		raw, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if !ok {
			return c.JSON(http.StatusUnauthorized, map[string]string{"detail": "Unauthorized"})
		}
		var claims jwt.RegisteredClaims
		if _, err := parser.ParseWithClaims(raw, &claims, key); err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]string{"detail": "Unauthorized"})
		}
		id, err := uuid.Parse(claims.Subject)
		if err != nil {
			return c.JSON(http.StatusUnauthorized, map[string]string{"detail": "Unauthorized"})
		}
		u, err := client.User.Get(c.Request().Context(), id)
		switch {
		case ent.IsNotFound(err):
			return c.JSON(http.StatusUnauthorized, map[string]string{"detail": "Unauthorized"})
		case err != nil:
			return err
		}
		return c.JSON(http.StatusOK, ent.NewUserRead(u))
	})
	return serve(ctx, addr, app, log, stdout, func() {})
}

// serve listens on addr, tells the benchmark the address on stdout, and
// serves h with keylin serve's limits until ctx ends; then it calls drain
// and lets in-flight requests finish.
func serve(ctx context.Context, addr string, h http.Handler, log *slog.Logger, stdout io.Writer, drain func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if _, err := fmt.Fprintf(stdout, "%s%s\n", listeningPrefix, ln.Addr()); err != nil {
		hs.Close()
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// servePprof serves net/http/pprof's handlers on addr, on a mux of its
// own, until the process exits.
func servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

// migrate applies keylin's embedded migrations to db. It is the one place
// that knows the migration API.
func migrate(ctx context.Context, db *database.DB) error {
	_, err := database.Migrate(ctx, db, migrations.FS, database.WithOperatorVersion("keylin-bench"))
	return err
}
