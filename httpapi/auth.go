package httpapi

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent/entkeylin"
)

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
		tok, _, err := a.m.Login(c.Request().Context(), form.Get("username"), form.Get("password"))
		if err != nil {
			return a.writeError(c, flowLogin, err)
		}
		noStore(c.Response().Header())
		if t == cookieTransport {
			c.SetCookie(a.newCookie(tok, a.cookieMaxAge(tok)))
			return c.NoContent(http.StatusNoContent)
		}
		return writeJSON(c, http.StatusOK, bearerResponse{AccessToken: tok, TokenType: "bearer"})
	}
}

// logout answers POST /logout: it revokes the token the request was
// authenticated with (the require middleware runs first).
func (a *API) logout(t transport) echo.HandlerFunc {
	return func(c echo.Context) error {
		claims, _ := c.Get(claimsKey).(authn.AccessClaims)
		if err := a.m.Logout(c.Request().Context(), CurrentUser(c), claims); err != nil {
			return a.writeError(c, flowLogin, err)
		}
		if t == cookieTransport {
			ck := a.newCookie("", -1)
			ck.Expires = time.Unix(0, 0)
			c.SetCookie(ck)
		}
		return c.NoContent(http.StatusNoContent)
	}
}

// newCookie returns the transport's cookie; maxAge < 0 deletes it.
func (a *API) newCookie(value string, maxAge time.Duration) *http.Cookie {
	ck := &http.Cookie{
		Name:     a.cookie.Name,
		Value:    value,
		Path:     a.cookie.Path,
		Domain:   a.cookie.Domain,
		MaxAge:   int(maxAge / time.Second),
		Secure:   !a.cookie.Insecure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if maxAge < 0 {
		ck.MaxAge = -1
	}
	return ck
}

// cookieMaxAge is the configured max age, or else what remains of the
// token's lifetime.
func (a *API) cookieMaxAge(tok string) time.Duration {
	if a.cookie.MaxAge > 0 {
		return a.cookie.MaxAge
	}
	claims, err := a.m.Tokens().ParseAccess(tok)
	if err != nil {
		return authn.DefaultTokenLifetime
	}
	// exp is in whole seconds: round up to the lifetime it was issued with.
	return (time.Until(claims.ExpiresAt) + time.Second - 1).Truncate(time.Second)
}

// register answers POST /register: a safe create, so the flags in the body
// are checked as booleans and ignored.
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
	fullName := jb.str("full_name", false, maxFullName)
	var extra any
	if a.schema != nil {
		var errs []entkeylin.FieldError
		extra, errs = a.schema.DecodeCreate(jb.fields)
		jb.schemaErrors(errs)
	}
	if !jb.done(c) {
		return nil
	}
	u, err := a.m.Register(c.Request().Context(), authn.UserCreate{Email: *email, Password: *password, FullName: fullName, Extra: extra})
	if err != nil {
		return a.writeError(c, flowRegister, err)
	}
	return writeJSON(c, http.StatusCreated, a.read(u))
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
	if err := a.m.ForgotPassword(c.Request().Context(), *email); err != nil {
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
	if _, err := a.m.ResetPassword(c.Request().Context(), *token, *password); err != nil {
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
	if err := a.m.RequestVerify(c.Request().Context(), *email); err != nil {
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
	u, err := a.m.Verify(c.Request().Context(), *token)
	if err != nil {
		return a.writeError(c, flowVerify, err)
	}
	return writeJSON(c, http.StatusOK, a.read(u))
}

// writeNull answers a JSON null, as FastAPI does for a route returning None.
func writeNull(c echo.Context, status int) error {
	return c.JSONBlob(status, []byte("null"))
}
