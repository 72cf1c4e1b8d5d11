package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
)

// ctx is the request's context carrying the client keylin's flows audit,
// remember in sessions and rate-limit by; it is put in the request once.
func (a *API) ctx(c echo.Context) context.Context {
	ctx := c.Request().Context()
	if authn.ClientFromContext(ctx) != (authn.Client{}) {
		return ctx
	}
	ctx = clientContext(c, ctx)
	c.SetRequest(c.Request().WithContext(ctx))
	return ctx
}

// clientContext returns parent carrying the request's client.
func clientContext(c echo.Context, parent context.Context) context.Context {
	r := c.Request()
	id := c.Response().Header().Get(echo.HeaderXRequestID)
	if id == "" {
		id = r.Header.Get(echo.HeaderXRequestID)
	}
	return authn.WithClient(parent, authn.Client{IP: clientIP(c), UserAgent: r.UserAgent(), RequestID: id})
}

// clientIP is the client's address as the application's Echo believes it:
// through its IPExtractor when it has one (trusted proxies), otherwise the
// connection's own address. Echo's fallback would believe any client's
// X-Forwarded-For, and a per-IP limit keyed on that is no limit.
func clientIP(c echo.Context) string {
	if c.Echo().IPExtractor != nil {
		return c.RealIP()
	}
	return echo.ExtractIPDirect()(c.Request())
}

// login answers POST /login, fastapi-users' OAuth2 password form:
// username (the email) and password required, grant_type "password" when
// present, scope and client credentials ignored.
func (a *API) login(t transport) echo.HandlerFunc {
	return func(c echo.Context) error {
		form, ok := a.readForm(c)
		if !ok {
			return nil
		}
		// Starlette's form parsing makes an empty value a missing one.
		var errs []fieldError
		if gt := form.Get("grant_type"); gt != "" && gt != "password" {
			errs = append(errs, fieldError{Loc: []any{"body", "grant_type"}, Type: "string_pattern_mismatch",
				Msg: "String should match pattern '^password$'"})
		}
		for _, f := range []string{"username", "password"} {
			if form.Get(f) == "" {
				errs = append(errs, fieldError{Loc: []any{"body", f}, Type: "missing", Msg: "Field required"})
			}
		}
		if len(errs) > 0 {
			return writeValidation(c, errs)
		}
		g, err := a.m.Login(a.ctx(c), form.Get("username"), form.Get("password"))
		if err != nil {
			return a.writeError(c, flowLogin, err)
		}
		return a.writeGrant(c, t, g)
	}
}

// writeGrant answers a login or a refresh: the bearer response, or 204
// with the cookies.
func (a *API) writeGrant(c echo.Context, t transport, g *authn.Grant) error {
	noStore(c.Response().Header())
	if t == cookieTransport {
		c.SetCookie(a.newCookie(a.cookie.Name, a.cookie.Path, g.AccessToken, a.cookieMaxAge(g)))
		if g.RefreshToken != "" {
			c.SetCookie(a.newCookie(a.cookie.RefreshName, refreshPath(c), g.RefreshToken,
				time.Duration(g.RefreshExpiresIn(a.m.Now()))*time.Second))
		}
		return c.NoContent(http.StatusNoContent)
	}
	body := bearerResponse{AccessToken: g.AccessToken, TokenType: "bearer"}
	if g.RefreshToken != "" {
		body.RefreshToken = g.RefreshToken
		body.ExpiresIn = g.ExpiresIn(a.m.Now())
	}
	return writeJSON(c, http.StatusOK, body)
}

// refreshPath is the path of the refresh route next to the login, logout
// or refresh route being served: where the refresh cookie is sent.
func refreshPath(c echo.Context) string {
	p := c.Path()
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return p + "/refresh"
}

// logout answers POST /logout: it ends the session of the token the
// request was authenticated with (the require middleware runs first).
func (a *API) logout(t transport) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := a.m.Logout(a.ctx(c), CurrentUser(c), currentClaims(c)); err != nil {
			return a.writeError(c, flowLogin, err)
		}
		if t == cookieTransport {
			c.SetCookie(a.newCookie(a.cookie.Name, a.cookie.Path, "", -1))
			c.SetCookie(a.newCookie(a.cookie.RefreshName, refreshPath(c), "", -1))
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// refresh answers POST /refresh: the bearer transport reads the refresh
// token from a JSON body {"refresh_token": …} or an OAuth2 form
// (grant_type=refresh_token&refresh_token=…); the cookie transport from its
// refresh cookie.
func (a *API) refresh(t transport) echo.HandlerFunc {
	return func(c echo.Context) error {
		var token string
		if t == cookieTransport {
			ck, err := c.Cookie(a.cookie.RefreshName)
			if err != nil || ck.Value == "" {
				return writeJSON(c, http.StatusBadRequest, detail{codeRefreshBadToken})
			}
			token = ck.Value
		} else {
			tok, ok := a.readRefreshToken(c)
			if !ok {
				return nil
			}
			token = tok
		}
		g, err := a.m.Refresh(a.ctx(c), token)
		if err != nil {
			if t == cookieTransport && errorCode(err) == codeRefreshBadToken {
				c.SetCookie(a.newCookie(a.cookie.RefreshName, refreshPath(c), "", -1))
			}
			return a.writeError(c, flowRefresh, err)
		}
		return a.writeGrant(c, t, g)
	}
}

// readRefreshToken reads the refresh token of a bearer refresh request.
// When it returns false it has answered.
func (a *API) readRefreshToken(c echo.Context) (string, bool) {
	if isForm(c.Request().Header.Get(echo.HeaderContentType)) {
		form, ok := a.readForm(c)
		if !ok {
			return "", false
		}
		var errs []fieldError
		if gt := form.Get("grant_type"); gt != "" && gt != "refresh_token" {
			errs = append(errs, fieldError{Loc: []any{"body", "grant_type"}, Type: "string_pattern_mismatch",
				Msg: "String should match pattern '^refresh_token$'"})
		}
		if form.Get("refresh_token") == "" {
			errs = append(errs, fieldError{Loc: []any{"body", "refresh_token"}, Type: "missing", Msg: "Field required"})
		}
		if len(errs) > 0 {
			return "", writeValidation(c, errs) != nil
		}
		return form.Get("refresh_token"), true
	}
	jb, ok := a.readJSON(c)
	if !ok {
		return "", false
	}
	tok := jb.str("refresh_token", true, 0)
	if !jb.done(c) {
		return "", false
	}
	return *tok, true
}

// newCookie returns a cookie of the transport; maxAge < 0 deletes it.
func (a *API) newCookie(name, path, value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		Domain:   a.cookie.Domain,
		MaxAge:   int(maxAge / time.Second),
		Secure:   !a.cookie.Insecure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		ck.MaxAge = -1
		ck.Expires = time.Unix(0, 0)
	}
	return ck
}

// cookieMaxAge is the configured max age, or else what remains of the
// access token's lifetime.
func (a *API) cookieMaxAge(g *authn.Grant) time.Duration {
	if a.cookie.MaxAge > 0 {
		return a.cookie.MaxAge
	}
	return time.Duration(g.ExpiresIn(a.m.Now())) * time.Second
}

// sameOrigin refuses, with 403, a cookie-transport request that a browser
// sent from another site: an Origin (or, without one, a Sec-Fetch-Site of
// cross-site) that is neither the server's own origin nor trusted. This is
// the CSRF defence that does not depend on SameSite, which some browsers
// and some sites (a shared registrable domain) do not honour.
func (a *API) sameOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		origin := r.Header.Get(echo.HeaderOrigin)
		if origin == "" {
			if r.Header.Get("Sec-Fetch-Site") != "cross-site" {
				return next(c)
			}
		} else if origin == c.Scheme()+"://"+r.Host || slices.Contains(a.cookie.TrustedOrigins, origin) {
			return next(c)
		}
		a.log.WarnContext(a.ctx(c), "cross-site cookie request refused", "path", r.URL.Path, "origin", origin)
		return writeStatus(c, http.StatusForbidden)
	}
}

// register answers POST /register: the flags in the body are checked as
// booleans and ignored (authn.Manager.Register ignores them).
func (a *API) register(c echo.Context) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	email := jb.email("email", true)
	password := jb.str("password", true, 0)
	jb.boolean("is_active")
	jb.boolean("is_superuser")
	jb.boolean("is_verified")
	fullName := jb.str("full_name", false, authn.MaxFullNameLength)
	var extra any
	if a.schema != nil {
		var errs []userschema.FieldError
		extra, errs = a.schema.DecodeCreate(jb.fields)
		jb.schemaErrors(errs)
	}
	if !jb.done(c) {
		return nil
	}
	u, err := a.m.Register(a.ctx(c), authn.UserCreate{Email: *email, Password: *password, FullName: fullName, Extra: extra})
	if err != nil {
		return a.writeError(c, flowRegister, err)
	}
	return a.writeUser(c, http.StatusCreated, u)
}

// forgotPassword answers POST /forgot-password: 202 whether or not the
// user exists.
func (a *API) forgotPassword(c echo.Context) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	email := jb.email("email", true)
	if !jb.done(c) {
		return nil
	}
	if err := a.m.ForgotPassword(a.ctx(c), *email); err != nil {
		return a.writeError(c, flowReset, err)
	}
	return writeNull(c, http.StatusAccepted)
}

// resetPassword answers POST /reset-password.
func (a *API) resetPassword(c echo.Context) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	token := jb.str("token", true, 0)
	password := jb.str("password", true, 0)
	if !jb.done(c) {
		return nil
	}
	if _, err := a.m.ResetPassword(a.ctx(c), *token, *password); err != nil {
		return a.writeError(c, flowReset, err)
	}
	return writeNull(c, http.StatusOK)
}

// requestVerify answers POST /request-verify-token: 202 whether or not
// the user exists.
func (a *API) requestVerify(c echo.Context) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	email := jb.email("email", true)
	if !jb.done(c) {
		return nil
	}
	if err := a.m.RequestVerify(a.ctx(c), *email); err != nil {
		return a.writeError(c, flowVerify, err)
	}
	return writeNull(c, http.StatusAccepted)
}

// verify answers POST /verify.
func (a *API) verify(c echo.Context) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	token := jb.str("token", true, 0)
	if !jb.done(c) {
		return nil
	}
	u, err := a.m.Verify(a.ctx(c), *token)
	if err != nil {
		return a.writeError(c, flowVerify, err)
	}
	return a.writeUser(c, http.StatusOK, u)
}

// writeNull answers a JSON null, as FastAPI does for a route returning None.
func writeNull(c echo.Context, status int) error {
	noStore(c.Response().Header())
	return c.JSONBlob(status, []byte("null"))
}
