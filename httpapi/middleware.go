package httpapi

import (
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

// Keys of the echo.Context values the middleware sets.
const (
	userKey   = "keylin.user"
	claimsKey = "keylin.claims"
)

// RequireUser is middleware for the application's routes that lets through
// requests from an active user, whose token is valid now: 401 otherwise.
// The handler gets the user with [CurrentUser].
func (a *API) RequireUser() echo.MiddlewareFunc {
	return a.require(anyTransport, false, false)
}

// RequireVerifiedUser is [API.RequireUser] that also requires a verified
// user: 401 without a valid token or for an inactive user, 403 for an
// unverified one.
func (a *API) RequireVerifiedUser() echo.MiddlewareFunc {
	return a.require(anyTransport, true, false)
}

// RequireSuperuser is [API.RequireUser] that also requires a superuser, as
// stored now: 401 without a valid token or for an inactive user, 403 for
// anyone else.
func (a *API) RequireSuperuser() echo.MiddlewareFunc {
	return a.require(anyTransport, false, true)
}

// CurrentUser returns the user that keylin's middleware authenticated for
// this request, or nil when there is none.
func CurrentUser(c echo.Context) *authn.User {
	u, _ := c.Get(userKey).(*authn.User)
	return u
}

// require authenticates the request from the token found by t and applies
// fastapi-users' current_user policy: no valid token or an inactive user is
// 401, an unverified user (when verified) or a non-superuser (when
// superuser) is 403.
func (a *API) require(t transport, verified, superuser bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, claims, err := a.authenticate(c, t)
			if err != nil {
				return a.writeError(c, flowUsers, err)
			}
			if u == nil || !u.IsActive {
				c.Response().Header().Set("WWW-Authenticate", "Bearer")
				return writeStatus(c, http.StatusUnauthorized)
			}
			if verified && !u.IsVerified || superuser && !u.IsSuperuser {
				return writeStatus(c, http.StatusForbidden)
			}
			c.Set(userKey, u)
			c.Set(claimsKey, claims)
			return next(c)
		}
	}
}

// authenticate returns the user of the first valid token the transports
// find, loaded as stored now (bearer first, then the cookie, as
// fastapi-users tries its backends in order). No valid token is a nil user
// and a nil error; an error is a failure to check (the database).
func (a *API) authenticate(c echo.Context, t transport) (*authn.User, authn.AccessClaims, error) {
	var tokens []string
	if t&bearerTransport != 0 {
		scheme, tok, _ := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
		if strings.EqualFold(scheme, "bearer") && tok != "" {
			tokens = append(tokens, tok)
		}
	}
	if t&cookieTransport != 0 && a.cookie != nil {
		if ck, err := c.Cookie(a.cookie.Name); err == nil && ck.Value != "" {
			tokens = append(tokens, ck.Value)
		}
	}
	for _, tok := range tokens {
		u, claims, err := a.m.UserFromToken(c.Request().Context(), tok)
		if errors.Is(err, authn.ErrInvalidToken) {
			continue
		}
		return u, claims, err
	}
	return nil, authn.AccessClaims{}, nil
}
