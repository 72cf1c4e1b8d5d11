// Package keylin wires keylin from its settings: one call turns
// config.Settings and an authn.Store (the ent store keylin's extension
// generates) into a ready authn.Manager, the HTTP API, mail sending and the
// background work, with every setting honoured. `keylin serve` is built on
// it, so an application embedding keylin runs the same service.
//
//	var s config.Settings
//	if err := config.Load(ctx, &s); err != nil { … }
//	svc, err := keylin.New(s, ent.NewAuthnStore(client))
//	if err != nil { … }
//	svc.Start(ctx)                 // pruning of expired sessions
//	defer svc.Close(context.Background()) // stops it and drains the mail queue
//	svc.API.MountAll(e)            // or mount router by router under your prefixes
//	e.GET("/notes", notes, svc.API.RequireUser())
package keylin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/mail"
	"github.com/keylin/keylin/userschema"
)

// Background work and mail delivery of a [Service].
const (
	// PruneInterval is how often a started Service deletes expired
	// sessions, refresh tokens and rate limiter counters.
	PruneInterval   = time.Hour
	mailQueueSize   = 1024
	mailSendTimeout = time.Minute
)

// Service is keylin wired from settings. Its fields are ready to use after
// [New]; background work runs between [Service.Start] and [Service.Close].
type Service struct {
	// Manager runs the account flows.
	Manager *authn.Manager
	// API serves the routes; mount it on the application's Echo.
	API *httpapi.API
	// Settings are the settings the Service was built from.
	Settings config.Settings

	store    authn.Store
	log      *slog.Logger
	queue    *mail.Queue
	warn     []string
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	draining atomic.Bool
	warming  atomic.Bool // Start is timing a password hash
}

// Option configures [New]; a bad option makes New fail.
type Option interface {
	apply(*options) error
}

type options struct {
	log        *slog.Logger
	console    io.Writer
	sender     mail.Sender
	hooks      []authn.Hooks
	managerOps []authn.Option
	apiOps     []httpapi.Option
	mailOps    []mail.Option
	schema     userschema.Schema
}

type optionFunc func(*options) error

func (f optionFunc) apply(o *options) error { return f(o) }

// WithLogger sets the logger of the Manager, the API and the mail
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(o *options) error {
		if l == nil {
			return errors.New("keylin: nil logger")
		}
		o.log = l
		return nil
	})
}

// WithConsole sets where the console mail transport (MAIL_URL=console:)
// writes (default os.Stderr).
func WithConsole(w io.Writer) Option {
	return optionFunc(func(o *options) error {
		if w == nil {
			return errors.New("keylin: nil console")
		}
		o.console = w
		return nil
	})
}

// WithMailSender delivers mail through s instead of the MAIL_URL
// transport (still from the background queue).
func WithMailSender(s mail.Sender) Option {
	return optionFunc(func(o *options) error {
		if s == nil {
			return errors.New("keylin: nil mail sender")
		}
		o.sender = s
		return nil
	})
}

// WithHooks adds the application's hooks: they run after keylin's mail
// hooks, each in turn (see authn.ChainHooks).
func WithHooks(h authn.Hooks) Option {
	return optionFunc(func(o *options) error {
		if h == nil {
			return errors.New("keylin: nil hooks")
		}
		o.hooks = append(o.hooks, h)
		return nil
	})
}

// WithManagerOptions adds options to the Manager after those the settings
// make (a password validator, an audit handler, …).
func WithManagerOptions(opts ...authn.Option) Option {
	return optionFunc(func(o *options) error {
		o.managerOps = append(o.managerOps, opts...)
		return nil
	})
}

// WithAPIOptions adds options to the API after those the settings make.
func WithAPIOptions(opts ...httpapi.Option) Option {
	return optionFunc(func(o *options) error {
		o.apiOps = append(o.apiOps, opts...)
		return nil
	})
}

// WithMailOptions adds options to the mail hooks after those the settings
// make: mail.WithTemplates (templates embedded in the application, instead
// of MAIL_TEMPLATES), mail.WithLocale, mail.WithUserFields. Deliver
// through WithMailSender rather than mail.WithSender, which would bypass
// the background queue.
func WithMailOptions(opts ...mail.Option) Option {
	return optionFunc(func(o *options) error {
		o.mailOps = append(o.mailOps, opts...)
		return nil
	})
}

// WithUserSchema sets the application's user fields for the API and the
// mail templates. Without it, New takes them from the store when it has
// them (the store keylin's extension generates does).
func WithUserSchema(s userschema.Schema) Option {
	return optionFunc(func(o *options) error {
		if s == nil {
			return errors.New("keylin: nil user schema")
		}
		o.schema = s
		return nil
	})
}

// New builds the service from s (which must be valid: config.Load
// validates it) over store: tokens, hasher and Manager with every
// setting, the mail hooks sending through a background queue, and the API.
func New(s config.Settings, store authn.Store, opts ...Option) (*Service, error) {
	if store == nil {
		return nil, errors.New("keylin: New needs an authn.Store")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	o := options{log: slog.Default(), console: os.Stderr}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("keylin: nil Option")
		}
		if err := opt.apply(&o); err != nil {
			return nil, err
		}
	}
	access, verify, reset := s.TokenSecrets()
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret:   []byte(access),
		VerifySecret:   []byte(verify),
		ResetSecret:    []byte(reset),
		AccessLifetime: s.AccessTokenLifetime,
		VerifyLifetime: s.VerifyTokenLifetime,
		ResetLifetime:  s.ResetTokenLifetime,
	})
	if err != nil {
		return nil, err
	}
	hasher, err := authn.NewHasher(s.HasherOptions()...)
	if err != nil {
		return nil, err
	}

	svc := &Service{Settings: s, store: store, log: o.log}
	mcfg := mail.Config{
		URL: s.MailURL, From: s.MailFrom, AppName: s.MailAppName, VerifyURL: s.VerifyURL, ResetURL: s.ResetPasswordURL,
		TemplateDir: s.MailTemplates, Console: o.console, Logger: o.log,
	}
	schema := o.schema
	if schema == nil {
		if p, ok := store.(interface{ UserSchema() userschema.Schema }); ok {
			schema = p.UserSchema()
		}
	}
	sender := o.sender
	if sender == nil {
		if sender, err = mail.NewSender(mcfg); err != nil {
			return nil, err
		}
	}
	if w, ok := sender.(interface{ Warning() string }); ok && w.Warning() != "" {
		svc.warn = append(svc.warn, w.Warning())
	}
	if !strings.HasPrefix(s.MailURL, "console:") && !strings.HasPrefix(s.MailURL, "file:") && o.sender == nil {
		for _, v := range []struct{ name, value string }{{"VERIFY_URL", s.VerifyURL}, {"RESET_PASSWORD_URL", s.ResetPasswordURL}, {"MAIL_FROM", s.MailFrom}} {
			if strings.Contains(v.value, "localhost") {
				svc.warn = append(svc.warn, "mail is delivered but "+v.name+" still points at localhost; set it to your site")
			}
		}
	}
	// Mail leaves from a background queue: a slow mail server must neither
	// stall requests nor tell, by their timing, which accounts exist.
	if svc.queue, err = mail.NewQueue(sender, mailQueueSize, mailSendTimeout, o.log); err != nil {
		return nil, err
	}
	mailOps := []mail.Option{mail.WithSender(svc.queue)}
	if schema != nil {
		var sample any // a new user's fields, to check the templates against
		if p, ok := store.(authn.UserPreviewer); ok {
			sample = p.PreviewExtra(nil)
		}
		mailOps = append(mailOps, mail.WithUserSchema(schema, sample))
	}
	mailHooks, err := mail.NewHooks(mcfg, append(mailOps, o.mailOps...)...)
	if err != nil {
		_ = svc.queue.Close(context.Background())
		return nil, err
	}
	var hooks authn.Hooks = mailHooks
	if len(o.hooks) > 0 {
		hooks = authn.ChainHooks(append([]authn.Hooks{mailHooks}, o.hooks...)...)
	}

	mopts := []authn.Option{
		authn.WithHasher(hasher),
		authn.WithHooks(hooks),
		authn.WithLogger(o.log),
		authn.WithRequireVerification(s.RequireVerification),
		authn.WithVerifyOnRegister(s.SendVerifyOnRegister),
		authn.WithCurrentPasswordRequired(s.RequireCurrentPassword),
		authn.WithQuietRegister(s.RegisterNoEnumeration),
		authn.WithStoreTimeout(s.DatabaseTimeout),
		authn.WithLimits(s.Limits()),
		authn.WithSessionMaxLifetime(s.SessionMaxLifetime),
	}
	if s.RefreshTokens {
		mopts = append(mopts, authn.WithRefreshTokens(s.RefreshTokenLifetime))
	}
	if s.RateLimitStore == "memory" {
		mopts = append(mopts, authn.WithLimitStore(authn.NewMemoryLimitStore()))
	}
	if svc.Manager, err = authn.NewManager(store, tokens, append(mopts, o.managerOps...)...); err != nil {
		_ = svc.queue.Close(context.Background())
		return nil, err
	}

	aopts := []httpapi.Option{httpapi.WithLogger(o.log)}
	if schema != nil {
		aopts = append(aopts, httpapi.WithUserSchema(schema))
	}
	if s.CookieTransport {
		aopts = append(aopts, httpapi.WithCookie(httpapi.CookieConfig{
			Name: s.CookieName, Insecure: !s.CookieSecure, TrustedOrigins: s.AllowedOrigins,
		}))
	}
	if svc.API, err = httpapi.NewAPI(svc.Manager, append(aopts, o.apiOps...)...); err != nil {
		_ = svc.queue.Close(context.Background())
		return nil, err
	}
	return svc, nil
}

// Warnings are what the operator should be told at start-up: a
// development-only mail transport, links still pointing at localhost.
func (s *Service) Warnings() []string { return s.warn }

// Start starts the background work: pruning expired sessions, refresh
// tokens and rate limiter counters every PruneInterval, and, once, timing
// a password hash ([authn.Hasher.Calibrate]) so that a login flood that
// meets a fresh process is shed at once. It returns at once;
// the work stops with ctx or [Service.Close].
func (s *Service) Start(ctx context.Context) {
	ctx, s.cancel = context.WithCancel(ctx)
	s.warming.Store(true)
	s.wg.Go(func() {
		// Load shedding needs the time of one hash before the first burst:
		// /readyz answers 503 until it is known.
		defer s.warming.Store(false)
		_ = s.Manager.Hasher().Calibrate(ctx)
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(PruneInterval)
		defer t.Stop()
		for {
			if n, err := s.Manager.PruneSessions(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning sessions failed", "error", err)
			} else if n > 0 {
				s.log.Info("pruned expired sessions, tokens and counters", "rows", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Close stops the background work and sends the mail still queued, until
// ctx ends.
func (s *Service) Close(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	if err := s.queue.Close(ctx); err != nil {
		return fmt.Errorf("keylin: mail queue not drained: %w", err)
	}
	return nil
}

// Ready reports whether the database answers, within DATABASE_TIMEOUT.
func (s *Service) Ready(ctx context.Context) error {
	p, ok := s.store.(interface{ Ping(context.Context) error })
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.Settings.DatabaseTimeout)
	defer cancel()
	return p.Ping(ctx)
}

// serverBodyLimit bounds every request body of Echo's server; keylin's own
// routes read at most httpapi.DefaultMaxBodyBytes of it.
const serverBodyLimit = 1 << 20

// Echo returns a new Echo application serving keylin the way `keylin serve`
// does: every router at the default prefixes, /healthz and /readyz (GET and
// HEAD), and the production middleware — request ids, the request log,
// panic recovery, security headers, a 1 MiB body limit, CORS for
// ALLOWED_ORIGINS, X-Forwarded-For believed from TRUSTED_PROXIES only —
// with errors in the contract's shape. An application that keeps its own
// Echo instead mounts s.API and picks the middleware it wants from httpapi.
func (s *Service) Echo() (*echo.Echo, error) {
	app := echo.New()
	app.HideBanner, app.HidePort = true, true
	app.HTTPErrorHandler = httpapi.ErrorHandler(s.log)
	ipx, err := httpapi.TrustedProxies(s.Settings.TrustedProxies)
	if err != nil {
		return nil, err
	}
	app.IPExtractor = ipx
	app.Use(
		httpapi.RequestID(),
		httpapi.RequestLogger(s.log),
		httpapi.Recover(s.log),
		httpapi.SecurityHeaders(),
		httpapi.BodyLimit(serverBodyLimit),
	)
	if len(s.Settings.AllowedOrigins) > 0 {
		cors, err := httpapi.CORS(s.Settings.AllowedOrigins)
		if err != nil {
			return nil, err
		}
		app.Use(cors)
	}
	healthz := func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	}
	readyz := func(c echo.Context) error {
		if s.draining.Load() {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"detail": "shutting down"})
		}
		if s.warming.Load() {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"detail": "starting"})
		}
		if err := s.Ready(c.Request().Context()); err != nil {
			s.log.Warn("readiness check failed", "error", err)
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"detail": "database unreachable"})
		}
		return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
	}
	for path, h := range map[string]echo.HandlerFunc{"/healthz": healthz, "/readyz": readyz} {
		app.GET(path, h)
		app.HEAD(path, h) // load balancers probe with HEAD too
	}
	s.API.MountAll(app)
	return app, nil
}

// Drain makes /readyz fail from now on, so that load balancers stop
// sending requests: call it when shutdown begins, before the server stops
// listening (SHUTDOWN_DELAY says how long `keylin serve` waits between).
func (s *Service) Drain() { s.draining.Store(true) }
