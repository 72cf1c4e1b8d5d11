package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
)

// flow names the route family whose error codes a handler speaks; it
// prefixes the invalid-password code (REGISTER_INVALID_PASSWORD, …).
type flow string

const (
	flowLogin    flow = "LOGIN"
	flowRegister flow = "REGISTER"
	flowReset    flow = "RESET_PASSWORD"
	flowVerify   flow = "VERIFY_USER"
	flowUpdate   flow = "UPDATE_USER"
	flowRefresh  flow = "REFRESH"
	flowUsers    flow = "USERS" // routes with no invalid-password case
)

// Codes keylin adds to the contract's.
const (
	codeRefreshBadToken        = "REFRESH_BAD_TOKEN"
	codeBadCurrentPassword     = "UPDATE_USER_BAD_CURRENT_PASSWORD"
	codeUserHasData            = "USER_HAS_DATA"
	unavailableRetryAfter      = 5 * time.Second
	overloadedDefaultRetryWait = 2 * time.Second
)

// errorTable is the one place authn's errors become HTTP answers. The first
// entry whose err matches (errors.Is) wins, so wrapping errors come before
// what they wrap (ErrResetBadToken wraps the ErrInvalidToken of the parse).
// A code answers {"detail": code}; without one the body is the status
// text, {"detail": "Not Found"}.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{authn.ErrInvalidPassword, http.StatusBadRequest, "_INVALID_PASSWORD"}, // see writeError
	{authn.ErrUserAlreadyExists, http.StatusBadRequest, "REGISTER_USER_ALREADY_EXISTS"},
	{authn.ErrBadCredentials, http.StatusBadRequest, "LOGIN_BAD_CREDENTIALS"},
	{authn.ErrUserNotVerified, http.StatusBadRequest, "LOGIN_USER_NOT_VERIFIED"},
	{authn.ErrResetBadToken, http.StatusBadRequest, "RESET_PASSWORD_BAD_TOKEN"},
	{authn.ErrVerifyBadToken, http.StatusBadRequest, "VERIFY_USER_BAD_TOKEN"},
	{authn.ErrAlreadyVerified, http.StatusBadRequest, "VERIFY_USER_ALREADY_VERIFIED"},
	{authn.ErrEmailAlreadyExists, http.StatusBadRequest, "UPDATE_USER_EMAIL_ALREADY_EXISTS"},
	{authn.ErrRefreshTokenInvalid, http.StatusBadRequest, codeRefreshBadToken},
	{authn.ErrBadCurrentPassword, http.StatusBadRequest, codeBadCurrentPassword},
	{authn.ErrUserHasData, http.StatusConflict, codeUserHasData},
	{authn.ErrInvalidEmail, http.StatusUnprocessableEntity, ""}, // see writeError
	{authn.ErrInvalidToken, http.StatusUnauthorized, ""},
	{authn.ErrUserNotFound, http.StatusNotFound, ""},
	{authn.ErrSessionNotFound, http.StatusNotFound, ""},
	{authn.ErrThrottled, http.StatusTooManyRequests, ""},
	{authn.ErrOverloaded, http.StatusServiceUnavailable, ""},
	{authn.ErrUnavailable, http.StatusServiceUnavailable, ""},
	// The request's context ended (client gone, server deadline) while
	// waiting for a hashing slot or the database: not keylin's failure.
	{context.Canceled, http.StatusServiceUnavailable, ""},
	{context.DeadlineExceeded, http.StatusServiceUnavailable, ""},
}

// errorCode returns the contract code errorTable gives err, or "".
func errorCode(err error) string {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return ""
}

// writeError answers err, returned by the Manager in flow f, from
// errorTable; an error not in the table is logged and answered 500.
func (a *API) writeError(c echo.Context, f flow, err error) error {
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		switch e.err {
		case authn.ErrInvalidPassword:
			reason := "Invalid password."
			var ip *authn.InvalidPasswordError
			if errors.As(err, &ip) {
				reason = ip.Reason
			}
			return writeJSON(c, e.status, detail{invalidPassword{Code: string(f) + e.code, Reason: reason}})
		case authn.ErrInvalidEmail:
			return writeValidation(c, []fieldError{invalidEmail("body", "email")})
		case authn.ErrThrottled:
			wait := time.Second
			var te *authn.ThrottledError
			if errors.As(err, &te) {
				wait = te.RetryAfter
			}
			setRetryAfter(c, wait)
		case authn.ErrOverloaded:
			wait := overloadedDefaultRetryWait
			var oe *authn.OverloadedError
			if errors.As(err, &oe) && oe.RetryAfter > 0 {
				wait = oe.RetryAfter
			}
			setRetryAfter(c, wait)
		case authn.ErrUnavailable:
			setRetryAfter(c, unavailableRetryAfter)
		}
		if e.status == http.StatusServiceUnavailable {
			if ok, suppressed := a.unserved.allow(time.Now()); ok {
				a.log.WarnContext(c.Request().Context(), "keylin request not served",
					"method", c.Request().Method, "route", c.Path(), "error", err,
					"similar_unlogged", suppressed)
			}
		}
		if e.code != "" {
			return writeJSON(c, e.status, detail{e.code})
		}
		return writeStatus(c, e.status)
	}
	a.log.ErrorContext(c.Request().Context(), "keylin request failed",
		"method", c.Request().Method, "route", c.Path(), "error", err)
	return writeStatus(c, http.StatusInternalServerError)
}

// setRetryAfter sets Retry-After to d in whole seconds, rounded up, at
// least 1.
func setRetryAfter(c echo.Context, d time.Duration) {
	secs := max(1, int64((d+time.Second-1)/time.Second))
	c.Response().Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// detail is FastAPI's error body, {"detail": …}.
type detail struct {
	Detail any `json:"detail"`
}

// invalidPassword is the detail of a <FLOW>_INVALID_PASSWORD error.
type invalidPassword struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// writeStatus answers {"detail": "<status text>"}, e.g. {"detail": "Forbidden"}.
func writeStatus(c echo.Context, status int) error {
	return writeJSON(c, status, detail{http.StatusText(status)})
}

// fieldError is one FastAPI validation error.
type fieldError struct {
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
	Type string `json:"type"`
}

// writeValidation answers 422 {"detail": [errors…]}.
func writeValidation(c echo.Context, errs []fieldError) error {
	return writeJSON(c, http.StatusUnprocessableEntity, detail{errs})
}

func invalidEmail(loc ...any) fieldError {
	return fieldError{Loc: loc, Type: "value_error", Msg: "value is not a valid email address: The email address is not valid."}
}
