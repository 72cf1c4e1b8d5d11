package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/metrics"
	"github.com/keylin/keylin/openapi"
)

// Server limits of `keylin serve`.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 25 * time.Second
)

// onListen is told the address serve listens on; tests set it.
var onListen = func(string) {}

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the login service: every keylin router at the default prefixes, /openapi.json and /docs",
		usage:   "[--addr :8000] [--migrate]",
		setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
			addr := fs.String("addr", ":8000", "address to listen on")
			migrate := fs.Bool("migrate", false, "apply pending migrations to PostgreSQL first (the embedded SQLite default is always migrated)")
			return func(ctx context.Context, e *env, _ []string) error {
				s, err := loadSettings(ctx)
				if err != nil {
					return err
				}
				log := slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: s.Level()}))
				c, err := openCore(ctx, s, log, *migrate)
				if err != nil {
					return err
				}
				defer c.Close()
				srv, err := newServer(c, e)
				if err != nil {
					return err
				}
				return srv.run(ctx, *addr)
			}
		},
	}
}

// server is the running login service.
type server struct {
	core *core
	svc  *keylin.Service
	echo *echo.Echo
	log  *slog.Logger
}

func newServer(c *core, e *env) (*server, error) {
	svc, err := keylin.New(c.settings, ent.NewAuthnStore(c.client), keylin.WithLogger(c.log), keylin.WithConsole(e.stderr))
	if err != nil {
		return nil, err
	}
	for _, w := range svc.Warnings() {
		c.log.Warn(w)
	}
	app, err := svc.Echo()
	if err != nil {
		return nil, err
	}
	if c.settings.OpenAPI {
		// After every route is mounted: the document lists them.
		if err := openapi.Mount(app, svc.API, openapi.Info{Title: "keylin", Version: versionString()}); err != nil {
			return nil, err
		}
	}
	if c.settings.Metrics {
		metrics.New(metrics.Config{Hasher: svc.Manager.Hasher(), DB: c.db.DB}).Mount(app)
	}
	return &server{core: c, svc: svc, echo: app, log: c.log}, nil
}

// run serves until ctx ends (SIGINT/SIGTERM), then lets in-flight requests
// finish.
func (s *server) run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s.echo,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("keylin serving", "addr", ln.Addr().String(), "database", s.core.db.URL.Redacted, "version", versionString(),
		"db_max_open_conns", s.core.db.Stats().MaxOpenConnections)
	onListen(ln.Addr().String())
	s.svc.Start(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.svc.Drain()
	if d := s.core.settings.ShutdownDelay; d > 0 {
		s.log.Info("shutting down: /readyz fails, still serving", "for", d)
		time.Sleep(d)
	}
	s.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := s.svc.Close(sctx); err != nil {
		s.log.Warn("background work not finished before shutdown", "error", err)
	}
	s.log.Info("stopped")
	return nil
}
