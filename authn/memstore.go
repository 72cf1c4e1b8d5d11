package authn

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MemoryStore is a [Store] in the process's memory: users, sessions,
// refresh tokens and rate limiter counters in maps behind one lock. It is
// meant for unit tests of applications, for examples and for a
// single-process demo, where a database would be in the way:
//
//	m, err := authn.NewManager(authn.NewMemoryStore(), tokens)
//
// It is not a database: nothing survives the process, and two instances
// (or two processes) never see each other's users, sessions or counters.
// Do not run a service on it.
//
// It keeps the Store contract as keylin's ent store does, and passes the
// conformance suite of package authn/authntest: emails are unique ignoring
// case, conditional updates, credential versions and refresh token
// rotation are atomic, and deleting a user deletes its sessions and
// refresh tokens. Values are copied on the way in and out, so a caller
// changing a *User, *Session or *RefreshToken it passed or got back does
// not change what is stored; Extra, the application's fields, is kept and
// returned as is. A MemoryStore is safe for concurrent use; the zero value
// is not ready, use [NewMemoryStore].
type MemoryStore struct {
	mu       sync.RWMutex
	users    map[uuid.UUID]*User
	emails   map[string]uuid.UUID // folded email → user
	sessions map[uuid.UUID]*memSession
	refresh  map[string]*RefreshToken // by hash
	limits   *MemoryLimitStore
}

// memSession is a stored session and when it ended (nil while it has not).
type memSession struct {
	Session
	endedAt *time.Time
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		users:    map[uuid.UUID]*User{},
		emails:   map[string]uuid.UUID{},
		sessions: map[uuid.UUID]*memSession{},
		refresh:  map[string]*RefreshToken{},
		limits:   NewMemoryLimitStore(),
	}
}

var (
	_ Store         = (*MemoryStore)(nil)
	_ UserPreviewer = (*MemoryStore)(nil)
)

// foldEmail is the key an email is unique under: each character replaced
// by the smallest of the characters it equals ignoring case, so that two
// addresses have one key exactly when [strings.EqualFold] says they are
// equal. For ASCII addresses this is what the database's lower(email)
// compares.
func foldEmail(email string) string {
	var b strings.Builder
	b.Grow(len(email))
	for _, r := range email {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	c := *s
	return &c
}

// cloneUser copies u, with the values its pointers point to; Extra is
// shared.
func cloneUser(u *User) *User {
	c := *u
	c.FullName = cloneString(u.FullName)
	c.TokensValidAfter = cloneTime(u.TokensValidAfter)
	return &c
}

func cloneSession(s *Session) *Session {
	c := *s
	return &c
}

func cloneRefresh(rt *RefreshToken) *RefreshToken {
	c := *rt
	c.UsedAt = cloneTime(rt.UsedAt)
	return &c
}

// checkUser refuses what the users table refuses: an empty email, or a
// field longer than its column.
func checkUser(u *User) error {
	switch {
	case u.Email == "":
		return errors.New("authn: memory store: empty email")
	case len(u.Email) > MaxEmailLength:
		return fmt.Errorf("authn: memory store: email longer than %d bytes", MaxEmailLength)
	case len(u.HashedPassword) > MaxHashedPasswordLength:
		return fmt.Errorf("authn: memory store: hashed password longer than %d bytes", MaxHashedPasswordLength)
	case u.FullName != nil && utf8.RuneCountInString(*u.FullName) > MaxFullNameLength:
		return fmt.Errorf("authn: memory store: full name longer than %d characters", MaxFullNameLength)
	}
	return nil
}

// GetUserByID implements [UserStore].
func (s *MemoryStore) GetUserByID(ctx context.Context, id uuid.UUID) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, ErrUserNotFound
	}
	return cloneUser(u), nil
}

// GetUserByEmail implements [UserStore]: the email matches in any letter
// case.
func (s *MemoryStore) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	id, ok := s.emails[foldEmail(email)]
	if !ok {
		return nil, ErrUserNotFound
	}
	return cloneUser(s.users[id]), nil
}

// CreateUser implements [UserStore]. A zero ID is replaced by a random
// one, zero timestamps by the current time; CredentialVersion starts at 0.
// extra is stored as is and returned in User.Extra.
func (s *MemoryStore) CreateUser(ctx context.Context, in *User, extra any) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u := cloneUser(in)
	u.CredentialVersion, u.Extra = 0, extra
	if err := checkUser(u); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	if u.ID == uuid.Nil {
		u.ID = uuid.New()
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = now
	}
	key := foldEmail(u.Email)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.emails[key]; taken {
		return nil, ErrUserAlreadyExists
	}
	if _, taken := s.users[u.ID]; taken {
		return nil, fmt.Errorf("authn: memory store: a user with id %s exists", u.ID)
	}
	s.users[u.ID] = u
	s.emails[key] = u.ID
	return cloneUser(u), nil
}

// UpdateUser implements [UserStore]: the changes, the credential version's
// increment and the move of ch.KeepSession happen under one lock. A
// non-nil ch.Extra replaces the stored Extra. UpdatedAt is set to the
// current time.
func (s *MemoryStore) UpdateUser(ctx context.Context, id uuid.UUID, ch UserChanges) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok || (ch.IfHashedPassword != nil && *ch.IfHashedPassword != old.HashedPassword) {
		return nil, ErrUserNotFound
	}
	u := cloneUser(old)
	if ch.Email != nil {
		u.Email = *ch.Email
	}
	if ch.HashedPassword != nil {
		u.HashedPassword = *ch.HashedPassword
	}
	if ch.SetFullName {
		u.FullName = cloneString(ch.FullName)
	}
	if ch.IsActive != nil {
		u.IsActive = *ch.IsActive
	}
	if ch.IsSuperuser != nil {
		u.IsSuperuser = *ch.IsSuperuser
	}
	if ch.IsVerified != nil {
		u.IsVerified = *ch.IsVerified
	}
	if ch.TokensValidAfter != nil {
		u.TokensValidAfter = cloneTime(ch.TokensValidAfter)
	}
	if ch.Extra != nil {
		u.Extra = ch.Extra
	}
	if err := checkUser(u); err != nil {
		return nil, err
	}
	oldKey, key := foldEmail(old.Email), foldEmail(u.Email)
	if other, taken := s.emails[key]; taken && other != id {
		return nil, ErrEmailAlreadyExists
	}
	if ch.BumpCredentials {
		u.CredentialVersion++
		if ss, ok := s.sessions[ch.KeepSession]; ok && ss.UserID == id && ss.endedAt == nil &&
			ss.CredentialVersion == old.CredentialVersion {
			ss.CredentialVersion = u.CredentialVersion
		}
	}
	u.UpdatedAt = time.Now().UTC()
	delete(s.emails, oldKey)
	s.emails[key] = id
	s.users[id] = u
	return cloneUser(u), nil
}

// DeleteUser implements [UserStore]. It never returns ErrUserHasData: a
// MemoryStore holds no rows of the application.
func (s *MemoryStore) DeleteUser(ctx context.Context, id uuid.UUID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return ErrUserNotFound
	}
	for hash, rt := range s.refresh {
		if ss, ok := s.sessions[rt.SessionID]; ok && ss.UserID == id {
			delete(s.refresh, hash)
		}
	}
	for sid, ss := range s.sessions {
		if ss.UserID == id {
			delete(s.sessions, sid)
		}
	}
	delete(s.emails, foldEmail(u.Email))
	delete(s.users, id)
	return nil
}

// ListUsers implements [UserStore]: users by CreatedAt, then by ID. A
// Limit of 0 returns no users, only the total.
func (s *MemoryStore) ListUsers(ctx context.Context, p ListParams) ([]*User, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	if p.Offset < 0 || p.Limit < 0 {
		return nil, 0, errors.New("authn: memory store: negative offset or limit")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	all := make([]*User, 0, len(s.users))
	for _, u := range s.users {
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b *User) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	page := all[min(p.Offset, len(all)):]
	page = page[:min(p.Limit, len(page))]
	out := make([]*User, len(page))
	for i, u := range page {
		out[i] = cloneUser(u)
	}
	return out, len(all), nil
}

// PreviewExtra implements [UserPreviewer]: a user created with extra
// carries extra as is.
func (s *MemoryStore) PreviewExtra(extra any) any { return extra }

// live reports whether ss is a live session of its user at now. The
// caller holds the lock.
func (s *MemoryStore) live(ss *memSession, now time.Time) bool {
	u, ok := s.users[ss.UserID]
	return ok && ss.endedAt == nil && now.Before(ss.ExpiresAt) && ss.CredentialVersion == u.CredentialVersion
}

// GetUserForToken implements [SessionStore].
func (s *MemoryStore) GetUserForToken(ctx context.Context, id, sid uuid.UUID, now time.Time) (*User, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[id]
	if !ok {
		return nil, false, ErrUserNotFound
	}
	if sid == uuid.Nil {
		return cloneUser(u), false, nil
	}
	ss, ok := s.sessions[sid]
	return cloneUser(u), ok && ss.UserID == id && s.live(ss, now), nil
}

// CreateSession implements [SessionStore]. The user need not exist (as in
// the database, sessions have no foreign key); a session id or refresh
// token hash that is taken is an error, and then nothing is stored.
func (s *MemoryStore) CreateSession(ctx context.Context, in *Session, refresh *RefreshToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case len(in.UserAgent) > MaxUserAgentLength:
		return fmt.Errorf("authn: memory store: user agent longer than %d bytes", MaxUserAgentLength)
	case len(in.IP) > MaxIPLength:
		return fmt.Errorf("authn: memory store: IP longer than %d bytes", MaxIPLength)
	}
	if refresh != nil {
		if err := checkRefresh(refresh); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.sessions[in.ID]; taken {
		return fmt.Errorf("authn: memory store: a session with id %s exists", in.ID)
	}
	if refresh != nil {
		if _, taken := s.refresh[refresh.Hash]; taken {
			return errors.New("authn: memory store: the refresh token hash exists")
		}
		s.refresh[refresh.Hash] = cloneRefresh(refresh)
	}
	s.sessions[in.ID] = &memSession{Session: *cloneSession(in)}
	return nil
}

// checkRefresh refuses a refresh token hash the table would refuse.
func checkRefresh(rt *RefreshToken) error {
	if rt.Hash == "" || len(rt.Hash) > 64 {
		return errors.New("authn: memory store: a refresh token hash is 1 to 64 bytes")
	}
	return nil
}

// ListSessions implements [SessionStore]: newest first, by CreatedAt and
// then by ID, descending.
func (s *MemoryStore) ListSessions(ctx context.Context, userID uuid.UUID, now time.Time) ([]*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*Session{}
	for _, ss := range s.sessions {
		if ss.UserID == userID && s.live(ss, now) {
			out = append(out, cloneSession(&ss.Session))
		}
	}
	slices.SortFunc(out, func(a, b *Session) int {
		return -cmp.Or(a.CreatedAt.Compare(b.CreatedAt), bytes.Compare(a.ID[:], b.ID[:]))
	})
	return out, nil
}

// endSession ends ss at now and deletes its refresh tokens. The caller
// holds the lock.
func (s *MemoryStore) endSession(ss *memSession, now time.Time) {
	ss.endedAt = &now
	s.deleteRefresh(func(rt *RefreshToken) bool { return rt.SessionID == ss.ID })
}

// deleteRefresh deletes the refresh tokens f selects and returns how many.
// The caller holds the lock.
func (s *MemoryStore) deleteRefresh(f func(*RefreshToken) bool) int {
	n := 0
	for hash, rt := range s.refresh {
		if f(rt) {
			delete(s.refresh, hash)
			n++
		}
	}
	return n
}

// EndSession implements [SessionStore].
func (s *MemoryStore) EndSession(ctx context.Context, userID, sid uuid.UUID, now time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[sid]
	if !ok || ss.UserID != userID || !s.live(ss, now) {
		return ErrSessionNotFound
	}
	s.endSession(ss, now)
	return nil
}

// EndSessions implements [SessionStore]. Like the ent store, it deletes
// the refresh tokens of every session of the user but except, live or not.
func (s *MemoryStore) EndSessions(ctx context.Context, userID, except uuid.UUID, now time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ss := range s.sessions {
		if ss.UserID != userID || ss.ID == except {
			continue
		}
		if s.live(ss, now) {
			ss.endedAt = &now
			n++
		}
		s.deleteRefresh(func(rt *RefreshToken) bool { return rt.SessionID == ss.ID })
	}
	return n, nil
}

// KnownClient implements [SessionStore]: any session of the user from ip
// created at or after since counts, whether it is still live or not.
func (s *MemoryStore) KnownClient(ctx context.Context, userID uuid.UUID, ip string, since time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ss := range s.sessions {
		if ss.UserID == userID && ss.IP == ip && !ss.CreatedAt.Before(since) {
			return true, nil
		}
	}
	return false, nil
}

// GetRefreshToken implements [SessionStore].
func (s *MemoryStore) GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, *Session, *User, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rt, ok := s.refresh[hash]
	if !ok {
		return nil, nil, nil, ErrRefreshTokenNotFound
	}
	ss, ok := s.sessions[rt.SessionID]
	if !ok || ss.endedAt != nil {
		return nil, nil, nil, ErrRefreshTokenNotFound
	}
	u, ok := s.users[ss.UserID]
	if !ok {
		return nil, nil, nil, ErrRefreshTokenNotFound
	}
	return cloneRefresh(rt), cloneSession(&ss.Session), cloneUser(u), nil
}

// RotateRefreshToken implements [SessionStore]: under one lock, so of
// concurrent rotations of one token exactly one finds it unused.
func (s *MemoryStore) RotateRefreshToken(ctx context.Context, old string, next *RefreshToken, now, sessionExpiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkRefresh(next); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[next.SessionID]
	if !ok || ss.endedAt != nil {
		return ErrSessionNotFound
	}
	rt, ok := s.refresh[old]
	if !ok || rt.UsedAt != nil {
		return ErrRefreshTokenUsed
	}
	if _, taken := s.refresh[next.Hash]; taken {
		return errors.New("authn: memory store: the refresh token hash exists")
	}
	rt.UsedAt = &now
	s.refresh[next.Hash] = cloneRefresh(next)
	ss.LastUsedAt, ss.ExpiresAt = now, sessionExpiresAt
	return nil
}

// Prune implements [SessionStore].
func (s *MemoryStore) Prune(ctx context.Context, now, keepUntil time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.deleteRefresh(func(rt *RefreshToken) bool { return rt.ExpiresAt.Before(now) })
	for sid, ss := range s.sessions {
		_, hasUser := s.users[ss.UserID]
		if !hasUser || ss.ExpiresAt.Before(keepUntil) || (ss.endedAt != nil && ss.endedAt.Before(keepUntil)) {
			delete(s.sessions, sid)
			n++
		}
	}
	n += s.deleteRefresh(func(rt *RefreshToken) bool {
		_, ok := s.sessions[rt.SessionID]
		return !ok
	})
	return n + s.limits.prune(now), nil
}

// TakeLimit implements [LimitStore] with a [MemoryLimitStore].
func (s *MemoryStore) TakeLimit(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return s.limits.TakeLimit(ctx, key, now, interval, burst)
}

// PeekLimits implements [LimitStore] with a [MemoryLimitStore].
func (s *MemoryStore) PeekLimits(ctx context.Context, keys []string) ([]time.Time, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.limits.PeekLimits(ctx, keys)
}
