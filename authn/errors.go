package authn

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. Each maps to the one fastapi-users error code its doc
// names (ErrInvalidPassword to the code of the flow it arose in:
// REGISTER_, RESET_PASSWORD_ or UPDATE_USER_INVALID_PASSWORD); the HTTP
// layer maps them to status codes and bodies. Errors returned by this package wrap
// one of these; test with [errors.Is].
var (
	// ErrUserAlreadyExists: registration with an email that is taken, in any
	// letter case. Code REGISTER_USER_ALREADY_EXISTS.
	ErrUserAlreadyExists = errors.New("authn: user already exists")
	// ErrInvalidPassword: a password refused by the policy or the app's
	// validator. The wrapping *InvalidPasswordError carries the reason.
	// Code <FLOW>_INVALID_PASSWORD.
	ErrInvalidPassword = errors.New("authn: invalid password")
	// ErrBadCredentials: unknown email, wrong password or inactive user at
	// login; deliberately one error. Code LOGIN_BAD_CREDENTIALS.
	ErrBadCredentials = errors.New("authn: bad credentials")
	// ErrUserNotVerified: login of an unverified user when verification is
	// required. Code LOGIN_USER_NOT_VERIFIED.
	ErrUserNotVerified = errors.New("authn: user not verified")
	// ErrResetBadToken: a reset token that is malformed, expired, already
	// used, or whose user is gone or inactive. Code RESET_PASSWORD_BAD_TOKEN.
	ErrResetBadToken = errors.New("authn: bad reset password token")
	// ErrVerifyBadToken: a verify token that is malformed, expired, or whose
	// email no longer matches the user. Code VERIFY_USER_BAD_TOKEN.
	ErrVerifyBadToken = errors.New("authn: bad verify token")
	// ErrAlreadyVerified: verifying a user who is verified already.
	// Code VERIFY_USER_ALREADY_VERIFIED.
	ErrAlreadyVerified = errors.New("authn: user already verified")
	// ErrEmailAlreadyExists: an update to an email another user has.
	// Code UPDATE_USER_EMAIL_ALREADY_EXISTS.
	ErrEmailAlreadyExists = errors.New("authn: email already exists")
	// ErrUserNotFound: no user with that id or email.
	ErrUserNotFound = errors.New("authn: user not found")
	// ErrInvalidToken: an access token that must be refused, for any reason.
	// The wrapped reason is for logs only, never for the client.
	ErrInvalidToken = errors.New("authn: invalid token")
	// ErrOverloaded: the password-hashing slots stayed busy for longer than
	// the configured wait. The HTTP layer answers 503 with Retry-After.
	ErrOverloaded = errors.New("authn: password hashing overloaded")
	// ErrUnavailable: the database could not be reached or did not answer
	// in time. Nothing was changed by the failed call; the client may retry.
	// The HTTP layer answers 503 with Retry-After.
	ErrUnavailable = errors.New("authn: database unavailable")
	// ErrThrottled: a rate limit refused the request before any work was
	// done. The wrapping *ThrottledError says for how long. The HTTP layer
	// answers 429 with Retry-After.
	ErrThrottled = errors.New("authn: too many requests")
	// ErrSessionNotFound: no live session with that id for the user.
	ErrSessionNotFound = errors.New("authn: session not found")
	// ErrRefreshTokenInvalid: a refresh token that is malformed, unknown,
	// expired, already used, or whose session or user is no longer valid.
	// Code REFRESH_BAD_TOKEN.
	ErrRefreshTokenInvalid = errors.New("authn: bad refresh token")
	// ErrRefreshTokenNotFound is what a Store returns when no refresh token
	// has the hash; the Manager reports it as ErrRefreshTokenInvalid.
	ErrRefreshTokenNotFound = errors.New("authn: refresh token not found")
	// ErrRefreshTokenUsed is what a Store returns when the refresh token
	// was exchanged already; the Manager reports it as
	// ErrRefreshTokenInvalid.
	ErrRefreshTokenUsed = errors.New("authn: refresh token already used")
	// ErrBadCurrentPassword: a password or email change whose current
	// password is missing or wrong, when the Manager requires it
	// ([WithCurrentPasswordRequired]). Code UPDATE_USER_BAD_CURRENT_PASSWORD.
	ErrBadCurrentPassword = errors.New("authn: current password is wrong")
	// ErrUserHasData: deleting a user whom rows of the application still
	// refer to (a foreign key without ON DELETE CASCADE). Nothing was
	// deleted. Code USER_HAS_DATA.
	ErrUserHasData = errors.New("authn: user still owns data")
)

// ThrottledError is a request refused by a rate limit. It wraps
// [ErrThrottled].
type ThrottledError struct {
	// Rule names the limit, e.g. "login_ip" (see [Limits]).
	Rule string
	// RetryAfter is how long until the limit lets a request through.
	RetryAfter time.Duration
}

// Error names the rule and the wait.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("authn: too many requests (%s); retry after %v", e.Rule, e.RetryAfter)
}

// Unwrap makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Unwrap() error { return ErrThrottled }

// InvalidPasswordError is a password refused by the policy or by an app's
// validator. It wraps [ErrInvalidPassword]; Reason is a human sentence meant
// for the user (it never contains the password).
type InvalidPasswordError struct {
	Reason string
}

// Error includes the reason.
func (e *InvalidPasswordError) Error() string { return "authn: invalid password: " + e.Reason }

// Unwrap makes errors.Is(err, ErrInvalidPassword) true.
func (e *InvalidPasswordError) Unwrap() error { return ErrInvalidPassword }
