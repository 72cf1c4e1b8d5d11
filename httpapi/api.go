package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
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
	m       *authn.Manager
	log     *slog.Logger
	maxBody int64
	cookie  *CookieConfig     // nil: the cookie transport is off
	schema  userschema.Schema // nil: no application fields
	// unserved thins out the warnings of 503 answers, which come by the
	// thousand under a flood.
	unserved sampledLog

	mu     sync.Mutex
	routes []Route // mounted so far, in order
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
	// RefreshName is the name of the refresh token's cookie, set when the
	// Manager issues refresh tokens; default Name + "_refresh". Its path is
	// the refresh route only, so it travels with no other request.
	RefreshName string
	// TrustedOrigins are the origins (scheme://host[:port]) besides the
	// server's own whose pages may log in, refresh and log out with the
	// cookie: a cross-site request from anywhere else is refused with 403
	// (CSRF), whatever SameSite does. Requests without Origin (non-browser
	// clients) are let through.
	TrustedOrigins []string
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

// WithUserSchema makes the API read and write the application's own user
// fields, as the generated schema says: pass ent.KeylinUserSchema() of the
// ent package generated with keylin's extension. Without it, only keylin's
// fields are served.
func WithUserSchema(s userschema.Schema) Option {
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
		if c.RefreshName == "" {
			c.RefreshName = c.Name + "_refresh"
		}
		if !validCookieName(c.RefreshName) || c.RefreshName == c.Name {
			return fmt.Errorf("httpapi: invalid refresh cookie name %q", c.RefreshName)
		}
		for _, o := range c.TrustedOrigins {
			if o == "*" || o == "" {
				return fmt.Errorf("httpapi: cookie trusted origin %q: name each origin, never *", o)
			}
		}
		c.TrustedOrigins = slices.Clone(c.TrustedOrigins)
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
// the defaults (bearer transport only, 64 KiB bodies, slog.Default()).
// Whether the users routes require a verified user is the Manager's
// setting (authn.WithRequireVerification), so login and the routes can
// never disagree.
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
// POST /login (OAuth2 password form → 200 {"access_token", "token_type"},
// plus "refresh_token" and "expires_in" when the Manager issues refresh
// tokens), POST /logout (204, ends the token's session) and POST /refresh
// (a refresh token → a new access token and a new refresh token). Default
// prefix /auth/jwt.
func (a *API) MountAuth(g *echo.Group) {
	a.add(g, http.MethodPost, "/login", "auth:jwt.login", a.login(bearerTransport))
	a.add(g, http.MethodPost, "/logout", "auth:jwt.logout", a.logout(bearerTransport), a.require(bearerTransport, a.m.RequiresVerification(), false))
	a.add(g, http.MethodPost, "/refresh", "auth:jwt.refresh", a.refresh(bearerTransport))
}

// MountCookieAuth mounts the cookie transport: POST /login answers 204 with
// the token in a Set-Cookie (and, when the Manager issues refresh tokens,
// the refresh token in a second HttpOnly cookie whose path is the refresh
// route), POST /refresh 204 with both cookies renewed, POST /logout 204
// clearing them. A browser request from an origin other than the server's
// own or CookieConfig.TrustedOrigins is refused with 403. Default prefix
// /auth/cookie. It panics when the API was built without [WithCookie]: a
// wiring mistake, found at start-up.
func (a *API) MountCookieAuth(g *echo.Group) {
	if a.cookie == nil {
		panic("httpapi: MountCookieAuth needs NewAPI(…, WithCookie(…))")
	}
	a.add(g, http.MethodPost, "/login", "auth:cookie.login", a.login(cookieTransport), a.sameOrigin)
	a.add(g, http.MethodPost, "/logout", "auth:cookie.logout", a.logout(cookieTransport), a.sameOrigin, a.require(cookieTransport, a.m.RequiresVerification(), false))
	a.add(g, http.MethodPost, "/refresh", "auth:cookie.refresh", a.refresh(cookieTransport), a.sameOrigin)
}

// MountRegister mounts POST /register (201 user). Default prefix /auth.
func (a *API) MountRegister(g *echo.Group) {
	a.add(g, http.MethodPost, "/register", "register:register", a.register)
}

// MountResetPassword mounts POST /forgot-password (202 null, always) and
// POST /reset-password (200 null). Default prefix /auth.
func (a *API) MountResetPassword(g *echo.Group) {
	a.add(g, http.MethodPost, "/forgot-password", "reset:forgot_password", a.forgotPassword)
	a.add(g, http.MethodPost, "/reset-password", "reset:reset_password", a.resetPassword)
}

// MountVerify mounts POST /request-verify-token (202 null, always) and
// POST /verify (200 user). Default prefix /auth.
func (a *API) MountVerify(g *echo.Group) {
	a.add(g, http.MethodPost, "/request-verify-token", "verify:request-token", a.requestVerify)
	a.add(g, http.MethodPost, "/verify", "verify:verify", a.verify)
}

// MountUsers mounts the users router: GET and PATCH /me for the current
// user, and their sessions: GET /me/sessions (a list, the current one
// marked), DELETE /me/sessions/:sid (end one) and DELETE /me/sessions (end
// all the others). For superusers: GET, PATCH and DELETE /:id, GET "" (a
// page of users: ?offset=&limit= → {"items", "total", "offset", "limit"}),
// and GET /:id/sessions, DELETE /:id/sessions/:sid, DELETE /:id/sessions
// (end all). Default prefix /users.
func (a *API) MountUsers(g *echo.Group) {
	user := a.require(anyTransport, a.m.RequiresVerification(), false)
	super := a.require(anyTransport, a.m.RequiresVerification(), true)
	a.add(g, http.MethodGet, "/me", "users:current_user", a.getMe, user)
	a.add(g, http.MethodPatch, "/me", "users:patch_current_user", a.patchMe, user)
	a.add(g, http.MethodGet, "/me/sessions", "users:current_user_sessions", a.mySessions, user)
	a.add(g, http.MethodDelete, "/me/sessions", "users:end_other_sessions", a.endMyOtherSessions, user)
	a.add(g, http.MethodDelete, "/me/sessions/:sid", "users:end_current_user_session", a.endMySession, user)
	a.add(g, http.MethodGet, "", "users:list_users", a.listUsers, super)
	a.add(g, http.MethodGet, "/:id", "users:user", a.getUser, super)
	a.add(g, http.MethodPatch, "/:id", "users:patch_user", a.patchUser, super)
	a.add(g, http.MethodDelete, "/:id", "users:delete_user", a.deleteUser, super)
	a.add(g, http.MethodGet, "/:id/sessions", "users:user_sessions", a.userSessions, super)
	a.add(g, http.MethodDelete, "/:id/sessions", "users:end_user_sessions", a.endUserSessions, super)
	a.add(g, http.MethodDelete, "/:id/sessions/:sid", "users:end_user_session", a.endUserSession, super)
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

// Route is one route an API has mounted, as keylin's openapi package
// describes it.
type Route struct {
	// Method is the HTTP method, e.g. "POST".
	Method string
	// Path is the full path as Echo registered it, the groups' prefixes
	// included, e.g. "/users/:id".
	Path string
	// Name is fastapi-users' name of the route, e.g. "auth:jwt.login" or
	// "users:patch_current_user"; keylin's own routes are named alike
	// ("auth:jwt.refresh", "users:list_users"). Generated clients derive
	// their operation names from it, as from a FastAPI service.
	Name string
}

// add registers a route on g and records it.
func (a *API) add(g *echo.Group, method, path, name string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) {
	r := g.Add(method, path, h, m...)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes = append(a.routes, Route{Method: r.Method, Path: r.Path, Name: name})
}

// Description is what an API serves, for describing it: the routes
// mounted so far and the options that shape their requests and answers.
// keylin's openapi package builds the OpenAPI document from it.
type Description struct {
	// Routes are the routes mounted so far, in the order they were.
	Routes []Route
	// CookieName is the cookie transport's cookie, which the protected
	// routes accept too; "" when the transport is off ([WithCookie]).
	CookieName string
	// RefreshCookieName is the cookie the cookie transport's refresh route
	// reads; "" when the transport is off.
	RefreshCookieName string
	// RefreshTokens: logins issue refresh tokens.
	RefreshTokens bool
	// RequireVerification: only verified users log in and use the users
	// routes.
	RequireVerification bool
	// Fields are the application's user fields ([WithUserSchema]), when
	// its schema describes them (userschema.Describer, which keylin's
	// extension generates); nil for none.
	Fields []userschema.Field
}

// Describe returns the API's description: call it after mounting the
// routers, whose routes it lists.
func (a *API) Describe() Description {
	a.mu.Lock()
	d := Description{
		Routes:              slices.Clone(a.routes),
		RefreshTokens:       a.m.RefreshEnabled(),
		RequireVerification: a.m.RequiresVerification(),
	}
	a.mu.Unlock()
	if ds, ok := a.schema.(userschema.Describer); ok {
		d.Fields = ds.Fields()
	}
	if a.cookie != nil {
		d.CookieName, d.RefreshCookieName = a.cookie.Name, a.cookie.RefreshName
	}
	return d
}

// writeJSON writes v as a JSON response with keylin's own encoder, not the
// application's serializer. Every keylin answer is about one person's
// account: it is never cached (Cache-Control: no-store).
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err // only for unsupported types: a keylin bug
	}
	noStore(c.Response().Header())
	return c.JSONBlob(status, b)
}

// noStore marks a response holding a credential as not cacheable.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}
