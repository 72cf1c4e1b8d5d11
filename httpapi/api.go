package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent/entkeylin"
)

// Defaults of [NewAPI].
const (
	// DefaultMaxBodyBytes is the default limit on request bodies.
	DefaultMaxBodyBytes = 64 << 10
	// DefaultCookieName is the cookie transport's default cookie name,
	// fastapi-users' own, so the two can share a login.
	DefaultCookieName = "fastapiusersauth"
)

// API serves the fastapi-users routes over an [authn.Manager]. Build it with
// [NewAPI]; it is safe for concurrent use.
type API struct {
	m            *authn.Manager
	log          *slog.Logger
	maxBody      int64
	requireVerif bool
	cookie       *CookieConfig        // nil: the cookie transport is off
	schema       entkeylin.UserSchema // nil: no application fields
}

// CookieConfig configures the cookie transport (see [WithCookie]). Zero
// fields take the defaults.
type CookieConfig struct {
	// Name of the cookie; default [DefaultCookieName].
	Name string
	// Path of the cookie; default "/".
	Path string
	// Domain of the cookie; default none (the request's host only).
	Domain string
	// Insecure leaves out the Secure attribute, so the cookie also travels
	// over plain HTTP. For local development only.
	Insecure bool
	// MaxAge of the cookie; default the access token's remaining lifetime.
	MaxAge time.Duration
}

// Option configures [NewAPI]. Options check their values: a bad one makes
// NewAPI fail.
type Option interface {
	apply(*API) error
}

type optionFunc func(*API) error

func (f optionFunc) apply(a *API) error { return f(a) }

// WithLogger sets where failures are logged (default slog.Default()).
// Passwords, tokens and hashes are never logged.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(a *API) error {
		if l == nil {
			return errors.New("httpapi: nil logger")
		}
		a.log = l
		return nil
	})
}

// WithMaxBodyBytes sets the largest request body read (default
// [DefaultMaxBodyBytes]); a longer one is answered 413. n must be positive.
func WithMaxBodyBytes(n int64) Option {
	return optionFunc(func(a *API) error {
		if n <= 0 {
			return fmt.Errorf("httpapi: max body bytes %d must be positive", n)
		}
		a.maxBody = n
		return nil
	})
}

// WithRequireVerification makes keylin's users routes and logout require a
// verified user (403 otherwise), like fastapi-users'
// requires_verification=True. Login's own check is the Manager's
// (authn.WithRequireVerification): set both. The Require… middleware are not
// affected: each checks what its name says.
func WithRequireVerification(b bool) Option {
	return optionFunc(func(a *API) error {
		a.requireVerif = b
		return nil
	})
}

// WithUserSchema makes the API read and write the application's own user
// fields, as the generated schema says: pass ent.KeylinUserSchema() of the
// ent package generated with keylin's extension. Without it, only keylin's
// fields are served.
func WithUserSchema(s entkeylin.UserSchema) Option {
	return optionFunc(func(a *API) error {
		if s == nil {
			return errors.New("httpapi: nil UserSchema")
		}
		a.schema = s
		return nil
	})
}

// WithCookie turns the cookie transport on: [API.MountCookieAuth] may be
// mounted, and protected routes accept the cookie when no valid bearer
// token is sent. The cookie is HttpOnly, SameSite=Lax and, unless
// c.Insecure, Secure.
func WithCookie(c CookieConfig) Option {
	return optionFunc(func(a *API) error {
		if c.MaxAge < 0 {
			return fmt.Errorf("httpapi: cookie max age %v is negative", c.MaxAge)
		}
		if c.Name == "" {
			c.Name = DefaultCookieName
		}
		if !validCookieName(c.Name) {
			return fmt.Errorf("httpapi: invalid cookie name %q", c.Name)
		}
		if c.Path == "" {
			c.Path = "/"
		}
		a.cookie = &c
		return nil
	})
}

// validCookieName reports whether s is an RFC 6265 token.
func validCookieName(s string) bool {
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || r == '=' || r == ';' || r == ',' || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// NewAPI returns the API serving m. The Manager is required; opts change
// the defaults (bearer transport only, 64 KiB bodies, slog.Default(), no
// verification required).
func NewAPI(m *authn.Manager, opts ...Option) (*API, error) {
	if m == nil {
		return nil, errors.New("httpapi: NewAPI needs an authn.Manager")
	}
	a := &API{m: m, log: slog.Default(), maxBody: DefaultMaxBodyBytes}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("httpapi: nil Option")
		}
		if err := o.apply(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// MountAuth mounts the bearer transport, fastapi-users' auth router:
// POST /login (OAuth2 password form → 200 {"access_token", "token_type"})
// and POST /logout (204, revokes the token). Default prefix /auth/jwt.
func (a *API) MountAuth(g *echo.Group) {
	g.POST("/login", a.login(bearerTransport))
	g.POST("/logout", a.logout(bearerTransport), a.require(bearerTransport, a.requireVerif, false))
}

// MountCookieAuth mounts the cookie transport: POST /login answers 204 with
// the token in a Set-Cookie, POST /logout 204 clearing it. Default prefix
// /auth/cookie. It panics when the API was built without [WithCookie]: a
// wiring mistake, found at start-up.
func (a *API) MountCookieAuth(g *echo.Group) {
	if a.cookie == nil {
		panic("httpapi: MountCookieAuth needs NewAPI(…, WithCookie(…))")
	}
	g.POST("/login", a.login(cookieTransport))
	g.POST("/logout", a.logout(cookieTransport), a.require(cookieTransport, a.requireVerif, false))
}

// MountRegister mounts POST /register (201 user). Default prefix /auth.
func (a *API) MountRegister(g *echo.Group) {
	g.POST("/register", a.register)
}

// MountResetPassword mounts POST /forgot-password (202 null, always) and
// POST /reset-password (200 null). Default prefix /auth.
func (a *API) MountResetPassword(g *echo.Group) {
	g.POST("/forgot-password", a.forgotPassword)
	g.POST("/reset-password", a.resetPassword)
}

// MountVerify mounts POST /request-verify-token (202 null, always) and
// POST /verify (200 user). Default prefix /auth.
func (a *API) MountVerify(g *echo.Group) {
	g.POST("/request-verify-token", a.requestVerify)
	g.POST("/verify", a.verify)
}

// MountUsers mounts the users router: GET and PATCH /me for the current
// user; for superusers GET, PATCH and DELETE /:id and GET "" (a page of
// users: ?offset=&limit= → {"items", "total", "offset", "limit"}).
// Default prefix /users.
func (a *API) MountUsers(g *echo.Group) {
	user := a.require(anyTransport, a.requireVerif, false)
	super := a.require(anyTransport, a.requireVerif, true)
	g.GET("/me", a.getMe, user)
	g.PATCH("/me", a.patchMe, user)
	g.GET("", a.listUsers, super)
	g.GET("/:id", a.getUser, super)
	g.PATCH("/:id", a.patchUser, super)
	g.DELETE("/:id", a.deleteUser, super)
}

// MountAll mounts every router at the contract's default prefixes:
// /auth/jwt (bearer login, logout), /auth (register, reset password,
// verify), /users, and, when [WithCookie] is set, /auth/cookie. It
// registers routes only: nothing else on e changes.
func (a *API) MountAll(e *echo.Echo) {
	a.MountAuth(e.Group("/auth/jwt"))
	if a.cookie != nil {
		a.MountCookieAuth(e.Group("/auth/cookie"))
	}
	auth := e.Group("/auth")
	a.MountRegister(auth)
	a.MountResetPassword(auth)
	a.MountVerify(auth)
	a.MountUsers(e.Group("/users"))
}

// writeJSON writes v as a JSON response with keylin's own encoder, not the
// application's serializer.
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // only for unsupported types: a keylin bug
	}
	return c.JSONBlob(status, b)
}

// noStore marks a response holding a credential as not cacheable.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}
