package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/mail"
)

// Server timeouts of `keylin serve`.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
	shutdownTimeout   = 25 * time.Second
	pruneInterval     = time.Hour
	mailQueueSize     = 1024
	mailSendTimeout   = time.Minute
	serverBodyLimit   = "1M"
)

// onListen is told the address serve listens on; tests set it.
var onListen = func(string) {}

func serveCommand() *command {
	return &command{
		name:    "serve",
		summary: "serve the login service: every keylin router at the default prefixes",
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
	echo *echo.Echo
	log  *slog.Logger
	mail *mail.Queue
}

func newServer(c *core, e *env) (*server, error) {
	s := c.settings
	var mopts []mail.Option
	if s.SendVerifyOnRegister {
		mopts = append(mopts, mail.WithVerifyOnRegister(func(_ context.Context, u *authn.User) (string, error) {
			return c.tokens.IssueVerify(u.ID, u.Email)
		}))
	}
	mcfg := mail.Config{
		URL: s.MailURL, From: s.MailFrom, VerifyURL: s.VerifyURL, ResetURL: s.ResetPasswordURL,
		Console: e.stderr, Logger: c.log,
	}
	sender, err := mail.NewSender(mcfg)
	if err != nil {
		return nil, err
	}
	// Mail leaves from a background queue: a slow mail server must neither
	// stall requests nor tell, by their timing, which accounts exist.
	queue, err := mail.NewQueue(sender, mailQueueSize, mailSendTimeout, c.log)
	if err != nil {
		return nil, err
	}
	hooks, err := mail.NewHooks(mcfg, append(mopts, mail.WithSender(queue))...)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s.MailURL, "console:") && !strings.HasPrefix(s.MailURL, "file:") {
		for name, v := range map[string]string{"VERIFY_URL": s.VerifyURL, "RESET_PASSWORD_URL": s.ResetPasswordURL, "MAIL_FROM": s.MailFrom} {
			if strings.Contains(v, "localhost") {
				c.log.Warn("mail is delivered but "+name+" still points at localhost; set it to your site", "variable", name)
			}
		}
	}
	if w := hooks.Warning(); w != "" {
		c.log.Warn(w)
	}
	m, err := c.manager(hooks)
	if err != nil {
		return nil, err
	}
	apiOpts := []httpapi.Option{httpapi.WithLogger(c.log), httpapi.WithRequireVerification(s.RequireVerification),
		httpapi.WithUserSchema(ent.KeylinUserSchema())}
	if s.CookieTransport {
		apiOpts = append(apiOpts, httpapi.WithCookie(httpapi.CookieConfig{Name: s.CookieName, Insecure: !s.CookieSecure}))
	}
	api, err := httpapi.NewAPI(m, apiOpts...)
	if err != nil {
		return nil, err
	}

	app := echo.New()
	app.HideBanner, app.HidePort = true, true
	app.HTTPErrorHandler = contractErrorHandler(c.log)
	app.IPExtractor = ipExtractor(s.TrustedProxies)
	app.Use(
		requestLogger(c.log),
		recoverer(c.log),
		middleware.BodyLimit(serverBodyLimit),
		middleware.SecureWithConfig(middleware.SecureConfig{
			XSSProtection:         "0",
			ContentTypeNosniff:    "nosniff",
			XFrameOptions:         "DENY",
			ReferrerPolicy:        "no-referrer",
			ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
		}),
	)
	if len(s.AllowedOrigins) > 0 {
		app.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     s.AllowedOrigins,
			AllowMethods:     []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowHeaders:     []string{echo.HeaderAuthorization, echo.HeaderContentType},
			AllowCredentials: true,
			MaxAge:           600,
		}))
	}
	healthz := func(ec echo.Context) error {
		return ec.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
	readyz := func(ec echo.Context) error {
		ctx, cancel := context.WithTimeout(ec.Request().Context(), 2*time.Second)
		defer cancel()
		if err := c.db.PingContext(ctx); err != nil {
			c.log.Warn("readiness check failed", "error", err)
			return ec.JSON(http.StatusServiceUnavailable, map[string]string{"detail": "database unreachable"})
		}
		return ec.JSON(http.StatusOK, map[string]string{"status": "ready"})
	}
	for path, h := range map[string]echo.HandlerFunc{"/healthz": healthz, "/readyz": readyz} {
		app.GET(path, h)
		app.HEAD(path, h) // load balancers probe with HEAD too
	}
	api.MountAll(app)
	return &server{core: c, echo: app, log: c.log, mail: queue}, nil
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
	s.log.Info("keylin serving", "addr", ln.Addr().String(), "database", s.core.db.URL.Redacted, "version", versionString())
	onListen(ln.Addr().String())
	go s.pruneRevoked(ctx)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
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
	if err := s.mail.Close(sctx); err != nil {
		s.log.Warn("mail queue not drained before shutdown", "error", err)
	}
	s.log.Info("stopped")
	return nil
}

// pruneRevoked deletes revocation records of expired tokens, hourly.
func (s *server) pruneRevoked(ctx context.Context) {
	store := ent.NewAuthnStore(s.core.client)
	t := time.NewTicker(pruneInterval)
	defer t.Stop()
	for {
		if n, err := store.PruneRevokedTokens(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning revoked tokens failed", "error", err)
		} else if n > 0 {
			s.log.Info("pruned revoked tokens", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// contractErrorHandler renders Echo's own errors (unknown route, wrong
// method, body too large, panics) in the contract's shape.
func contractErrorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		code := http.StatusInternalServerError
		var he *echo.HTTPError
		if errors.As(err, &he) {
			code = he.Code
		}
		if code >= 500 {
			log.Error("request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err)
		}
		detail := http.StatusText(code)
		if c.Request().Method == http.MethodHead {
			_ = c.NoContent(code)
			return
		}
		_ = c.JSON(code, map[string]string{"detail": detail})
	}
}

// recoverer turns a panic into a 500 and a log line with the stack.
func recoverer(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic", "method", c.Request().Method, "path", c.Request().URL.Path, "error", err, "stack", string(stack))
			return err
		},
	})
}

// requestLogger logs one line per request: method, path (never the query
// string, which may carry a token), status, latency, client IP, user id.
func requestLogger(log *slog.Logger) echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogMethod:   true,
		LogURIPath:  true,
		LogStatus:   true,
		LogLatency:  true,
		LogRemoteIP: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			attrs := []slog.Attr{
				slog.String("method", v.Method),
				slog.String("path", v.URIPath),
				slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency),
				slog.String("ip", v.RemoteIP),
			}
			if u := httpapi.CurrentUser(c); u != nil {
				attrs = append(attrs, slog.String("user_id", u.ID.String()))
			}
			log.LogAttrs(c.Request().Context(), slog.LevelInfo, "request", attrs...)
			return nil
		},
	})
}

// ipExtractor believes X-Forwarded-For only from the trusted proxies; with
// none configured, the client IP is the connection's address (Echo's own
// default would trust any client's header).
func ipExtractor(trusted []string) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, p := range trusted {
		if _, n, err := net.ParseCIDR(p); err == nil {
			opts = append(opts, echo.TrustIPRange(n))
		} else if ip := net.ParseIP(p); ip != nil {
			bits := 32
			if ip.To4() == nil {
				bits = 128
			}
			opts = append(opts, echo.TrustIPRange(&net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}))
		}
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}
