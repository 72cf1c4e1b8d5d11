package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Paging bounds of [Manager.List].
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// Manager runs the account flows over a [Store]: the Go counterpart of
// fastapi-users' UserManager. It is safe for concurrent use.
type Manager struct {
	store               Store
	tokens              *Tokens
	hasher              *Hasher
	hooks               Hooks
	validator           PasswordValidator
	requireVerification bool
	log                 *slog.Logger
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

// WithRequireVerification makes login refuse unverified users
// (ErrUserNotVerified).
func WithRequireVerification(b bool) Option {
	return optionFunc(func(m *Manager) error {
		m.requireVerification = b
		return nil
	})
}

// WithLogger sets where hook failures and rehash failures are logged
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(m *Manager) error {
		if l == nil {
			return errors.New("authn: nil logger")
		}
		m.log = l
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

// WithClock sets the clock used for revocation instants; for tests.
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
	m := &Manager{store: store, tokens: tokens, hooks: NopHooks{}, log: slog.Default(), now: time.Now}
	for _, o := range opts {
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
	return m, nil
}

// Tokens returns the token issuer the Manager uses.
func (m *Manager) Tokens() *Tokens { return m.tokens }

// Hasher returns the password hasher the Manager uses.
func (m *Manager) Hasher() *Hasher { return m.hasher }

// UserCreate is the input of [Manager.Register] and [Manager.Create].
type UserCreate struct {
	Email    string
	Password string
	FullName *string
	// The flags are honoured by Create with safe=false only.
	IsActive    *bool
	IsSuperuser *bool
	IsVerified  *bool
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
}

// Register creates a user from a public sign-up: a safe create, which
// ignores the flags in the input.
func (m *Manager) Register(ctx context.Context, in UserCreate) (*User, error) {
	return m.Create(ctx, in, true)
}

// Create creates a user. With safe, the flags in the input are ignored
// (new users are active, not superuser, not verified); without, they are
// honoured (administrative creation). The password is validated before the
// email is looked up. It returns ErrInvalidEmail, an *InvalidPasswordError,
// ErrUserAlreadyExists (for the same email in any letter case, also when two
// registrations race) or ErrOverloaded.
func (m *Manager) Create(ctx context.Context, in UserCreate, safe bool) (*User, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return nil, err
	}
	if err := m.ValidatePassword(ctx, in.Password, nil); err != nil {
		return nil, err
	}
	if _, err := m.store.GetUserByEmail(ctx, email); err == nil {
		return nil, ErrUserAlreadyExists
	} else if !errors.Is(err, ErrUserNotFound) {
		return nil, err
	}
	hash, err := m.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	u := &User{Email: email, HashedPassword: hash, FullName: in.FullName, IsActive: true}
	if !safe {
		u.IsActive = deref(in.IsActive, true)
		u.IsSuperuser = deref(in.IsSuperuser, false)
		u.IsVerified = deref(in.IsVerified, false)
	}
	created, err := m.store.CreateUser(ctx, u, in.Extra)
	if err != nil {
		if errors.Is(err, ErrUserAlreadyExists) {
			return nil, ErrUserAlreadyExists
		}
		return nil, err
	}
	m.after(ctx, "AfterRegister", created, m.hooks.AfterRegister(ctx, created))
	return created, nil
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

// findByEmail looks a user up by an email as a client typed it: normalised
// when it is a valid address, so that an internationalised domain in any
// case matches; never sent to the database when it cannot be an email
// (not UTF-8, a NUL byte, too long): ErrUserNotFound.
func (m *Manager) findByEmail(ctx context.Context, email string) (*User, error) {
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) || len(email) > MaxEmailLength {
		return nil, ErrUserNotFound
	}
	if n, err := NormalizeEmail(email); err == nil {
		email = n
	}
	return m.store.GetUserByEmail(ctx, email)
}

// Authenticate checks an email and password. Unknown email, wrong password
// and inactive user are all ErrBadCredentials, and cost the same hashing
// work, so neither the answer nor its timing tells whether an account
// exists. With verification required, an unverified user gets
// ErrUserNotVerified. A hash in an older scheme or with other parameters is
// replaced by a current one.
func (m *Manager) Authenticate(ctx context.Context, email, password string) (*User, error) {
	u, err := m.findByEmail(ctx, email)
	if errors.Is(err, ErrUserNotFound) {
		if err := m.hasher.VerifyDummy(ctx, password); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	ok, rehash, err := m.hasher.Verify(ctx, password, u.HashedPassword)
	if errors.Is(err, ErrUnsupportedHash) {
		m.log.WarnContext(ctx, "stored password hash refused", "user_id", u.ID, "error", err)
		if err := m.hasher.VerifyDummy(ctx, password); err != nil {
			return nil, err
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !ok || !u.IsActive {
		return nil, ErrBadCredentials
	}
	if m.requireVerification && !u.IsVerified {
		return nil, ErrUserNotVerified
	}
	if rehash {
		if fresh, err := m.hasher.Hash(ctx, password); err != nil {
			m.log.WarnContext(ctx, "password rehash skipped", "user_id", u.ID, "error", err)
		} else if nu, err := m.store.UpdateUser(ctx, u.ID, UserChanges{HashedPassword: &fresh}); err != nil {
			m.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "error", err)
		} else {
			u = nu
		}
	}
	return u, nil
}

// Login authenticates and issues an access token (see [Manager.Authenticate]
// for the errors).
func (m *Manager) Login(ctx context.Context, email, password string) (string, *User, error) {
	u, err := m.Authenticate(ctx, email, password)
	if err != nil {
		return "", nil, err
	}
	tok, _, err := m.tokens.IssueAccess(u.ID)
	if err != nil {
		return "", nil, err
	}
	m.after(ctx, "AfterLogin", u, m.hooks.AfterLogin(ctx, u))
	return tok, u, nil
}

// UserFromToken checks an access token and loads its user, in one query.
// It returns ErrInvalidToken (wrapping the reason, for logs only) for a
// token that is malformed, expired, revoked by logout, issued before the
// user's last password change or deactivation, or whose user is gone. It
// does not check the user's flags: that is the caller's policy.
func (m *Manager) UserFromToken(ctx context.Context, token string) (*User, AccessClaims, error) {
	claims, err := m.tokens.ParseAccess(token)
	if err != nil {
		return nil, AccessClaims{}, err
	}
	u, revoked, err := m.store.GetUserForToken(ctx, claims.UserID, claims.ID)
	switch {
	case errors.Is(err, ErrUserNotFound):
		return nil, AccessClaims{}, fmt.Errorf("%w: user does not exist", ErrInvalidToken)
	case err != nil:
		return nil, AccessClaims{}, err
	case revoked:
		return nil, AccessClaims{}, fmt.Errorf("%w: token revoked by logout", ErrInvalidToken)
	case u.TokensValidAfter != nil && (claims.IssuedAt.IsZero() || claims.IssuedAt.Before(*u.TokensValidAfter)):
		return nil, AccessClaims{}, fmt.Errorf("%w: token issued before the user's tokens were revoked", ErrInvalidToken)
	}
	return u, claims, nil
}

// Logout revokes the access token described by claims (as returned by
// UserFromToken). A token with a jti is put on the revoked list until it
// expires; a token without one (made by fastapi-users) cannot be singled
// out, so every token of the user issued up to now is revoked.
func (m *Manager) Logout(ctx context.Context, u *User, claims AccessClaims) error {
	if claims.ID != "" {
		return m.store.RevokeToken(ctx, claims.ID, u.ID, claims.ExpiresAt)
	}
	now := m.revocationInstant()
	_, err := m.store.UpdateUser(ctx, u.ID, UserChanges{TokensValidAfter: &now})
	return err
}

// RevokeAllTokens invalidates every access token of the user issued up to
// now (a "log out everywhere").
func (m *Manager) RevokeAllTokens(ctx context.Context, u *User) (*User, error) {
	now := m.revocationInstant()
	return m.store.UpdateUser(ctx, u.ID, UserChanges{TokensValidAfter: &now})
}

// revocationInstant is the first instant, at the millisecond precision of
// keylin's iat, at which tokens are valid again: every token issued up to
// and including the current millisecond is revoked. A token issued after
// the change, even in the same second, stays valid (a login hashes a
// password first, which takes far longer than a millisecond).
func (m *Manager) revocationInstant() time.Time {
	return m.now().UTC().Truncate(time.Millisecond).Add(time.Millisecond)
}

// RequestVerify issues a verify token for the user with that email and
// hands it to the AfterRequestVerify hook. Unknown, inactive and already
// verified users are silently skipped, so the answer does not enumerate
// accounts.
func (m *Manager) RequestVerify(ctx context.Context, email string) error {
	u, err := m.findByEmail(ctx, email)
	if errors.Is(err, ErrUserNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !u.IsActive || u.IsVerified {
		return nil
	}
	tok, err := m.tokens.IssueVerify(u.ID, u.Email)
	if err != nil {
		return err
	}
	m.after(ctx, "AfterRequestVerify", u, m.hooks.AfterRequestVerify(ctx, u, tok))
	return nil
}

// Verify marks the user of a verify token as verified. It returns
// ErrVerifyBadToken for a token that is invalid or expired, whose user is
// gone, or whose email is no longer the user's; ErrAlreadyVerified when
// the user is verified already.
func (m *Manager) Verify(ctx context.Context, token string) (*User, error) {
	claims, err := m.tokens.ParseVerify(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerifyBadToken, err)
	}
	u, err := m.store.GetUserByID(ctx, claims.UserID)
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrVerifyBadToken
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare([]byte(claims.Email), []byte(u.Email)) != 1 {
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
	m.after(ctx, "AfterVerify", u, m.hooks.AfterVerify(ctx, u))
	return u, nil
}

// ForgotPassword issues a reset token for the user with that email and
// hands it to the AfterForgotPassword hook. Unknown and inactive users are
// silently skipped, after the same hashing work a known user costs. The token carries a fingerprint of the current password
// hash, so it dies when the password changes: it can be used once.
func (m *Manager) ForgotPassword(ctx context.Context, email string) error {
	u, err := m.findByEmail(ctx, email)
	if err != nil && !errors.Is(err, ErrUserNotFound) {
		return err
	}
	if err != nil || !u.IsActive {
		// Spend the fingerprint's hashing work anyway, so the answer's
		// timing does not tell whether the account exists.
		return m.hasher.VerifyDummy(ctx, email)
	}
	fgpt, err := m.hasher.Hash(ctx, u.HashedPassword)
	if err != nil {
		return err
	}
	tok, err := m.tokens.IssueReset(u.ID, fgpt)
	if err != nil {
		return err
	}
	m.after(ctx, "AfterForgotPassword", u, m.hooks.AfterForgotPassword(ctx, u, tok))
	return nil
}

// ResetPassword sets a new password with a reset token. It returns
// ErrResetBadToken for a token that is invalid, expired or already used, or
// whose user is gone or inactive; an *InvalidPasswordError for a password
// the policy refuses. Every access token issued before the reset is revoked.
func (m *Manager) ResetPassword(ctx context.Context, token, password string) (*User, error) {
	claims, err := m.tokens.ParseReset(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrResetBadToken, err)
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
	ok, _, err := m.hasher.Verify(ctx, u.HashedPassword, claims.PasswordFingerprint)
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
	now := m.revocationInstant()
	// Only if the password is still the one the token was made for: of two
	// resets racing with one token, one wins and the other finds the hash
	// changed.
	u, err = m.store.UpdateUser(ctx, u.ID, UserChanges{HashedPassword: &hash, TokensValidAfter: &now, IfHashedPassword: &u.HashedPassword})
	if errors.Is(err, ErrUserNotFound) {
		return nil, ErrResetBadToken
	}
	if err != nil {
		return nil, err
	}
	m.after(ctx, "AfterResetPassword", u, m.hooks.AfterResetPassword(ctx, u))
	return u, nil
}

// UserUpdate is the input of [Manager.Update]: nil fields are left alone.
type UserUpdate struct {
	Email *string
	// Password, when set, is validated and hashed; the user's earlier
	// tokens are revoked.
	Password *string
	// FullName is applied when SetFullName is true (nil clears it).
	SetFullName bool
	FullName    *string
	// The flags are honoured by unsafe updates only.
	IsActive    *bool
	IsSuperuser *bool
	IsVerified  *bool
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
}

// Update changes a user. A safe update (a user changing themselves)
// ignores the flags; an unsafe one (a superuser) applies them. A new email
// is validated and resets is_verified; ErrEmailAlreadyExists when another
// user has it in any case. A new password is validated (*InvalidPasswordError)
// and hashed, and revokes the user's earlier tokens, as does deactivation.
func (m *Manager) Update(ctx context.Context, u *User, in UserUpdate, safe bool) (*User, error) {
	var ch UserChanges
	changed := map[string]any{}
	if in.Email != nil {
		email, err := NormalizeEmail(*in.Email)
		if err != nil {
			return nil, err
		}
		switch {
		case email == u.Email:
		case strings.EqualFold(email, u.Email):
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
		}
	}
	if in.Password != nil {
		if err := m.ValidatePassword(ctx, *in.Password, u); err != nil {
			return nil, err
		}
		hash, err := m.hasher.Hash(ctx, *in.Password)
		if err != nil {
			return nil, err
		}
		now := m.revocationInstant()
		ch.HashedPassword, ch.TokensValidAfter = &hash, &now
		changed["password"] = nil
	}
	if in.SetFullName {
		ch.SetFullName, ch.FullName = true, in.FullName
		changed["full_name"] = in.FullName
	}
	if !safe {
		if in.IsActive != nil {
			ch.IsActive = in.IsActive
			changed["is_active"] = *in.IsActive
			if !*in.IsActive {
				now := m.revocationInstant()
				ch.TokensValidAfter = &now
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
	m.after(ctx, "AfterUpdate", nu, m.hooks.AfterUpdate(ctx, nu, changed))
	return nu, nil
}

// Delete deletes a user: BeforeDelete may veto it (its error is returned in
// a *HookError), then the user and its revocation records go, then
// AfterDelete runs. Every token of the user dies with it.
func (m *Manager) Delete(ctx context.Context, u *User) error {
	if err := m.hooks.BeforeDelete(ctx, u); err != nil {
		return &HookError{Hook: "BeforeDelete", Err: err}
	}
	if err := m.store.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
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
