// Package config holds keylin's settings: what they are, where they come
// from (the process environment and a .env file) and whether they are valid.
//
// The common call loads and validates everything at once:
//
//	var s config.Settings
//	if err := config.Load(ctx, &s); err != nil {
//		return err // names every invalid variable, e.g. "config: JWT_SECRET: required; HASH_ITERATIONS: 1 is below the minimum of 2 (…)"
//	}
//	db, err := s.Database()
//
// An application adds its own settings by embedding [Settings] in a struct of
// its own and loading that:
//
//	type AppSettings struct {
//		config.Settings
//		StripeKey string `env:"STRIPE_KEY"`
//	}
//	var s AppSettings
//	err := config.Load(ctx, &s)
//
// Values are read with github.com/sethvargo/go-envconfig: fields carry
// `env:"NAME"` tags, and any struct go-envconfig accepts may be loaded. A
// variable in the environment wins over the same variable in .env; .env is
// read into a map and never changes the process environment. A variable set to
// the empty string counts as unset, so it takes its default.
package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/joho/godotenv"
	"github.com/sethvargo/go-envconfig"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/mail"
)

// Settings are keylin's settings. Each field is read from the environment
// variable named in its env tag; the tag's default applies when the variable
// is unset or empty. Load fills and validates them; [Settings.Validate] checks
// a value built by hand.
type Settings struct {
	// JWTSecret signs access tokens (HS256). Required: at least 32 bytes and
	// not the Python keylin's placeholder "changeme". Generate one with
	// `openssl rand -hex 32`.
	JWTSecret string `env:"JWT_SECRET"`
	// ResetPasswordSecret signs reset-password tokens. When unset, Load sets
	// it to JWTSecret; when set, it must be as strong as JWTSecret.
	ResetPasswordSecret string `env:"RESET_PASSWORD_SECRET"`
	// VerificationSecret signs e-mail verification tokens. When unset, Load
	// sets it to JWTSecret; when set, it must be as strong as JWTSecret.
	VerificationSecret string `env:"VERIFICATION_SECRET"`

	// DatabaseURL says which database to use: a PostgreSQL URL or a SQLite
	// path, in any form [ParseDatabaseURL] accepts (SQLAlchemy's included).
	// The default is the SQLite file keylin.db in the working directory.
	DatabaseURL string `env:"DATABASE_URL, default=sqlite://keylin.db"`

	// AllowedOrigins are the origins CORS allows; none by default. See [List]
	// for the forms accepted.
	AllowedOrigins List `env:"ALLOWED_ORIGINS"`

	// AccessTokenLifetime is how long an access token is valid. Durations
	// are written as Go durations ("1h", "90m") or as a whole number of
	// seconds ("3600"), as the Python keylin wrote them; each must be > 0.
	AccessTokenLifetime time.Duration `env:"ACCESS_TOKEN_LIFETIME, default=1h"`
	// VerifyTokenLifetime is how long an e-mail verification token is valid.
	VerifyTokenLifetime time.Duration `env:"VERIFY_TOKEN_LIFETIME, default=1h"`
	// ResetTokenLifetime is how long a reset-password token is valid.
	ResetTokenLifetime time.Duration `env:"RESET_TOKEN_LIFETIME, default=1h"`

	// HashMemoryKiB is argon2id's memory cost in KiB (pwdlib's default, 64
	// MiB). At least 19456 (19 MiB, OWASP's minimum).
	HashMemoryKiB uint32 `env:"HASH_MEMORY_KIB, default=65536"`
	// HashIterations is argon2id's time cost. At least 2 (OWASP's minimum).
	HashIterations uint32 `env:"HASH_ITERATIONS, default=3"`
	// HashParallelism is argon2id's number of lanes. At least 1.
	HashParallelism uint8 `env:"HASH_PARALLELISM, default=4"`
	// HashMaxConcurrent bounds how many passwords are hashed at the same
	// time; 0 means runtime.NumCPU().
	HashMaxConcurrent int `env:"HASH_MAX_CONCURRENT, default=0"`
	// HashMaxWait is how long a request waits for a hashing slot before it is
	// refused as an overload. Must be > 0.
	HashMaxWait time.Duration `env:"HASH_MAX_WAIT, default=5s"`

	// RequireVerification makes login (and routes for verified users) refuse
	// a user whose e-mail address is not verified.
	RequireVerification bool `env:"REQUIRE_VERIFICATION, default=false"`

	// MailURL says where mail goes: "console:" writes it to the log; other
	// schemes (such as smtp://user:pass@host:587) belong to the mail sender.
	MailURL string `env:"MAIL_URL, default=console:"`
	// MailFrom is the sender address of keylin's mail ("keylin@localhost"
	// or "Keylin <no-reply@example.com>").
	MailFrom string `env:"MAIL_FROM, default=keylin@localhost"`
	// MailAppName names the service in the subjects and bodies of keylin's
	// mail ("Verify your e-mail address for Shop"); templates see it as
	// {{.AppName}}.
	MailAppName string `env:"MAIL_APP_NAME, default=keylin"`
	// MailTemplates is a directory of mail templates that replace the
	// built-in ones file by file (verify.subject.txt, verify.txt,
	// verify.html, …, and a subdirectory per locale; see the mail
	// package); empty for the built-in ones. It must be a directory; its
	// templates are parsed and checked when the service starts.
	MailTemplates string `env:"MAIL_TEMPLATES"`
	// VerifyURL is the link sent to verify an address; {token} is replaced by
	// the verification token.
	VerifyURL string `env:"VERIFY_URL, default=http://localhost:8000/verify?token={token}"`
	// ResetPasswordURL is the link sent to reset a password; {token} is
	// replaced by the reset token.
	ResetPasswordURL string `env:"RESET_PASSWORD_URL, default=http://localhost:8000/reset-password?token={token}"`
	// SendVerifyOnRegister sends the verification mail as soon as a user
	// registers.
	SendVerifyOnRegister bool `env:"SEND_VERIFY_ON_REGISTER, default=false"`
	// TrustedProxies are the IP addresses or CIDR ranges of the reverse
	// proxies whose X-Forwarded-For keylin believes; none by default. Same
	// forms as AllowedOrigins.
	TrustedProxies List `env:"TRUSTED_PROXIES"`
	// CookieTransport turns on fastapi-users' cookie transport in keylin
	// serve: POST /auth/cookie/login and /auth/cookie/logout, and protected
	// routes accept the cookie. Off by default (cookies need CSRF care).
	CookieTransport bool `env:"COOKIE_TRANSPORT, default=false"`
	// CookieName is the cookie's name; fastapi-users' own by default, so
	// that the two services can share a login.
	CookieName string `env:"COOKIE_NAME, default=fastapiusersauth"`
	// CookieSecure sends the cookie over HTTPS only; turn it off for local
	// development over plain HTTP only.
	CookieSecure bool `env:"COOKIE_SECURE, default=true"`

	// LogLevel is one of debug, info, warn or error (any case); see
	// [Settings.Level].
	LogLevel string `env:"LOG_LEVEL, default=info"`

	// RefreshTokens makes login return a refresh token (and expires_in)
	// next to the access token, and mounts POST /auth/jwt/refresh.
	RefreshTokens bool `env:"REFRESH_TOKENS, default=true"`
	// RefreshTokenLifetime is how long a refresh token is valid; a session
	// lives while it is refreshed within this time.
	RefreshTokenLifetime time.Duration `env:"REFRESH_TOKEN_LIFETIME, default=720h"`
	// SessionMaxLifetime bounds how long refreshing can keep a session
	// alive (an absolute timeout); 0 means no bound.
	SessionMaxLifetime time.Duration `env:"SESSION_MAX_LIFETIME, default=2160h"`
	// RequireCurrentPassword makes a user's own change of password or email
	// (PATCH /users/me) require current_password.
	RequireCurrentPassword bool `env:"REQUIRE_CURRENT_PASSWORD, default=false"`
	// RegisterNoEnumeration makes POST /auth/register answer 201 for an
	// email that has an account, as for a new one, and mail the owner a
	// notice instead: registration then tells nobody which addresses have
	// accounts.
	RegisterNoEnumeration bool `env:"REGISTER_NO_ENUMERATION, default=false"`
	// Metrics makes keylin serve expose Prometheus metrics at /metrics
	// (requests, latency, hashing slots, database pool). Off by default:
	// when on, keep /metrics reachable from your monitoring only.
	Metrics bool `env:"METRICS, default=false"`
	// OpenAPI makes keylin serve describe its routes: the OpenAPI 3.1
	// document at /openapi.json and a docs page (Swagger UI, served from
	// the binary) at /docs, as a FastAPI service has. On by default; set
	// it to false to keep the API's description to yourself.
	OpenAPI bool `env:"OPENAPI, default=true"`
	// DatabaseMaxOpenConns bounds the connections one instance opens; 0
	// means the dialect's default (PostgreSQL 16, SQLite 8). Several
	// instances on one PostgreSQL must together stay below its
	// max_connections.
	DatabaseMaxOpenConns int `env:"DATABASE_MAX_OPEN_CONNS, default=0"`
	// DatabaseMaxIdleConns bounds the idle connections kept; 0 means the
	// default (8, at most DatabaseMaxOpenConns).
	DatabaseMaxIdleConns int `env:"DATABASE_MAX_IDLE_CONNS, default=0"`
	// DatabaseConnMaxLifetime recycles connections after this long (0:
	// 30m on PostgreSQL), so that a failover or a pooler's rebalancing
	// reaches every instance.
	DatabaseConnMaxLifetime time.Duration `env:"DATABASE_CONN_MAX_LIFETIME, default=0s"`
	// DatabaseConnMaxIdleTime closes connections idle this long (0: 5m on
	// PostgreSQL).
	DatabaseConnMaxIdleTime time.Duration `env:"DATABASE_CONN_MAX_IDLE_TIME, default=0s"`
	// ShutdownDelay is how long keylin serve keeps serving after SIGTERM
	// with /readyz already failing, so that a load balancer stops sending
	// it requests before it closes its listener; 0 closes at once.
	ShutdownDelay time.Duration `env:"SHUTDOWN_DELAY, default=0s"`
	// DatabaseTimeout bounds every database call of a request; a database
	// that does not answer in time makes the request fail with 503.
	DatabaseTimeout time.Duration `env:"DATABASE_TIMEOUT, default=5s"`

	// RateLimitStore is where rate limit counters live: "database" (the
	// default: shared by every instance on the database), "memory" (this
	// process only: for a single instance) or "off".
	RateLimitStore string `env:"RATE_LIMIT_STORE, default=database"`
	// Rate limits, each COUNT/PERIOD ("10/1m", "5/h") or "off"; see
	// authn.Limits for what each counts. The defaults suit a public login
	// page.
	RateLimitLoginIP                authn.Limit `env:"RATE_LIMIT_LOGIN_IP, default=30/1m"`
	RateLimitLoginFailuresAccountIP authn.Limit `env:"RATE_LIMIT_LOGIN_FAILURES_ACCOUNT_IP, default=10/15m"`
	RateLimitLoginFailuresAccount   authn.Limit `env:"RATE_LIMIT_LOGIN_FAILURES_ACCOUNT, default=50/1h"`
	RateLimitRegisterIP             authn.Limit `env:"RATE_LIMIT_REGISTER_IP, default=20/1h"`
	RateLimitRegisterAccount        authn.Limit `env:"RATE_LIMIT_REGISTER_ACCOUNT, default=5/1h"`
	RateLimitForgotPasswordIP       authn.Limit `env:"RATE_LIMIT_FORGOT_PASSWORD_IP, default=20/1h"`
	RateLimitForgotPasswordAccount  authn.Limit `env:"RATE_LIMIT_FORGOT_PASSWORD_ACCOUNT, default=5/1h"`
	RateLimitRequestVerifyIP        authn.Limit `env:"RATE_LIMIT_REQUEST_VERIFY_IP, default=20/1h"`
	RateLimitRequestVerifyAccount   authn.Limit `env:"RATE_LIMIT_REQUEST_VERIFY_ACCOUNT, default=5/1h"`
	RateLimitVerifyIP               authn.Limit `env:"RATE_LIMIT_VERIFY_IP, default=30/1h"`
	RateLimitVerifyAccount          authn.Limit `env:"RATE_LIMIT_VERIFY_ACCOUNT, default=10/1h"`
	RateLimitResetPasswordIP        authn.Limit `env:"RATE_LIMIT_RESET_PASSWORD_IP, default=30/1h"`
	RateLimitResetPasswordAccount   authn.Limit `env:"RATE_LIMIT_RESET_PASSWORD_ACCOUNT, default=10/1h"`
	RateLimitRefreshIP              authn.Limit `env:"RATE_LIMIT_REFRESH_IP, default=120/1m"`
	RateLimitRefreshAccount         authn.Limit `env:"RATE_LIMIT_REFRESH_ACCOUNT, default=30/1m"`
	// MailLimitPerAddress bounds the verify and reset mails sent to one
	// address; past it, the routes still answer 202 but send nothing.
	MailLimitPerAddress authn.Limit `env:"MAIL_LIMIT_PER_ADDRESS, default=3/1h"`
}

// Limits returns the rate limits of the settings; all off when
// RATE_LIMIT_STORE is "off".
func (s *Settings) Limits() authn.Limits {
	if s.RateLimitStore == "off" {
		return authn.NoLimits()
	}
	l := authn.DefaultLimits()
	l.LoginIP = s.RateLimitLoginIP
	l.LoginFailuresAccountIP = s.RateLimitLoginFailuresAccountIP
	l.LoginFailuresAccount = s.RateLimitLoginFailuresAccount
	l.RegisterIP = s.RateLimitRegisterIP
	l.RegisterAccount = s.RateLimitRegisterAccount
	l.ForgotPasswordIP = s.RateLimitForgotPasswordIP
	l.ForgotPasswordAccount = s.RateLimitForgotPasswordAccount
	l.RequestVerifyIP = s.RateLimitRequestVerifyIP
	l.RequestVerifyAccount = s.RateLimitRequestVerifyAccount
	l.VerifyIP = s.RateLimitVerifyIP
	l.VerifyAccount = s.RateLimitVerifyAccount
	l.ResetPasswordIP = s.RateLimitResetPasswordIP
	l.ResetPasswordAccount = s.RateLimitResetPasswordAccount
	l.RefreshIP = s.RateLimitRefreshIP
	l.RefreshAccount = s.RateLimitRefreshAccount
	l.MailPerAddress = s.MailLimitPerAddress
	return l
}

// Errors Load and Validate report, wrapped in a [*VarError] naming the
// variable.
var (
	// ErrRequired reports a required variable that is unset or empty.
	ErrRequired = errors.New("required")
	// ErrWeakSecret reports a secret that is a placeholder or too short.
	ErrWeakSecret = errors.New("weak secret")
	// ErrUnsupportedDatabase reports a DATABASE_URL keylin cannot use.
	ErrUnsupportedDatabase = errors.New("unsupported database URL")
)

// VarError is an invalid variable: its name and why it is invalid. Its message
// never holds the variable's value when the value may be secret.
type VarError struct {
	Name string
	Err  error
}

// Error returns "NAME: reason".
func (e *VarError) Error() string { return e.Name + ": " + e.Err.Error() }

// Unwrap returns the reason, for errors.Is against ErrRequired and friends.
func (e *VarError) Unwrap() error { return e.Err }

// ValidationError lists every invalid variable [Load] or [Settings.Validate]
// found. Its message names them all, e.g.
// "config: JWT_SECRET: required; HASH_ITERATIONS: 1 is below the minimum of 2 (…)";
// errors.As finds each [*VarError] through Unwrap.
type ValidationError struct {
	Vars []*VarError
}

// Error returns "config: " and every variable's error, joined by "; ".
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	for i, v := range e.Vars {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.Error())
	}
	return b.String()
}

// Unwrap returns the [*VarError] values.
func (e *ValidationError) Unwrap() []error {
	errs := make([]error, len(e.Vars))
	for i, v := range e.Vars {
		errs[i] = v
	}
	return errs
}

// Var returns the error about the named variable, or nil.
func (e *ValidationError) Var(name string) *VarError {
	for _, v := range e.Vars {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// reasonError is a reason worded for the variable it is about, matching a
// sentinel with errors.Is without repeating the sentinel's text.
type reasonError struct {
	msg string
	is  error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.is }

// reason returns an error with the formatted message that errors.Is matches
// to sentinel.
func reason(sentinel error, format string, args ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, args...), is: sentinel}
}

// asValidationError returns errs as a *ValidationError, or nil when empty.
func asValidationError(errs []*VarError) error {
	if len(errs) == 0 {
		return nil
	}
	return &ValidationError{Vars: errs}
}

const secretHint = "; generate one with `openssl rand -hex 32`"

// MinSecretBytes is the shortest secret Validate accepts.
const MinSecretBytes = 32

func checkSecret(name, v string, vars []*VarError) []*VarError {
	switch {
	case strings.TrimSpace(v) == "":
		return append(vars, &VarError{name, reason(ErrRequired, "required%s", secretHint)})
	case strings.EqualFold(strings.TrimSpace(v), "changeme"):
		return append(vars, &VarError{name, reason(ErrWeakSecret, `must not be the placeholder "changeme"%s`, secretHint)})
	case len(v) < MinSecretBytes:
		return append(vars, &VarError{name, reason(ErrWeakSecret, "must be at least %d bytes (got %d)%s", MinSecretBytes, len(v), secretHint)})
	}
	return vars
}

// Validate checks every setting and reports all invalid ones at once, as a
// [*ValidationError] naming each variable (by its name without any prefix).
// An empty ResetPasswordSecret or VerificationSecret is valid: it stands for
// JWTSecret.
func (s *Settings) Validate() error {
	var vars []*VarError
	bad := func(name, format string, args ...any) {
		vars = append(vars, &VarError{name, fmt.Errorf(format, args...)})
	}

	vars = checkSecret("JWT_SECRET", s.JWTSecret, vars)
	// Unset, or set by Load to JWT_SECRET: JWT_SECRET's check covers them.
	if s.ResetPasswordSecret != "" && s.ResetPasswordSecret != s.JWTSecret {
		vars = checkSecret("RESET_PASSWORD_SECRET", s.ResetPasswordSecret, vars)
	}
	if s.VerificationSecret != "" && s.VerificationSecret != s.JWTSecret {
		vars = checkSecret("VERIFICATION_SECRET", s.VerificationSecret, vars)
	}

	if _, err := ParseDatabaseURL(s.DatabaseURL); err != nil {
		var ve *VarError
		if errors.As(err, &ve) {
			vars = append(vars, ve)
		} else {
			vars = append(vars, &VarError{"DATABASE_URL", err})
		}
	}

	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"ACCESS_TOKEN_LIFETIME", s.AccessTokenLifetime},
		{"VERIFY_TOKEN_LIFETIME", s.VerifyTokenLifetime},
		{"RESET_TOKEN_LIFETIME", s.ResetTokenLifetime},
		{"HASH_MAX_WAIT", s.HashMaxWait},
		{"REFRESH_TOKEN_LIFETIME", s.RefreshTokenLifetime},
		{"DATABASE_TIMEOUT", s.DatabaseTimeout},
	} {
		if d.v <= 0 {
			bad(d.name, "must be greater than 0 (got %s)", d.v)
		}
	}
	for _, v := range []struct {
		name string
		n    int64
	}{
		{"DATABASE_MAX_OPEN_CONNS", int64(s.DatabaseMaxOpenConns)}, {"DATABASE_MAX_IDLE_CONNS", int64(s.DatabaseMaxIdleConns)},
		{"DATABASE_CONN_MAX_LIFETIME", int64(s.DatabaseConnMaxLifetime)}, {"DATABASE_CONN_MAX_IDLE_TIME", int64(s.DatabaseConnMaxIdleTime)},
	} {
		if v.n < 0 {
			bad(v.name, "must be 0 (the default) or more")
		}
	}
	if s.DatabaseMaxOpenConns > 0 && s.DatabaseMaxIdleConns > s.DatabaseMaxOpenConns {
		bad("DATABASE_MAX_IDLE_CONNS", "must be at most DATABASE_MAX_OPEN_CONNS (%d; got %d)", s.DatabaseMaxOpenConns, s.DatabaseMaxIdleConns)
	}
	if s.ShutdownDelay < 0 {
		bad("SHUTDOWN_DELAY", "must be 0 or more (got %s)", s.ShutdownDelay)
	}
	if s.SessionMaxLifetime < 0 {
		bad("SESSION_MAX_LIFETIME", "must be 0 (no bound) or more (got %s)", s.SessionMaxLifetime)
	}
	switch s.RateLimitStore {
	case "database", "memory", "off":
	default:
		bad("RATE_LIMIT_STORE", `must be "database", "memory" or "off" (got %q)`, s.RateLimitStore)
	}
	if slices.Contains(s.AllowedOrigins, "*") {
		bad("ALLOWED_ORIGINS", "* cannot be used: keylin's CORS allows credentials (cookies, Authorization), and a wildcard would let every site use them; list the origins")
	}

	// The hasher's own rule: what it would refuse at start-up is refused here.
	hashVars := map[string]string{"Memory": "HASH_MEMORY_KIB", "Iterations": "HASH_ITERATIONS", "Parallelism": "HASH_PARALLELISM"}
	for _, e := range joined(s.hashParams().Validate()) {
		var pe *authn.HashParamError
		if errors.As(e, &pe) && hashVars[pe.Param] != "" {
			bad(hashVars[pe.Param], "%d%s %s (OWASP's minimum for argon2id is m=19456 KiB, t=2)", pe.Value, pe.Unit, pe.Reason)
		}
	}
	if s.HashMaxConcurrent < 0 {
		bad("HASH_MAX_CONCURRENT", "must be 0 (one per CPU) or more (got %d)", s.HashMaxConcurrent)
	}

	if u, err := url.Parse(s.MailURL); err != nil || u.Scheme == "" {
		bad("MAIL_URL", `must be a URL with a scheme, such as "console:" or "smtp://host:587"`)
	}
	if err := mail.CheckFrom(s.MailFrom); err != nil {
		bad("MAIL_FROM", "%v", err)
	}
	if s.MailTemplates != "" {
		if fi, err := os.Stat(s.MailTemplates); err != nil || !fi.IsDir() {
			bad("MAIL_TEMPLATES", "must be a directory of mail templates (got %q)", s.MailTemplates)
		}
	}
	for _, l := range []struct{ name, v string }{
		{"VERIFY_URL", s.VerifyURL},
		{"RESET_PASSWORD_URL", s.ResetPasswordURL},
	} {
		if err := mail.CheckLinkTemplate(l.v); err != nil {
			bad(l.name, "%v", err)
		}
	}
	for _, p := range s.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		bad("TRUSTED_PROXIES", "%q is neither an IP address nor a CIDR range", p)
	}
	if _, ok := parseLevel(s.LogLevel); !ok {
		bad("LOG_LEVEL", "must be one of debug, info, warn, error (got %q)", s.LogLevel)
	}
	return asValidationError(vars)
}

func parseLevel(v string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return slog.LevelInfo, false
}

// Level returns LogLevel as a slog level; an invalid LogLevel reads as info.
func (s *Settings) Level() slog.Level {
	l, _ := parseLevel(s.LogLevel)
	return l
}

// Database parses DatabaseURL; see [ParseDatabaseURL].
func (s *Settings) Database() (DatabaseURL, error) {
	return ParseDatabaseURL(s.DatabaseURL)
}

// settings lets Load find the Settings embedded in an application's struct:
// the method is promoted through embedding.
func (s *Settings) settings() *Settings { return s }

// resolveDefaults fills the settings whose defaults depend on others.
func (s *Settings) resolveDefaults() {
	_, s.VerificationSecret, s.ResetPasswordSecret = s.TokenSecrets()
}

// TokenSecrets returns the secrets of access, verify and reset tokens:
// VERIFICATION_SECRET and RESET_PASSWORD_SECRET stand for JWT_SECRET when
// unset, also in settings built in code rather than loaded.
func (s *Settings) TokenSecrets() (access, verify, reset string) {
	access, verify, reset = s.JWTSecret, s.VerificationSecret, s.ResetPasswordSecret
	if verify == "" {
		verify = access
	}
	if reset == "" {
		reset = access
	}
	return access, verify, reset
}

// List is a list setting such as ALLOWED_ORIGINS, parsed as the Python keylin
// parses it: a JSON array (["https://a.io","https://b.io"]), a bracketed list
// ([a, b]) or a plain comma-separated one (a,b). Surrounding brackets are
// removed, quotes (' and ") and blanks are stripped from each item, and empty
// items are dropped. A List is usable wherever a []string is.
type List []string

// EnvDecode implements envconfig.DecoderCtx. It never fails.
func (l *List) EnvDecode(_ context.Context, v string) error {
	*l = ParseList(v)
	return nil
}

// ParseList parses v as [List] describes.
func ParseList(v string) List {
	v = strings.Trim(strings.TrimSpace(v), "[]")
	var out List
	for item := range strings.SplitSeq(v, ",") {
		item = strings.Trim(item, " \t\r\n'\"")
		if item != "" {
			out = append(out, item)
		}
	}
	return out
}

// Option configures [Load]. A bad option makes Load fail before it reads
// anything.
type Option interface {
	apply(*loadConfig) error
}

type loadConfig struct {
	lookuper envconfig.Lookuper
	dotEnv   string
}

type optionFunc func(*loadConfig) error

func (f optionFunc) apply(c *loadConfig) error { return f(c) }

// WithLookuper makes Load read variables from l instead of the process
// environment (the .env file still applies, below l). Primarily for tests:
// envconfig.MapLookuper(map[string]string{...}).
func WithLookuper(l envconfig.Lookuper) Option {
	return optionFunc(func(c *loadConfig) error {
		if l == nil {
			return errors.New("config: WithLookuper: nil lookuper")
		}
		c.lookuper = l
		return nil
	})
}

// WithDotEnv makes Load read the .env file at path instead of ./.env; ""
// reads none. A missing file is not an error.
func WithDotEnv(path string) Option {
	return optionFunc(func(c *loadConfig) error {
		c.dotEnv = path
		return nil
	})
}

// Load reads settings from the environment and ./.env into target and
// validates them. target is a *Settings, or a pointer to an application's
// struct that embeds Settings (by value or by pointer) beside its own
// `env`-tagged fields; a struct without Settings is filled but not validated.
//
// Load reports every invalid variable at once, by name, as a
// [*ValidationError]: a value that does not parse (HASH_ITERATIONS=abc) and a
// value that parses but is refused by Validate (JWT_SECRET=short) alike. When
// target has a Validate() error method (Settings has one, and an application
// embedding it may override it, calling Settings.Validate within), Load calls
// it. Before validating, Load sets RESET_PASSWORD_SECRET and
// VERIFICATION_SECRET to JWT_SECRET when they are unset.
//
// As with go-envconfig, a field already non-zero in target is kept: load
// into a zero value.
//
// Settings embedded with a prefix (`env:",prefix=KEYLIN_"`) are read from
// prefixed variables; parse errors name the prefixed variable, Validate's the
// unprefixed one.
//
// Errors about the .env file name the file; they never quote its values.
func Load(ctx context.Context, target any, opts ...Option) error {
	c := loadConfig{lookuper: envconfig.OsLookuper(), dotEnv: ".env"}
	for _, o := range opts {
		if o == nil {
			return errors.New("config: Load: nil Option")
		}
		if err := o.apply(&c); err != nil {
			return err
		}
	}

	l := c.lookuper
	if c.dotEnv != "" {
		dotenv, err := readDotEnv(c.dotEnv)
		if err != nil {
			return err
		}
		if len(dotenv) > 0 {
			l = envconfig.MultiLookuper(l, envconfig.MapLookuper(dotenv))
		}
	}

	var vars []*VarError
	err := envconfig.ProcessWith(ctx, &envconfig.Config{
		Target:   target,
		Lookuper: l,
		Mutators: []envconfig.Mutator{envconfig.MutatorFunc(
			func(_ context.Context, key, resolvedKey, _, v string) (string, bool, error) {
				nv, err := normalize(key, v)
				if err != nil {
					vars = append(vars, &VarError{resolvedKey, err})
				}
				return nv, false, nil
			})},
	})
	if err != nil {
		if len(vars) == 0 {
			return fmt.Errorf("config: %w", err)
		}
		return errors.Join(asValidationError(vars), fmt.Errorf("config: %w", err))
	}

	if h, ok := target.(interface{ settings() *Settings }); ok {
		h.settings().resolveDefaults()
	}
	var others []error
	if v, ok := target.(interface{ Validate() error }); ok {
		// A variable that did not parse was replaced by its default;
		// Validate has nothing more to say about it.
		for _, e := range splitErrors(v.Validate(), &others) {
			if !hasVar(vars, e.Name) {
				vars = append(vars, e)
			}
		}
	}
	// Report in Settings' order, whichever step found the error; an
	// application's own variables come last.
	slices.SortStableFunc(vars, func(a, b *VarError) int { return varOrder(a.Name) - varOrder(b.Name) })
	if len(others) > 0 {
		return errors.Join(append([]error{asValidationError(vars)}, others...)...)
	}
	return asValidationError(vars)
}

// splitErrors returns the *VarError values in err's tree of joined errors,
// adding the errors that are not *VarError to others.
func splitErrors(err error, others *[]error) []*VarError {
	if err == nil {
		return nil
	}
	if v, ok := err.(*VarError); ok {
		return []*VarError{v}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var vars []*VarError
		for _, e := range j.Unwrap() {
			vars = append(vars, splitErrors(e, others)...)
		}
		return vars
	}
	*others = append(*others, err)
	return nil
}

func varOrder(name string) int {
	if sv, ok := settingVars[name]; ok {
		return sv.order
	}
	return len(settingVars)
}

func hasVar(vars []*VarError, name string) bool {
	for _, v := range vars {
		if v.Name == name {
			return true
		}
	}
	return false
}

// settingVar is how Load reads one of Settings' variables.
type settingVar struct {
	def   string
	typ   reflect.Type
	order int // the field's position in Settings
}

// settingVars maps Settings' variable names to their defaults and types.
var settingVars = func() map[string]settingVar {
	t := reflect.TypeFor[Settings]()
	m := make(map[string]settingVar, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		key, opts, _ := strings.Cut(f.Tag.Get("env"), ",")
		def := ""
		if _, d, ok := strings.Cut(opts, "default="); ok {
			def = d
		}
		m[key] = settingVar{def: def, typ: f.Type, order: i}
	}
	return m
}()

var durationType = reflect.TypeFor[time.Duration]()

// normalize turns the value of one of Settings' variables into a form
// go-envconfig decodes: empty means the default, plain seconds become a
// duration, pydantic's boolean words become true/false. A value that does not
// parse yields an error and the default, so that decoding goes on and every
// bad variable is reported. Other variables pass through unchanged.
func normalize(key, v string) (string, error) {
	sv, ok := settingVars[key]
	if !ok {
		return v, nil
	}
	if strings.TrimSpace(v) == "" {
		return sv.def, nil
	}
	switch k := sv.typ.Kind(); {
	case sv.typ == durationType:
		s := strings.TrimSpace(v)
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			if limit := int64(math.MaxInt64 / time.Second); n > limit || n < -limit {
				return sv.def, fmt.Errorf("%q seconds is out of range", s)
			}
			return (time.Duration(n) * time.Second).String(), nil
		}
		if _, err := time.ParseDuration(s); err != nil {
			return sv.def, fmt.Errorf(`must be a duration such as "1h" or "90s", or a number of seconds (got %q)`, s)
		}
		return s, nil
	case k == reflect.Bool:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "1", "t", "true", "y", "yes", "on":
			return "true", nil
		case "0", "f", "false", "n", "no", "off":
			return "false", nil
		}
		return sv.def, fmt.Errorf("must be true or false (got %q)", v)
	case k >= reflect.Uint && k <= reflect.Uint64:
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, sv.typ.Bits())
		if err != nil {
			return sv.def, fmt.Errorf("must be a whole number from 0 to %d (got %q)", uint64(1)<<sv.typ.Bits()-1, v)
		}
		return strconv.FormatUint(n, 10), nil
	case k >= reflect.Int && k <= reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, sv.typ.Bits())
		if err != nil {
			return sv.def, fmt.Errorf("must be a whole number (got %q)", v)
		}
		return strconv.FormatInt(n, 10), nil
	}
	return v, nil
}

// readDotEnv reads the .env file at path into a map; a missing file is an
// empty map. Its errors name the file and, for syntax errors, the line, but
// never quote the file: godotenv's own messages would show the values.
func readDotEnv(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	m, err := godotenv.UnmarshalBytes(b)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %s", path, describeDotEnvError(b, err))
	}
	return m, nil
}

var (
	unexpectedCharRE = regexp.MustCompile(`(?s)^unexpected character (".*?") in variable name near (".*")$`)
	unterminatedRE   = regexp.MustCompile(`(?s)^unterminated quoted value (.*)$`)
)

// describeDotEnvError turns a godotenv parse error into a message with a line
// number and without the file's content.
func describeDotEnvError(src []byte, err error) string {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	lineOf := func(off int) int { return 1 + bytes.Count(src[:off], []byte("\n")) }
	msg := err.Error()
	if m := unexpectedCharRE.FindStringSubmatch(msg); m != nil {
		char, _ := strconv.Unquote(m[1])
		near, _ := strconv.Unquote(m[2])
		where := ""
		if off := len(src) - len(near); off >= 0 && near != "" && bytes.HasSuffix(src, []byte(near)) {
			where = fmt.Sprintf("line %d: ", lineOf(off))
		}
		return fmt.Sprintf("%sunexpected character %q in a variable name (lines are NAME=value)", where, char)
	}
	if m := unterminatedRE.FindStringSubmatch(msg); m != nil {
		where := ""
		if off := bytes.LastIndex(src, []byte(m[1])); off >= 0 && m[1] != "" {
			where = fmt.Sprintf("line %d: ", lineOf(off))
		}
		return where + "unterminated quoted value"
	}
	return "malformed .env file"
}

// hashParams are the argon2id parameters of the settings, with pwdlib's
// salt and key lengths.
func (s *Settings) hashParams() authn.HashParams {
	def := authn.DefaultHashParams()
	return authn.HashParams{
		Memory: s.HashMemoryKiB, Iterations: s.HashIterations, Parallelism: s.HashParallelism,
		SaltLen: def.SaltLen, KeyLen: def.KeyLen,
	}
}

// joined returns the errors err joins, or err alone.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// HasherOptions are the authn.NewHasher options the settings make: the
// argon2id parameters (with pwdlib's salt and key lengths), the hashing
// slots and the wait for one.
func (s *Settings) HasherOptions() []authn.HasherOption {
	opts := []authn.HasherOption{
		authn.WithHashParams(s.hashParams()),
		authn.WithMaxHashWait(s.HashMaxWait),
	}
	if s.HashMaxConcurrent > 0 {
		opts = append(opts, authn.WithMaxConcurrentHashes(s.HashMaxConcurrent))
	}
	return opts
}

// Defaults returns the settings with every default applied and no secret
// set: a base for settings built in code (tests, tools) rather than read
// from the environment. Set JWTSecret before use.
func Defaults() Settings {
	var s Settings
	if err := envconfig.ProcessWith(context.Background(), &envconfig.Config{
		Target:   &s,
		Lookuper: envconfig.MapLookuper(nil),
	}); err != nil {
		panic("config: the defaults do not parse: " + err.Error()) // a bug in the tags
	}
	return s
}
