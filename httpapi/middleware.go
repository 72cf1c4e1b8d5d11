package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
)

// transport is where a request's access token is looked for.
type transport int

const (
	bearerTransport transport = 1 << iota // Authorization: Bearer <token>
	cookieTransport                       // the cookie of WithCookie
	anyTransport    = bearerTransport | cookieTransport
)

// Errors the middleware hands to [AuthConfig.ErrorHandler].
var (
	// ErrUnauthorized: no valid access token, or an inactive user. The
	// default answer is 401 {"detail": "Unauthorized"}.
	ErrUnauthorized = errors.New("httpapi: unauthorized")
	// ErrForbidden: a valid token whose user may not pass (unverified,
	// not a superuser). The default answer is 403 {"detail": "Forbidden"}.
	ErrForbidden = errors.New("httpapi: forbidden")
)

// AuthConfig configures [API.Middleware], in the style of echo-jwt's
// Config.
type AuthConfig struct {
	// Skipper, when it returns true, lets the request through untouched.
	Skipper func(c echo.Context) bool
	// Optional lets requests without a valid token through as anonymous
	// ([CurrentUser] is nil), for pages that work with or without login. A
	// valid token still sets the user, and Verified and Superuser still
	// apply to it.
	Optional bool
	// Verified requires a verified user (403 otherwise).
	Verified bool
	// Superuser requires a superuser, as stored now (403 otherwise).
	Superuser bool
	// ErrorHandler answers a refused request. err is ErrUnauthorized,
	// ErrForbidden, or the error that kept keylin from checking the token
	// (the database unreachable: authn.ErrUnavailable). nil uses keylin's
	// contract answers (401, 403, 503).
	ErrorHandler func(c echo.Context, err error) error
}

// Middleware authenticates requests for the application's routes as cfg
// says. An authenticated request carries the user in the echo.Context
// ([CurrentUser]) and in the request's context.Context
// (authn.FromContext), so that services, ent privacy rules and GraphQL
// resolvers downstream see who is calling.
func (a *API) Middleware(cfg AuthConfig) echo.MiddlewareFunc {
	return a.middleware(anyTransport, cfg)
}

// RequireUser is middleware for the application's routes that lets through
// requests from an active user, whose token is valid now: 401 otherwise.
// The handler gets the user with [CurrentUser].
func (a *API) RequireUser() echo.MiddlewareFunc {
	return a.Middleware(AuthConfig{})
}

// RequireVerifiedUser is [API.RequireUser] that also requires a verified
// user: 401 without a valid token or for an inactive user, 403 for an
// unverified one.
func (a *API) RequireVerifiedUser() echo.MiddlewareFunc {
	return a.Middleware(AuthConfig{Verified: true})
}

// RequireSuperuser is [API.RequireUser] that also requires a superuser, as
// stored now: 401 without a valid token or for an inactive user, 403 for
// anyone else.
func (a *API) RequireSuperuser() echo.MiddlewareFunc {
	return a.Middleware(AuthConfig{Superuser: true})
}

// OptionalUser is middleware for pages that work with or without login:
// the user is set when the request carries a valid token of an active
// user, and nil otherwise; nothing is refused.
func (a *API) OptionalUser() echo.MiddlewareFunc {
	return a.Middleware(AuthConfig{Optional: true})
}

// CurrentUser returns the user that keylin's middleware authenticated for
// this request, or nil when there is none. It is authn.FromContext of the
// request's context.
func CurrentUser(c echo.Context) *authn.User {
	return authn.FromContext(c.Request().Context())
}

// currentClaims returns the claims of the token the request was
// authenticated with.
func currentClaims(c echo.Context) authn.AccessClaims {
	p, _ := authn.PrincipalFromContext(c.Request().Context())
	return p.Claims
}

// require is keylin's own routes' middleware: fastapi-users' current_user
// policy with the contract's answers.
func (a *API) require(t transport, verified, superuser bool) echo.MiddlewareFunc {
	return a.middleware(t, AuthConfig{Verified: verified, Superuser: superuser})
}

// middleware authenticates the request from the token found by t and
// applies fastapi-users' current_user policy: no valid token or an
// inactive user is 401, an unverified user (when verified) or a
// non-superuser (when superuser) is 403.
func (a *API) middleware(t transport, cfg AuthConfig) echo.MiddlewareFunc {
	refuse := cfg.ErrorHandler
	if refuse == nil {
		refuse = a.refuse
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper != nil && cfg.Skipper(c) {
				return next(c)
			}
			ctx := c.Request().Context()
			if authn.ClientFromContext(ctx) == (authn.Client{}) {
				ctx = clientContext(c, ctx)
			}
			u, claims, err := a.authenticate(ctx, c, t)
			switch {
			case err != nil:
				return refuse(c, err)
			case u == nil || !u.IsActive:
				if cfg.Optional {
					return next(c)
				}
				return refuse(c, ErrUnauthorized)
			case cfg.Verified && !u.IsVerified, cfg.Superuser && !u.IsSuperuser:
				return refuse(c, ErrForbidden)
			}
			c.SetRequest(c.Request().WithContext(authn.NewContext(ctx, u, claims)))
			return next(c)
		}
	}
}

// refuse is the contract's answer to a refused request.
func (a *API) refuse(c echo.Context, err error) error {
	switch {
	case errors.Is(err, ErrUnauthorized):
		c.Response().Header().Set("WWW-Authenticate", "Bearer")
		return writeStatus(c, http.StatusUnauthorized)
	case errors.Is(err, ErrForbidden):
		return writeStatus(c, http.StatusForbidden)
	}
	return a.writeError(c, flowUsers, err)
}

// authenticate returns the user of the first valid token the transports
// find, loaded as stored now (bearer first, then the cookie, as
// fastapi-users tries its backends in order). No valid token is a nil user
// and a nil error; an error is a failure to check (the database).
func (a *API) authenticate(ctx context.Context, c echo.Context, t transport) (*authn.User, authn.AccessClaims, error) {
	var tokens [2]string
	n := 0
	if t&bearerTransport != 0 {
		scheme, tok, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if strings.EqualFold(scheme, "bearer") && tok != "" {
			tokens[n], n = tok, n+1
		}
	}
	if t&cookieTransport != 0 && a.cookie != nil {
		if ck, err := c.Cookie(a.cookie.Name); err == nil && ck.Value != "" {
			tokens[n], n = ck.Value, n+1
		}
	}
	for _, tok := range tokens[:n] {
		u, claims, err := a.m.UserFromToken(ctx, tok)
		if errors.Is(err, authn.ErrInvalidToken) {
			continue
		}
		return u, claims, err
	}
	return nil, authn.AccessClaims{}, nil
}
