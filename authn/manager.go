package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Paging bounds of [Manager.List].
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// DefaultStoreTimeout bounds each database call of a [Manager] unless
// [WithStoreTimeout] says otherwise.
const DefaultStoreTimeout = 5 * time.Second

// sessionRetention is how long ended and expired sessions are kept before
// they are pruned: they remember which addresses an account logged in from
// (see Limits.KnownClientWindow).
const sessionRetention = 30 * 24 * time.Hour

// refreshRaceGrace is how long after a refresh token was exchanged a second
// presentation of it is taken for a concurrent request of the same client
// (two tabs refreshing at once) rather than a stolen token: it is refused,
// but the session is not ended. Presented later, a used token ends its
// session.
const refreshRaceGrace = 5 * time.Second

// Manager runs the account flows over a [Store]: the Go counterpart of
// fastapi-users' UserManager, plus sessions, refresh tokens, rate limits
// and an audit log. It is safe for concurrent use.
type Manager struct {
	store               deadlineStore
	tokens              *Tokens
	hasher              *Hasher
	fingerprints        *Hasher // reset-token fingerprints: cheap, own slots
	hooks               Hooks
	validator           PasswordValidator
	requireVerification bool
	requireCurrentPw    bool
	quietRegister       bool
	verifyOnRegister    bool
	refreshLifetime     time.Duration
	sessionMaxLifetime  time.Duration
	storeTimeout        time.Duration
	limits              Limits
	limitStore          LimitStore
	limiter             limiter
	log                 *slog.Logger
	auditLog            *slog.Logger
	onAudit             AuditHandler
	onHookError         func(ctx context.Context, hook string, u *User, err error)
	now                 func() time.Time
}

// Option configures a [Manager]; a bad option fails NewManager.
type Option interface {
	apply(*Manager) error
}

type optionFunc func(*Manager) error

func (f optionFunc) apply(m *Manager) error { return f(m) }

// WithHasher sets the password hasher (default: NewHasher() with pwdlib's
// parameters and one hashing slot per CPU).
func WithHasher(h *Hasher) Option {
	return optionFunc(func(m *Manager) error {
		if h == nil {
			return errors.New("authn: nil Hasher")
		}
		m.hasher = h
		return nil
	})
}

// WithHooks sets the application's hooks (default: NopHooks).
func WithHooks(h Hooks) Option {
	return optionFunc(func(m *Manager) error {
		if h == nil {
			return errors.New("authn: nil Hooks")
		}
		m.hooks = h
		return nil
	})
}

// WithPasswordValidator adds an application rule run after keylin's own
// policy, like fastapi-users' validate_password. An error that does not wrap
// ErrInvalidPassword is taken as the reason shown to the user.
func WithPasswordValidator(v PasswordValidator) Option {
	return optionFunc(func(m *Manager) error {
		m.validator = v
		return nil
	})
}

// WithRequireVerification makes login and refresh refuse unverified users
// (ErrUserNotVerified), and tells the HTTP layer to refuse them on the
// users routes too (see [Manager.RequiresVerification]).
func WithRequireVerification(b bool) Option {
	return optionFunc(func(m *Manager) error {
		m.requireVerification = b
		return nil
	})
}

// WithCurrentPasswordRequired makes a user's own change of password or
// email ([Manager.UpdateSelf]) require the current password
// (UserUpdate.CurrentPassword): ErrBadCurrentPassword when it is missing or
// wrong. Wrong guesses count against the account's login failure limits.
func WithCurrentPasswordRequired(b bool) Option {
	return optionFunc(func(m *Manager) error {
		m.requireCurrentPw = b
		return nil
	})
}

// WithQuietRegister makes [Manager.Register] answer a taken email as if it
// had registered a new user (with the same hashing work, and a user that is
// never stored), so that registration does not tell whether an address has
// an account. The owner learns of the attempt through the
// AfterRegisterExisting hook, which keylin's mail hooks turn into a notice.
func WithQuietRegister(b bool) Option {
	return optionFunc(func(m *Manager) error {
		m.quietRegister = b
		return nil
	})
}

// WithVerifyOnRegister makes [Manager.Register] issue a verify token to
// every new user and hand it to the AfterRequestVerify hook, as
// request-verify-token would.
func WithVerifyOnRegister(b bool) Option {
	return optionFunc(func(m *Manager) error {
		m.verifyOnRegister = b
		return nil
	})
}

// WithRefreshTokens turns refresh tokens on: [Manager.Login] also returns
// an opaque refresh token valid for lifetime, which [Manager.Refresh]
// exchanges for a new access token and a new refresh token. A session then
// lasts while it is refreshed within lifetime (and at most the session
// maximum, [WithSessionMaxLifetime]). Zero turns them off (the default):
// a session then lasts as long as its access token.
func WithRefreshTokens(lifetime time.Duration) Option {
	return optionFunc(func(m *Manager) error {
		if lifetime < 0 {
			return fmt.Errorf("authn: refresh token lifetime %v is negative", lifetime)
		}
		m.refreshLifetime = lifetime
		return nil
	})
}

// WithSessionMaxLifetime bounds how long a session may be kept alive by
// refreshing it (ASVS 7.3.2's absolute timeout); zero, the default, means no
// bound beyond the refresh token's lifetime.
func WithSessionMaxLifetime(d time.Duration) Option {
	return optionFunc(func(m *Manager) error {
		if d < 0 {
			return fmt.Errorf("authn: session max lifetime %v is negative", d)
		}
		m.sessionMaxLifetime = d
		return nil
	})
}

// WithLimits sets the rate limits (default [DefaultLimits]; [NoLimits]
// turns them off).
func WithLimits(l Limits) Option {
	return optionFunc(func(m *Manager) error {
		if l.KnownClientWindow < 0 {
			return errors.New("authn: negative KnownClientWindow")
		}
		m.limits = l
		return nil
	})
}

// WithLimitStore keeps the rate limiters' counters in s instead of the
// Store (for example a [MemoryLimitStore] for a single instance).
func WithLimitStore(s LimitStore) Option {
	return optionFunc(func(m *Manager) error {
		if s == nil {
			return errors.New("authn: nil LimitStore")
		}
		m.limitStore = s
		return nil
	})
}

// WithStoreTimeout bounds every database call (default
// [DefaultStoreTimeout]): a database that does not answer in time is
// ErrUnavailable, so that a hung server fails requests fast instead of
// holding them.
func WithStoreTimeout(d time.Duration) Option {
	return optionFunc(func(m *Manager) error {
		if d <= 0 {
			return fmt.Errorf("authn: store timeout %v must be positive", d)
		}
		m.storeTimeout = d
		return nil
	})
}

// WithLogger sets where hook failures and rehash failures are logged
// (default slog.Default()); audit events go there too unless
// [WithAuditLogger] says otherwise.
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(m *Manager) error {
		if l == nil {
			return errors.New("authn: nil logger")
		}
		m.log = l
		return nil
	})
}

// WithAuditLogger sets where audit events are logged, one line each with
// the message "audit" (default: the logger of [WithLogger]).
func WithAuditLogger(l *slog.Logger) Option {
	return optionFunc(func(m *Manager) error {
		if l == nil {
			return errors.New("authn: nil audit logger")
		}
		m.auditLog = l
		return nil
	})
}

// WithAuditHandler hands every audit event to h as well, after it is
// logged: for an audit table, a SIEM, alerts.
func WithAuditHandler(h AuditHandler) Option {
	return optionFunc(func(m *Manager) error {
		m.onAudit = h
		return nil
	})
}

// WithHookErrorHandler is called with every After… hook failure, after it
// is logged; use it for metrics or a retry queue.
func WithHookErrorHandler(f func(ctx context.Context, hook string, u *User, err error)) Option {
	return optionFunc(func(m *Manager) error {
		m.onHookError = f
		return nil
	})
}

// WithClock sets the clock used for sessions, revocation and rate limits;
// for tests.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(m *Manager) error {
		if now == nil {
			return errors.New("authn: nil clock")
		}
		m.now = now
		return nil
	})
}

// NewManager returns a Manager over store issuing and checking tokens with
// tokens.
func NewManager(store Store, tokens *Tokens, opts ...Option) (*Manager, error) {
	if store == nil || tokens == nil {
		return nil, errors.New("authn: NewManager needs a Store and Tokens")
	}
	m := &Manager{
		tokens: tokens, hooks: NopHooks{}, log: slog.Default(), now: time.Now,
		limits: DefaultLimits(), storeTimeout: DefaultStoreTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("authn: nil Option")
		}
		if err := o.apply(m); err != nil {
			return nil, err
		}
	}
	if m.hasher == nil {
		h, err := NewHasher()
		if err != nil {
			return nil, err
		}
		m.hasher = h
	}
	if m.auditLog == nil {
		m.auditLog = m.log
	}
	m.fingerprints = newHasher(hasherConfig{params: fingerprintParams, maxConcurrent: runtime.NumCPU(), maxWait: 5 * time.Second})
	m.store = deadlineStore{s: store, d: m.storeTimeout}
	ls := m.limitStore
	if ls == nil {
		ls = store
	}
	m.limiter = limiter{store: deadlineLimits{s: ls, d: m.storeTimeout}, limits: m.limits}
	return m, nil
}

// fingerprintParams hash the password fingerprint of reset tokens. The
// input is a stored password hash — random, not guessable — so the work
// factor buys nothing; argon2id keeps the PHC form fastapi-users verifies.
var fingerprintParams = HashParams{Memory: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Tokens returns the token issuer the Manager uses.
func (m *Manager) Tokens() *Tokens { return m.tokens }

// Hasher returns the password hasher the Manager uses.
func (m *Manager) Hasher() *Hasher { return m.hasher }

// RequiresVerification reports whether only verified users may log in and
// use the users routes ([WithRequireVerification]).
func (m *Manager) RequiresVerification() bool { return m.requireVerification }

// RefreshEnabled reports whether logins issue refresh tokens
// ([WithRefreshTokens]).
func (m *Manager) RefreshEnabled() bool { return m.refreshLifetime > 0 }

// Now is the Manager's clock.
func (m *Manager) Now() time.Time { return m.now() }

// UserCreate is the input of [Manager.Register] and [Manager.CreateUser].
type UserCreate struct {
	Email    string
	Password string
	FullName *string
	// The flags are honoured by CreateUser only.
	IsActive    *bool
	IsSuperuser *bool
	IsVerified  *bool
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
}

// Register creates a user from a public sign-up: the flags in the input
// are ignored (new users are active, not superuser, not verified). It
// returns what [Manager.CreateUser] does, and *ThrottledError; with
// [WithQuietRegister], a taken email returns a user that looks new but is
// not stored.
func (m *Manager) Register(ctx context.Context, in UserCreate) (*User, error) {
	in.IsActive, in.IsSuperuser, in.IsVerified = nil, nil, nil
	return m.create(ctx, in, true)
}

// CreateUser creates a user with the flags of the input (administrative
// creation, not rate limited). The password is validated before the email
// is looked up. It returns ErrInvalidEmail, an *InvalidPasswordError,
// ErrUserAlreadyExists (for the same email in any letter case, also when
// two registrations race) or ErrOverloaded.
func (m *Manager) CreateUser(ctx context.Context, in UserCreate) (*User, error) {
	return m.create(ctx, in, false)
}

func (m *Manager) create(ctx context.Context, in UserCreate, public bool) (*User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := m.ValidatePassword(ctx, in.Password, nil); err != nil {
		return nil, err
	}
	if err := m.hasher.Admit(); err != nil {
		return nil, err
	}
	if public {
		ip := limitIP(ClientFromContext(ctx).IP)
		if err := m.take(ctx, uuid.Nil,
			limitCheck{RuleRegisterIP, m.limits.RegisterIP, ip},
			limitCheck{RuleRegisterAccount, m.limits.RegisterAccount, accountKey(email)},
		); err != nil {
			return nil, err
		}
	}
	existing, err := m.store.GetUserByEmail(ctx, email)
	switch {
	case err == nil && public && m.quietRegister:
		return m.registerExisting(ctx, existing, email, in)
	case err == nil:
		return nil, ErrUserAlreadyExists
	case !errors.Is(err, ErrUserNotFound):
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email, HashedPassword: hash, FullName: in.FullName, IsActive: true}
	if !public {
		u.IsActive = deref(in.IsActive, true)
		u.IsSuperuser = deref(in.IsSuperuser, false)
		u.IsVerified = deref(in.IsVerified, false)
	}
	created, err := m.store.CreateUser(ctx, u, in.Extra)
	if errors.Is(err, ErrUserAlreadyExists) && public && m.quietRegister {
		// Lost a race with another registration of the same address.
		return m.registerExisting(ctx, nil, email, in)
	}
	if err != nil {
		if errors.Is(err, ErrUserAlreadyExists) {
			return nil, ErrUserAlreadyExists
		}
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventRegistered, UserID: created.ID})
	m.after(ctx, "AfterRegister", created, m.hooks.AfterRegister(ctx, created))
	if m.verifyOnRegister && created.IsActive && !created.IsVerified {
		if err := m.sendVerify(ctx, created); err != nil {
			m.log.WarnContext(ctx, "verify token on register not sent", "user_id", created.ID, "error", err)
		}
	}
	return created, nil
}

// UserPreviewer is implemented by stores that keep application fields, so
// that [WithQuietRegister]'s answer for a taken email carries the same
// fields, defaults included, as a real registration's.
type UserPreviewer interface {
	// PreviewExtra returns the Extra a user created with extra would have.
	PreviewExtra(extra any) any
}

// registerExisting answers a registration for a taken email under
// WithQuietRegister: the same hashing work as a real one, a user that is
// never stored, and the owner told through the hook.
func (m *Manager) registerExisting(ctx context.Context, existing *User, email string, in UserCreate) (*User, error) {
	if _, err := m.hasher.Hash(ctx, in.Password); err != nil {
		return nil, err
	}
	now := m.now().UTC()
	ghost := &User{ID: uuid.New(), Email: email, FullName: in.FullName, IsActive: true, CreatedAt: now, UpdatedAt: now}
	if p, ok := m.store.s.(UserPreviewer); ok {
		ghost.Extra = p.PreviewExtra(in.Extra)
	}
	if existing != nil {
		m.audit(ctx, AuditEvent{Type: EventRegisterExists, UserID: existing.ID})
		m.after(ctx, "AfterRegisterExisting", existing, m.hooks.AfterRegisterExisting(ctx, existing))
	}
	return ghost, nil
}

// ValidatePassword applies keylin's policy ([CheckPassword]) and then the
// application's validator. user is nil at registration.
func (m *Manager) ValidatePassword(ctx context.Context, password string, user *User) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	if m.validator == nil {
		return nil
	}
	err := m.validator(ctx, password, user)
	if err == nil || errors.Is(err, ErrInvalidPassword) {
		return err
	}
	return &InvalidPasswordError{Reason: err.Error()}
}

// findByEmail looks a user up by an email as a client typed it (see
// [lookupEmail]).
func (m *Manager) findByEmail(ctx context.Context, email string) (*User, error) {
	e, ok := lookupEmail(email)
	if !ok {
		return nil, ErrUserNotFound
	}
	return m.store.GetUserByEmail(ctx, e)
}

// Authenticate checks an email and password. Unknown email, wrong password
// and inactive user are all ErrBadCredentials, and cost the same hashing
// work, so neither the answer nor its timing tells whether an account
// exists. With verification required, an unverified user gets
// ErrUserNotVerified. A hash in an older scheme or with other parameters is
// replaced by a current one.
//
// A login the hasher would refuse ([Hasher.Admit]) is refused first, with
// an *OverloadedError and before any database work, so that a flood's
// refusals cost next to nothing. The login limits are checked before any
// hashing (*ThrottledError); a failure is counted against the account,
// from this client and from anywhere (see [Limits]).
func (m *Manager) Authenticate(ctx context.Context, email, password string) (*User, error) {
	if err := m.hasher.Admit(); err != nil {
		return nil, err
	}
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil, limitCheck{RuleLoginIP, m.limits.LoginIP, ip}); err != nil {
		return nil, err
	}
	u, err := m.findByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return nil, err
	}
	failures := m.failureChecks(accountOf(email), ip)
	if err := m.checkFailures(ctx, u, failures); err != nil {
		return nil, err
	}
	reason, err := m.verifyLogin(ctx, u, password)
	if err != nil {
		return nil, err
	}
	if reason != "" {
		m.chargeFailures(ctx, failures)
		ev := AuditEvent{Type: EventLoginFailed, Reason: reason}
		if u != nil {
			ev.UserID = u.ID
		}
		m.audit(ctx, ev)
		if reason == ReasonNotVerified {
			return nil, ErrUserNotVerified
		}
		return nil, ErrBadCredentials
	}
	return u, nil
}

// verifyLogin checks password against u (nil: unknown email, checked
// against a dummy hash) and returns "" when the login may proceed, or the
// failure's reason. u is updated in place when its hash is upgraded.
func (m *Manager) verifyLogin(ctx context.Context, u *User, password string) (string, error) {
	if u == nil {
		if err := m.hasher.VerifyDummy(ctx, password); err != nil {
			return "", err
		}
		return ReasonUnknownUser, nil
	}
	ok, rehash, err := m.hasher.Verify(ctx, password, u.HashedPassword)
	if errors.Is(err, ErrUnsupportedHash) {
		m.log.WarnContext(ctx, "stored password hash refused", "user_id", u.ID, "error", err)
		if err := m.hasher.VerifyDummy(ctx, password); err != nil {
			return "", err
		}
		return ReasonUnsupportedHash, nil
	}
	switch {
	case err != nil:
		return "", err
	case !ok:
		return ReasonBadPassword, nil
	case !u.IsActive:
		return ReasonInactive, nil
	case m.requireVerification && !u.IsVerified:
		return ReasonNotVerified, nil
	}
	if rehash {
		if fresh, err := m.hasher.Hash(ctx, password); err != nil {
			m.log.WarnContext(ctx, "password rehash skipped", "user_id", u.ID, "error", err)
		} else if nu, err := m.store.UpdateUser(ctx, u.ID, UserChanges{HashedPassword: &fresh, IfHashedPassword: &u.HashedPassword}); err != nil {
			m.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "error", err)
		} else {
			*u = *nu
		}
	}
	return "", nil
}

// failureChecks are the login failure limits of an account from an IP.
func (m *Manager) failureChecks(account, ip string) []limitCheck {
	var cs []limitCheck
	if account != "" && ip != "" {
		for _, l := range levels(m.limits.LoginFailuresAccountIP) {
			cs = append(cs, limitCheck{RuleLoginFailuresAccountIP, l, account + "\x00" + ip})
		}
	}
	return append(cs, limitCheck{RuleLoginFailuresAccount, m.limits.LoginFailuresAccount, account})
}

// checkFailures refuses a login attempt whose failure budget is spent,
// before any hashing. When only the account's overall budget is spent, a
// client the account knows (a successful login from its address within
// KnownClientWindow) may still try.
func (m *Manager) checkFailures(ctx context.Context, u *User, checks []limitCheck) error {
	now := m.now()
	te, err := m.limiter.peek(ctx, now, checks...)
	if err != nil || te == nil {
		return err
	}
	if te.Rule == RuleLoginFailuresAccount && u != nil && m.limits.KnownClientWindow > 0 {
		if ip := ClientFromContext(ctx).IP; ip != "" {
			known, err := m.store.KnownClient(ctx, u.ID, ip, now.Add(-m.limits.KnownClientWindow))
			if err != nil {
				return err
			}
			if known {
				te, err = m.limiter.peek(ctx, now, checks[:len(checks)-1]...)
				if err != nil || te == nil {
					return err
				}
			}
		}
	}
	userID := uuid.Nil
	if u != nil {
		userID = u.ID
	}
	m.audit(ctx, AuditEvent{Type: EventThrottled, UserID: userID, Reason: te.Rule})
	return te
}

// chargeFailures counts one failed attempt against each failure limit
// whose budget allows it (a spent budget stays spent).
func (m *Manager) chargeFailures(ctx context.Context, checks []limitCheck) {
	now := m.now()
	for _, c := range checks {
		if err := m.limiter.take(ctx, now, c); err != nil && !errors.Is(err, ErrThrottled) {
			m.log.WarnContext(ctx, "login failure not counted", "rule", c.rule, "error", err)
		}
	}
}

// take applies limits in order and audits a refusal.
func (m *Manager) take(ctx context.Context, userID uuid.UUID, checks ...limitCheck) error {
	err := m.limiter.take(ctx, m.now(), checks...)
	var te *ThrottledError
	if errors.As(err, &te) {
		m.audit(ctx, AuditEvent{Type: EventThrottled, UserID: userID, Reason: te.Rule})
	}
	return err
}

// Login authenticates and starts a session: it returns an access token
// bound to the session and, when refresh tokens are on, a refresh token
// (see [Manager.Authenticate] for the errors).
func (m *Manager) Login(ctx context.Context, email, password string) (*Grant, error) {
	u, err := m.Authenticate(ctx, email, password)
	if err != nil {
		return nil, err
	}
	g, err := m.startSession(ctx, u)
	if err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventLoginSucceeded, UserID: u.ID, SessionID: g.Session.ID})
	m.after(ctx, "AfterLogin", u, m.hooks.AfterLogin(ctx, u))
	return g, nil
}

// startSession stores a new session of u, made with u's current credential
// version, and issues its tokens.
func (m *Manager) startSession(ctx context.Context, u *User) (*Grant, error) {
	now := m.now().UTC()
	c := ClientFromContext(ctx)
	s := &Session{
		ID: uuid.New(), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		UserAgent: truncate(c.UserAgent, MaxUserAgentLength), IP: truncate(c.IP, MaxIPLength),
		CredentialVersion: u.CredentialVersion,
	}
	g := &Grant{User: u, Session: s}
	var rt *RefreshToken
	if m.RefreshEnabled() {
		var hash string
		g.RefreshToken, hash = newRefreshToken()
		g.RefreshExpiresAt = m.refreshExpiry(now, now)
		rt = &RefreshToken{Hash: hash, SessionID: s.ID, CreatedAt: now, ExpiresAt: g.RefreshExpiresAt}
		s.ExpiresAt = g.RefreshExpiresAt
	} else {
		s.ExpiresAt = now.Add(m.tokens.AccessLifetime())
	}
	if err := m.store.CreateSession(ctx, s, rt); err != nil {
		return nil, err
	}
	tok, claims, err := m.tokens.IssueAccess(u.ID, s.ID)
	if err != nil {
		return nil, err
	}
	g.AccessToken, g.Claims = tok, claims
	return g, nil
}

// refreshExpiry is when a refresh token issued now for a session created
// at created expires.
func (m *Manager) refreshExpiry(now, created time.Time) time.Time {
	exp := now.Add(m.refreshLifetime)
	if m.sessionMaxLifetime > 0 {
		if limit := created.Add(m.sessionMaxLifetime); limit.Before(exp) {
			exp = limit
		}
	}
	return exp
}

// Refresh exchanges a refresh token for a new access token and a new
// refresh token of the same session (rotation). It returns
// ErrRefreshTokenInvalid for a token that is malformed, unknown, expired or
// already used, whose session has ended or expired, or whose user is
// inactive (or unverified when verification is required). Presenting a
// token that was exchanged already ends its session — a stolen token
// raced with its owner — unless it was exchanged moments ago (a client's
// concurrent requests), and of concurrent exchanges of one token exactly one
// succeeds.
func (m *Manager) Refresh(ctx context.Context, token string) (*Grant, error) {
	if !m.RefreshEnabled() {
		return nil, fmt.Errorf("%w: refresh tokens are off", ErrRefreshTokenInvalid)
	}
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil, limitCheck{RuleRefreshIP, m.limits.RefreshIP, ip}); err != nil {
		return nil, err
	}
	hash, err := HashRefreshToken(token)
	if err != nil {
		return nil, err
	}
	rt, s, u, err := m.store.GetRefreshToken(ctx, hash)
	if errors.Is(err, ErrRefreshTokenNotFound) {
		return nil, fmt.Errorf("%w: unknown", ErrRefreshTokenInvalid)
	}
	if err != nil {
		return nil, err
	}
	if err := m.take(ctx, u.ID, limitCheck{RuleRefreshAccount, m.limits.RefreshAccount, u.ID.String()}); err != nil {
		return nil, err
	}
	now := m.now().UTC()
	if rt.UsedAt != nil {
		if now.Sub(*rt.UsedAt) < refreshRaceGrace {
			return nil, fmt.Errorf("%w: exchanged moments ago", ErrRefreshTokenInvalid)
		}
		if err := m.store.EndSession(ctx, u.ID, s.ID, now); err != nil && !errors.Is(err, ErrSessionNotFound) {
			return nil, err
		}
		m.audit(ctx, AuditEvent{Type: EventRefreshReused, UserID: u.ID, SessionID: s.ID})
		m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: u.ID, SessionID: s.ID, Reason: "refresh_reused"})
		return nil, fmt.Errorf("%w: already used; session ended", ErrRefreshTokenInvalid)
	}
	switch {
	case !now.Before(rt.ExpiresAt), !now.Before(s.ExpiresAt):
		return nil, fmt.Errorf("%w: expired", ErrRefreshTokenInvalid)
	case s.CredentialVersion != u.CredentialVersion:
		return nil, fmt.Errorf("%w: session ended by a credential change", ErrRefreshTokenInvalid)
	case !u.IsActive, m.requireVerification && !u.IsVerified:
		return nil, fmt.Errorf("%w: user inactive or unverified", ErrRefreshTokenInvalid)
	}
	g := &Grant{User: u, Session: s}
	var next string
	g.RefreshToken, next = newRefreshToken()
	g.RefreshExpiresAt = m.refreshExpiry(now, s.CreatedAt)
	if !now.Before(g.RefreshExpiresAt) {
		return nil, fmt.Errorf("%w: session at its maximum lifetime", ErrRefreshTokenInvalid)
	}
	err = m.store.RotateRefreshToken(ctx, hash,
		&RefreshToken{Hash: next, SessionID: s.ID, CreatedAt: now, ExpiresAt: g.RefreshExpiresAt}, now, g.RefreshExpiresAt)
	if errors.Is(err, ErrRefreshTokenUsed) || errors.Is(err, ErrSessionNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrRefreshTokenInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	s.LastUsedAt, s.ExpiresAt = now, g.RefreshExpiresAt
	tok, claims, err := m.tokens.IssueAccess(u.ID, s.ID)
	if err != nil {
		return nil, err
	}
	g.AccessToken, g.Claims = tok, claims
	m.audit(ctx, AuditEvent{Type: EventRefreshed, UserID: u.ID, SessionID: s.ID})
	return g, nil
}

// UserFromToken checks an access token and loads its user and session, in
// one query. It returns ErrInvalidToken (wrapping the reason, for logs
// only) for a token that is malformed or expired, whose session has ended
// or expired, whose user is gone — or, for a token without a session
// (made by fastapi-users), that was issued before the user's tokens were
// revoked. It does not check the user's flags: that is the caller's
// policy.
func (m *Manager) UserFromToken(ctx context.Context, token string) (*User, AccessClaims, error) {
	claims, err := m.tokens.ParseAccess(token)
	if err != nil {
		return nil, AccessClaims{}, err
	}
	u, live, err := m.store.GetUserForToken(ctx, claims.UserID, claims.SessionID, m.now())
	switch {
	case errors.Is(err, ErrUserNotFound):
		return nil, AccessClaims{}, fmt.Errorf("%w: user does not exist", ErrInvalidToken)
	case err != nil:
		return nil, AccessClaims{}, err
	case claims.SessionID != uuid.Nil && !live:
		return nil, AccessClaims{}, fmt.Errorf("%w: session ended or expired", ErrInvalidToken)
	case claims.SessionID == uuid.Nil && u.TokensValidAfter != nil &&
		(claims.IssuedAt.IsZero() || claims.IssuedAt.Before(*u.TokensValidAfter)):
		return nil, AccessClaims{}, fmt.Errorf("%w: token issued before the user's tokens were revoked", ErrInvalidToken)
	}
	return u, claims, nil
}

// Logout ends the session of the access token described by claims (as
// returned by UserFromToken). A token without a session (made by
// fastapi-users) cannot be singled out: every such token of the user issued
// up to now is revoked.
func (m *Manager) Logout(ctx context.Context, u *User, claims AccessClaims) error {
	now := m.now().UTC()
	if claims.SessionID != uuid.Nil {
		err := m.store.EndSession(ctx, u.ID, claims.SessionID, now)
		if err != nil && !errors.Is(err, ErrSessionNotFound) {
			return err
		}
	} else if _, err := m.store.UpdateUser(ctx, u.ID, UserChanges{TokensValidAfter: &now}); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventLogout, UserID: u.ID, SessionID: claims.SessionID})
	return nil
}

// Sessions returns the user's live sessions, newest first.
func (m *Manager) Sessions(ctx context.Context, u *User) ([]*Session, error) {
	return m.store.ListSessions(ctx, u.ID, m.now())
}

// EndSession ends one session of the user; ErrSessionNotFound when the
// user has no such live session.
func (m *Manager) EndSession(ctx context.Context, u *User, sessionID uuid.UUID) error {
	if err := m.store.EndSession(ctx, u.ID, sessionID, m.now().UTC()); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: u.ID, SessionID: sessionID, Reason: "one"})
	return nil
}

// EndSessions ends every session of the user but keep (uuid.Nil: all) and
// returns how many it ended. Access tokens without a session (made by
// fastapi-users) are revoked too, as by a logout of one of them.
func (m *Manager) EndSessions(ctx context.Context, u *User, keep uuid.UUID) (int, error) {
	now := m.now().UTC()
	n, err := m.store.EndSessions(ctx, u.ID, keep, now)
	if err != nil {
		return 0, err
	}
	if _, err := m.store.UpdateUser(ctx, u.ID, UserChanges{TokensValidAfter: &now}); err != nil {
		return n, err
	}
	reason := "all"
	if keep != uuid.Nil {
		reason = "others"
	}
	m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: u.ID, Reason: reason})
	return n, nil
}

// PruneSessions deletes expired refresh tokens, sessions that ended or
// expired long enough ago, and rate limiter counters at rest. Run it
// periodically; it returns how many rows it deleted.
func (m *Manager) PruneSessions(ctx context.Context) (int, error) {
	now := m.now().UTC()
	return m.store.Prune(ctx, now, now.Add(-sessionRetention))
}

// RequestVerify issues a verify token for the user with that email and
// hands it to the AfterRequestVerify hook. Unknown, inactive and already
// verified users are silently skipped, so the answer does not enumerate
// accounts; so is an address that was mailed too often already
// (Limits.MailPerAddress).
func (m *Manager) RequestVerify(ctx context.Context, email string) error {
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil,
		limitCheck{RuleRequestVerifyIP, m.limits.RequestVerifyIP, ip},
		limitCheck{RuleRequestVerifyAccount, m.limits.RequestVerifyAccount, accountOf(email)},
	); err != nil {
		return err
	}
	u, err := m.findByEmail(ctx, email)
	if errors.Is(err, ErrUserNotFound) {
		m.audit(ctx, AuditEvent{Type: EventVerifyRequested, Reason: ReasonUnknownUser})
		return nil
	}
	if err != nil {
		return err
	}
	if !u.IsActive || u.IsVerified {
		m.audit(ctx, AuditEvent{Type: EventVerifyRequested, UserID: u.ID, Reason: "not_applicable"})
		return nil
	}
	m.audit(ctx, AuditEvent{Type: EventVerifyRequested, UserID: u.ID})
	return m.sendVerify(ctx, u)
}

// sendVerify issues a verify token to u and hands it to the hook, unless
// the address was mailed too often.
func (m *Manager) sendVerify(ctx context.Context, u *User) error {
	if !m.mailAllowed(ctx, "verify", u) {
		return nil
	}
	tok, err := m.tokens.IssueVerify(u.ID, u.Email)
	if err != nil {
		return err
	}
	m.after(ctx, "AfterRequestVerify", u, m.hooks.AfterRequestVerify(ctx, u, tok))
	return nil
}

// mailAllowed charges one mail of kind to u's address and reports whether
// Limits.MailPerAddress allows it; a suppressed mail is audited.
func (m *Manager) mailAllowed(ctx context.Context, kind string, u *User) bool {
	err := m.limiter.take(ctx, m.now(), limitCheck{RuleMailPerAddress, m.limits.MailPerAddress, kind + "\x00" + accountKey(u.Email)})
	if err == nil {
		return true
	}
	if !errors.Is(err, ErrThrottled) {
		// The counter could not be read: send anyway, a mail too many
		// is better than a user locked out.
		m.log.WarnContext(ctx, "mail limit not checked", "kind", kind, "user_id", u.ID, "error", err)
		return true
	}
	m.audit(ctx, AuditEvent{Type: EventMailSuppressed, UserID: u.ID, Reason: kind})
	return false
}

// Verify marks the user of a verify token as verified. It returns
// ErrVerifyBadToken for a token that is invalid or expired, whose user is
// gone, or whose email is no longer the user's; ErrAlreadyVerified when
// the user is verified already.
func (m *Manager) Verify(ctx context.Context, token string) (*User, error) {
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil, limitCheck{RuleVerifyIP, m.limits.VerifyIP, ip}); err != nil {
		return nil, err
	}
	claims, err := m.tokens.ParseVerify(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerifyBadToken, err)
	}
	if err := m.take(ctx, claims.UserID, limitCheck{RuleVerifyAccount, m.limits.VerifyAccount, claims.UserID.String()}); err != nil {
		return nil, err
	}
	u, err := m.store.GetUserByID(ctx, claims.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrVerifyBadToken
	}
	if err != nil {
		return nil, err
	}
	if !equalConstantTime(claims.Email, u.Email) {
		return nil, ErrVerifyBadToken
	}
	if u.IsVerified {
		return nil, ErrAlreadyVerified
	}
	yes := true
	u, err = m.store.UpdateUser(ctx, u.ID, UserChanges{IsVerified: &yes})
	if err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventVerified, UserID: u.ID})
	m.after(ctx, "AfterVerify", u, m.hooks.AfterVerify(ctx, u))
	return u, nil
}

// ForgotPassword issues a reset token for the user with that email and
// hands it to the AfterForgotPassword hook. Unknown and inactive users are
// silently skipped, after the same work a known user costs; so is an
// address that was mailed too often already (Limits.MailPerAddress). The
// token carries a fingerprint of the current password hash and one of the
// email, so it dies when either changes: it can be used once. Its hashing
// runs on slots of its own, never on those logins need.
func (m *Manager) ForgotPassword(ctx context.Context, email string) error {
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil,
		limitCheck{RuleForgotPasswordIP, m.limits.ForgotPasswordIP, ip},
		limitCheck{RuleForgotPasswordAccount, m.limits.ForgotPasswordAccount, accountOf(email)},
	); err != nil {
		return err
	}
	u, err := m.findByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return err
	}
	if err != nil || !u.IsActive {
		// Spend the fingerprint's work anyway, so that the answer's timing
		// does not tell whether the account exists.
		ev := AuditEvent{Type: EventResetRequested, Reason: ReasonUnknownUser}
		if u != nil {
			ev.UserID, ev.Reason = u.ID, ReasonInactive
		}
		m.audit(ctx, ev)
		return m.fingerprints.VerifyDummy(ctx, email)
	}
	fgpt, err := m.fingerprints.Hash(ctx, u.HashedPassword)
	if err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventResetRequested, UserID: u.ID})
	if !m.mailAllowed(ctx, "reset", u) {
		return nil
	}
	tok, err := m.tokens.IssueReset(u.ID, fgpt, u.Email)
	if err != nil {
		return err
	}
	m.after(ctx, "AfterForgotPassword", u, m.hooks.AfterForgotPassword(ctx, u, tok))
	return nil
}

// ResetPassword sets a new password with a reset token. It returns
// ErrResetBadToken for a token that is invalid, expired or already used,
// whose user is gone or inactive, or whose user's email changed since it
// was issued; an *InvalidPasswordError for a password the policy refuses.
// Every session of the user ends, and every access token without a session
// issued before the reset is revoked.
func (m *Manager) ResetPassword(ctx context.Context, token, password string) (*User, error) {
	if err := m.hasher.Admit(); err != nil {
		return nil, err
	}
	ip := limitIP(ClientFromContext(ctx).IP)
	if err := m.take(ctx, uuid.Nil, limitCheck{RuleResetPasswordIP, m.limits.ResetPasswordIP, ip}); err != nil {
		return nil, err
	}
	claims, err := m.tokens.ParseReset(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResetBadToken, err)
	}
	if err := m.take(ctx, claims.UserID, limitCheck{RuleResetPasswordAccount, m.limits.ResetPasswordAccount, claims.UserID.String()}); err != nil {
		return nil, err
	}
	u, err := m.store.GetUserByID(ctx, claims.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrResetBadToken
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, ErrResetBadToken
	}
	// Tokens made by fastapi-users carry no email fingerprint; keylin's do,
	// and must match the address as it is now.
	if claims.EmailFingerprint != "" && !equalConstantTime(claims.EmailFingerprint, m.tokens.EmailFingerprint(u.Email)) {
		return nil, fmt.Errorf("%w: the email changed since the token was issued", ErrResetBadToken)
	}
	ok, _, err := m.fingerprints.Verify(ctx, u.HashedPassword, claims.PasswordFingerprint)
	if errors.Is(err, ErrUnsupportedHash) || (err == nil && !ok) {
		return nil, ErrResetBadToken
	}
	if err != nil {
		return nil, err
	}
	if err := m.ValidatePassword(ctx, password, u); err != nil {
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, password)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	// Only if the password is still the one the token was made for: of two
	// resets racing with one token, one wins and the other finds the hash
	// changed.
	u, err = m.store.UpdateUser(ctx, u.ID, UserChanges{
		HashedPassword: &hash, TokensValidAfter: &now, BumpCredentials: true, IfHashedPassword: &u.HashedPassword,
	})
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrResetBadToken
	}
	if err != nil {
		return nil, err
	}
	m.audit(ctx, AuditEvent{Type: EventReset, UserID: u.ID})
	m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: u.ID, Reason: "password_reset"})
	m.after(ctx, "AfterResetPassword", u, m.hooks.AfterResetPassword(ctx, u))
	return u, nil
}

// UserUpdate is the input of [Manager.UpdateSelf] and
// [Manager.UpdateAsSuperuser]: nil fields are left alone.
type UserUpdate struct {
	Email *string
	// Password, when set, is validated and hashed; the user's sessions end
	// (but the current one, for UpdateSelf).
	Password *string
	// CurrentPassword proves a user's own change of password or email,
	// when the Manager requires it ([WithCurrentPasswordRequired]).
	CurrentPassword *string
	// FullName is applied when SetFullName is true (nil clears it).
	SetFullName bool
	FullName    *string
	// The flags are honoured by UpdateAsSuperuser only.
	IsActive    *bool
	IsSuperuser *bool
	IsVerified  *bool
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
}

// UpdateSelf applies a user's change to their own account (PATCH
// /users/me): the flags in the input are ignored. A new email is validated
// and resets is_verified, and the old address is told through the
// AfterEmailChanged hook; ErrEmailAlreadyExists when another user has it in
// any case. A new password is validated (*InvalidPasswordError) and hashed,
// and ends every other session of the user: the one of session (the
// request's, uuid.Nil for a token without one) stays. With
// [WithCurrentPasswordRequired], a password or email change needs
// in.CurrentPassword (ErrBadCurrentPassword).
func (m *Manager) UpdateSelf(ctx context.Context, u *User, session uuid.UUID, in UserUpdate) (*User, error) {
	in.IsActive, in.IsSuperuser, in.IsVerified = nil, nil, nil
	return m.update(ctx, u, in, true, session)
}

// UpdateAsSuperuser applies a superuser's change to a user (PATCH
// /users/{id}): the flags are honoured. A new password or deactivation ends
// every session of the user; otherwise as [Manager.UpdateSelf].
func (m *Manager) UpdateAsSuperuser(ctx context.Context, u *User, in UserUpdate) (*User, error) {
	return m.update(ctx, u, in, false, uuid.Nil)
}

func (m *Manager) update(ctx context.Context, u *User, in UserUpdate, self bool, session uuid.UUID) (*User, error) {
	var ch UserChanges
	changed := map[string]any{}
	newMailbox := false
	if in.Email != nil {
		email, err := NormalizeEmail(*in.Email)
		if err != nil {
			return nil, err
		}
		switch {
		case email == u.Email:
		case equalFoldEmail(email, u.Email):
			// The same address in another case: the mailbox did not change,
			// so neither does verification.
			ch.Email = &email
			changed["email"] = email
		default:
			other, err := m.store.GetUserByEmail(ctx, email)
			switch {
			case err == nil && other.ID != u.ID:
				return nil, ErrEmailAlreadyExists
			case err != nil && !errors.Is(err, ErrUserNotFound):
				return nil, err
			}
			no := false
			ch.Email, ch.IsVerified = &email, &no
			changed["email"], changed["is_verified"] = email, false
			newMailbox = true
		}
	}
	if self && m.requireCurrentPw && (in.Password != nil || newMailbox) {
		if err := m.checkCurrentPassword(ctx, u, in.CurrentPassword); err != nil {
			return nil, err
		}
	}
	now := m.now().UTC()
	if in.Password != nil {
		if err := m.ValidatePassword(ctx, *in.Password, u); err != nil {
			return nil, err
		}
		hash, err := m.hasher.Hash(ctx, *in.Password)
		if err != nil {
			return nil, err
		}
		now = m.now().UTC()
		ch.HashedPassword, ch.TokensValidAfter, ch.BumpCredentials = &hash, &now, true
		if self {
			ch.KeepSession = session
		}
		changed["password"] = nil
	}
	if in.SetFullName {
		ch.SetFullName, ch.FullName = true, in.FullName
		changed["full_name"] = in.FullName
	}
	if !self {
		if in.IsActive != nil {
			ch.IsActive = in.IsActive
			changed["is_active"] = *in.IsActive
			if !*in.IsActive {
				ch.TokensValidAfter, ch.BumpCredentials = &now, true
			}
		}
		if in.IsSuperuser != nil {
			ch.IsSuperuser = in.IsSuperuser
			changed["is_superuser"] = *in.IsSuperuser
		}
		if in.IsVerified != nil && ch.Email == nil {
			ch.IsVerified = in.IsVerified
			changed["is_verified"] = *in.IsVerified
		}
	}
	if in.Extra != nil {
		ch.Extra = in.Extra
		changed["extra"] = in.Extra
	}
	if ch.IsZero() {
		return u, nil
	}
	nu, err := m.store.UpdateUser(ctx, u.ID, ch)
	if err != nil {
		return nil, err
	}
	if ch.HashedPassword != nil {
		m.audit(ctx, AuditEvent{Type: EventPasswordChanged, UserID: nu.ID, SessionID: ch.KeepSession})
	}
	if ch.BumpCredentials {
		reason := "password_changed"
		if ch.HashedPassword == nil {
			reason = "deactivated"
		}
		if ch.KeepSession != uuid.Nil {
			reason += "_others"
		}
		m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: nu.ID, Reason: reason})
	}
	if newMailbox {
		m.audit(ctx, AuditEvent{Type: EventEmailChanged, UserID: nu.ID})
		m.after(ctx, "AfterEmailChanged", nu, m.hooks.AfterEmailChanged(ctx, nu, u.Email))
	}
	if !self {
		m.audit(ctx, AuditEvent{Type: EventUserUpdated, UserID: nu.ID})
	}
	m.after(ctx, "AfterUpdate", nu, m.hooks.AfterUpdate(ctx, nu, changed))
	return nu, nil
}

// checkCurrentPassword verifies a user's current password for a change of
// credentials, under the same failure limits as a login.
func (m *Manager) checkCurrentPassword(ctx context.Context, u *User, current *string) error {
	if current == nil {
		return fmt.Errorf("%w: missing", ErrBadCurrentPassword)
	}
	failures := m.failureChecks(accountKey(u.Email), limitIP(ClientFromContext(ctx).IP))
	if err := m.checkFailures(ctx, u, failures); err != nil {
		return err
	}
	ok, _, err := m.hasher.Verify(ctx, *current, u.HashedPassword)
	if err != nil && !errors.Is(err, ErrUnsupportedHash) {
		return err
	}
	if !ok {
		m.chargeFailures(ctx, failures)
		return ErrBadCurrentPassword
	}
	return nil
}

// Delete deletes a user: BeforeDelete may veto it (its error is returned in
// a *HookError), then the user, its sessions and refresh tokens go, then
// AfterDelete runs. ErrUserHasData when rows of the application still
// refer to the user.
func (m *Manager) Delete(ctx context.Context, u *User) error {
	if err := m.hooks.BeforeDelete(ctx, u); err != nil {
		return &HookError{Hook: "BeforeDelete", Err: err}
	}
	if err := m.store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	m.audit(ctx, AuditEvent{Type: EventUserDeleted, UserID: u.ID})
	m.audit(ctx, AuditEvent{Type: EventSessionEnded, UserID: u.ID, Reason: "user_deleted"})
	m.after(ctx, "AfterDelete", u, m.hooks.AfterDelete(ctx, u))
	return nil
}

// Get returns the user with the id, or ErrUserNotFound.
func (m *Manager) Get(ctx context.Context, id uuid.UUID) (*User, error) {
	return m.store.GetUserByID(ctx, id)
}

// GetByEmail returns the user with the email in any case, or ErrUserNotFound.
func (m *Manager) GetByEmail(ctx context.Context, email string) (*User, error) {
	return m.findByEmail(ctx, email)
}

// Page is one page of [Manager.List].
type Page struct {
	Users  []*User
	Total  int
	Offset int
	Limit  int
}

// List returns a page of users, oldest first. Limit 0 means
// DefaultPageSize; it is capped at MaxPageSize; negative values are
// errors. The caller decides who may list (superusers, in httpapi).
func (m *Manager) List(ctx context.Context, p ListParams) (*Page, error) {
	if p.Offset < 0 || p.Limit < 0 {
		return nil, errors.New("authn: negative offset or limit")
	}
	if p.Limit == 0 {
		p.Limit = DefaultPageSize
	}
	p.Limit = min(p.Limit, MaxPageSize)
	us, total, err := m.store.ListUsers(ctx, p)
	if err != nil {
		return nil, err
	}
	return &Page{Users: us, Total: total, Offset: p.Offset, Limit: p.Limit}, nil
}

// after logs a failed After… hook and hands it to the error handler.
func (m *Manager) after(ctx context.Context, hook string, u *User, err error) {
	if err == nil {
		return
	}
	m.log.ErrorContext(ctx, "authn hook failed", "hook", hook, "user_id", u.ID, "error", err)
	if m.onHookError != nil {
		m.onHookError(ctx, hook, u, &HookError{Hook: hook, Err: err})
	}
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// truncate cuts s to at most n bytes, on a character boundary, after
// replacing invalid UTF-8 and removing NUL bytes, which PostgreSQL's text
// refuses (a client's User-Agent may be Latin-1).
func truncate(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
