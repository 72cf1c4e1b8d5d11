package authn

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is the storage authn needs: users, their sessions and refresh
// tokens, and the rate limiter's counters. keylin's generated ent package
// provides one (ent.NewAuthnStore); an application's ent package generated
// with keylin's extension provides one over the application's own client.
//
// Emails are matched ignoring case, and their uniqueness is enforced by the
// database, so that concurrent writers — keylin instances or Python services
// on the same table — can never create two users for one address.
//
// A Store reports a database it cannot reach (refused or dropped
// connections, a timeout, a busy database) with an error wrapping
// [ErrUnavailable].
//
// A Store is safe for concurrent use, and each of its methods is atomic:
// one that fails changes nothing (Prune aside, which may stop part way).
// Values passed in and returned are the caller's: the store keeps no
// reference to them, but for User.Extra, which may be shared. Package
// authn/authntest checks a Store against this contract ([MemoryStore] and
// keylin's ent store pass it).
type Store interface {
	UserStore
	SessionStore
	LimitStore
}

// UserStore keeps the users.
type UserStore interface {
	// GetUserByID returns ErrUserNotFound when no user has the id.
	GetUserByID(ctx context.Context, id uuid.UUID) (*User, error)
	// GetUserByEmail matches the email ignoring case. It returns
	// ErrUserNotFound when no user has it.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// CreateUser inserts a user. ID, CreatedAt and UpdatedAt are filled in
	// when zero; CredentialVersion is not read: a new user starts at 0. It
	// returns ErrUserAlreadyExists when the email is taken in any letter
	// case, and an error when the ID is taken, the email is empty, or a
	// field is longer than its column ([MaxEmailLength] and
	// [MaxHashedPasswordLength] bytes, [MaxFullNameLength] characters).
	// extra carries the application's own fields in the generated store's
	// type; nil means none.
	CreateUser(ctx context.Context, u *User, extra any) (*User, error)
	// UpdateUser applies the set fields of ch atomically. It returns
	// ErrUserNotFound (also when ch.IfHashedPassword does not match), or
	// ErrEmailAlreadyExists when the new email is another user's in any
	// case (the user's own in another case is allowed), and refuses what
	// CreateUser refuses.
	UpdateUser(ctx context.Context, id uuid.UUID, ch UserChanges) (*User, error)
	// DeleteUser deletes the user with its sessions and refresh tokens. It
	// returns ErrUserNotFound when no user has the id, and ErrUserHasData
	// when rows of the application still refer to the user.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	// ListUsers returns one page of users, oldest first (by CreatedAt,
	// then by ID, so that pages neither overlap nor skip), and the total
	// number of users.
	ListUsers(ctx context.Context, p ListParams) ([]*User, int, error)
}

// SessionStore keeps sessions and refresh tokens. A session is live at an
// instant now while it has not ended, has not expired (now is before its
// ExpiresAt), and was made with the user's current credential version (see
// [UserChanges.BumpCredentials]).
type SessionStore interface {
	// GetUserForToken loads the user an access token names and reports
	// whether its session sid is live at now and belongs to that user, in
	// one database round trip. sid may be uuid.Nil (tokens made by
	// fastapi-users): live is then false. It returns ErrUserNotFound when
	// no user has the id.
	GetUserForToken(ctx context.Context, id, sid uuid.UUID, now time.Time) (u *User, live bool, err error)
	// CreateSession stores a new session and, when refresh is not nil, its
	// first refresh token, atomically: when the session id or the token's
	// hash is taken, it returns an error and stores neither.
	CreateSession(ctx context.Context, s *Session, refresh *RefreshToken) error
	// ListSessions returns the user's live sessions at now, newest first
	// (by CreatedAt, then by ID, both descending).
	ListSessions(ctx context.Context, userID uuid.UUID, now time.Time) ([]*Session, error)
	// EndSession ends one live session of the user and deletes its refresh
	// tokens. It returns ErrSessionNotFound when the user has no such live
	// session.
	EndSession(ctx context.Context, userID, sid uuid.UUID, now time.Time) error
	// EndSessions ends every live session of the user but except (which
	// may be uuid.Nil) and deletes the refresh tokens of the user's
	// sessions but except; it returns how many sessions it ended.
	EndSessions(ctx context.Context, userID, except uuid.UUID, now time.Time) (int, error)
	// KnownClient reports whether the user has had a session created from
	// the IP address at or after since, whether it is still live or not.
	KnownClient(ctx context.Context, userID uuid.UUID, ip string, since time.Time) (bool, error)
	// GetRefreshToken loads a refresh token by its hash, with its session
	// and the session's user, in one round trip. It returns
	// ErrRefreshTokenNotFound when no token has the hash, its session has
	// ended or is gone, or its user is gone. A token that was used or has
	// expired, or whose session has expired or was made with an older
	// credential version, is returned: the caller judges it.
	GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, *Session, *User, error)
	// RotateRefreshToken marks the token with hash old as used, stores
	// next, and records the refresh on the session next.SessionID (old's
	// session): LastUsedAt = now, ExpiresAt = sessionExpiresAt. It does so
	// atomically and only if old was not used yet: of concurrent rotations
	// of one token exactly one succeeds, and the others get
	// ErrRefreshTokenUsed — as does a hash no token has (deleted with its
	// ended session, say). It returns ErrSessionNotFound when the session
	// has ended or is gone. On an error, nothing changes.
	RotateRefreshToken(ctx context.Context, old string, next *RefreshToken, now, sessionExpiresAt time.Time) error
	// Prune deletes what can no longer be used: refresh tokens whose
	// ExpiresAt is before now, sessions that expired or ended before
	// keepUntil with their refresh tokens, and rate limiter counters that
	// are back at rest (a TAT before now). It returns how many rows it
	// deleted.
	Prune(ctx context.Context, now, keepUntil time.Time) (int, error)
}

// LimitStore keeps the rate limiter's counters: one theoretical arrival
// time (TAT) per key, as the generic cell rate algorithm (GCRA) defines it.
// Keys are opaque strings of at most 64 bytes. Stores shared by several
// instances (a database) make every instance see the same counters.
type LimitStore interface {
	// TakeLimit charges one event to key, atomically, if the key's budget
	// allows it: with TAT' = max(TAT, now) + interval, the event is allowed
	// when TAT' - burst·interval <= now, and TAT' is then stored. It
	// returns 0 when allowed, otherwise how long until one event would be
	// (and stores nothing). An interval under a millisecond or a burst
	// under 1 is an error: a store may keep TATs to the millisecond.
	TakeLimit(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (retryAfter time.Duration, err error)
	// PeekLimits returns the stored TAT of each key (the zero time for an
	// unknown key), in the order of keys, without changing anything.
	PeekLimits(ctx context.Context, keys []string) ([]time.Time, error)
}

// UserChanges are the stored fields an update sets; nil fields are left
// alone. FullName is set (possibly to NULL) when SetFullName is true.
type UserChanges struct {
	Email            *string
	HashedPassword   *string
	SetFullName      bool
	FullName         *string
	IsActive         *bool
	IsSuperuser      *bool
	IsVerified       *bool
	TokensValidAfter *time.Time
	// BumpCredentials increments the user's credential version in the same
	// statement as the other changes, which ends every session made with
	// the previous version — also one a concurrent login creates after
	// reading the old password.
	BumpCredentials bool
	// KeepSession, with BumpCredentials, moves this session of the user
	// to the new credential version, in the same transaction, if it has not
	// ended and was made with the previous version: a user changing their
	// own password stays logged in on the device they changed it from.
	// UpdateUser has no clock, so whether the session expired is not
	// checked (an expired session that is moved stays expired). Without
	// BumpCredentials it is ignored.
	KeepSession uuid.UUID
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
	// IfHashedPassword, when set, makes the update conditional: it applies
	// only while the stored hash still equals it, and otherwise returns
	// ErrUserNotFound, changing nothing.
	IfHashedPassword *string
}

// IsZero reports whether ch changes nothing.
func (ch UserChanges) IsZero() bool {
	return ch.Email == nil && ch.HashedPassword == nil && !ch.SetFullName && ch.IsActive == nil &&
		ch.IsSuperuser == nil && ch.IsVerified == nil && ch.TokensValidAfter == nil && !ch.BumpCredentials &&
		ch.Extra == nil
}

// ListParams selects a page of users.
type ListParams struct {
	// Offset is the number of users to skip.
	Offset int
	// Limit is the page size; the Manager bounds it (see MaxPageSize).
	Limit int
}
