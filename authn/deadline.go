package authn

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// deadlineStore bounds every call to a Store: a database that does not
// answer within d fails the call with ErrUnavailable, instead of holding
// the request for as long as the server hangs.
type deadlineStore struct {
	s Store
	d time.Duration
}

// bounded runs f with the store deadline. A call that fails because the
// deadline passed — not because the caller's own context ended — is
// reported as ErrUnavailable.
func bounded[T any](ctx context.Context, d time.Duration, f func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := f(cctx)
	if err != nil && ctx.Err() == nil && cctx.Err() != nil && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: no answer within %v: %w", ErrUnavailable, d, err)
	}
	return v, err
}

func bounded0(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	_, err := bounded(ctx, d, func(ctx context.Context) (struct{}, error) { return struct{}{}, f(ctx) })
	return err
}

func (s deadlineStore) GetUserByID(ctx context.Context, id uuid.UUID) (*User, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (*User, error) { return s.s.GetUserByID(ctx, id) })
}

func (s deadlineStore) GetUserByEmail(ctx context.Context, email string) (*User, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (*User, error) { return s.s.GetUserByEmail(ctx, email) })
}

func (s deadlineStore) CreateUser(ctx context.Context, u *User, extra any) (*User, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (*User, error) { return s.s.CreateUser(ctx, u, extra) })
}

func (s deadlineStore) UpdateUser(ctx context.Context, id uuid.UUID, ch UserChanges) (*User, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (*User, error) { return s.s.UpdateUser(ctx, id, ch) })
}

func (s deadlineStore) DeleteUser(ctx context.Context, id uuid.UUID) error {
	return bounded0(ctx, s.d, func(ctx context.Context) error { return s.s.DeleteUser(ctx, id) })
}

func (s deadlineStore) ListUsers(ctx context.Context, p ListParams) ([]*User, int, error) {
	type page struct {
		us    []*User
		total int
	}
	r, err := bounded(ctx, s.d, func(ctx context.Context) (page, error) {
		us, total, err := s.s.ListUsers(ctx, p)
		return page{us, total}, err
	})
	return r.us, r.total, err
}

func (s deadlineStore) GetUserForToken(ctx context.Context, id, sid uuid.UUID, now time.Time) (*User, bool, error) {
	type res struct {
		u    *User
		live bool
	}
	r, err := bounded(ctx, s.d, func(ctx context.Context) (res, error) {
		u, live, err := s.s.GetUserForToken(ctx, id, sid, now)
		return res{u, live}, err
	})
	return r.u, r.live, err
}

func (s deadlineStore) CreateSession(ctx context.Context, sess *Session, refresh *RefreshToken) error {
	return bounded0(ctx, s.d, func(ctx context.Context) error { return s.s.CreateSession(ctx, sess, refresh) })
}

func (s deadlineStore) ListSessions(ctx context.Context, userID uuid.UUID, now time.Time) ([]*Session, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]*Session, error) { return s.s.ListSessions(ctx, userID, now) })
}

func (s deadlineStore) EndSession(ctx context.Context, userID, sid uuid.UUID, now time.Time) error {
	return bounded0(ctx, s.d, func(ctx context.Context) error { return s.s.EndSession(ctx, userID, sid, now) })
}

func (s deadlineStore) EndSessions(ctx context.Context, userID, except uuid.UUID, now time.Time) (int, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (int, error) { return s.s.EndSessions(ctx, userID, except, now) })
}

func (s deadlineStore) KnownClient(ctx context.Context, userID uuid.UUID, ip string, since time.Time) (bool, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (bool, error) { return s.s.KnownClient(ctx, userID, ip, since) })
}

func (s deadlineStore) GetRefreshToken(ctx context.Context, hash string) (*RefreshToken, *Session, *User, error) {
	type res struct {
		rt *RefreshToken
		s  *Session
		u  *User
	}
	r, err := bounded(ctx, s.d, func(ctx context.Context) (res, error) {
		rt, sess, u, err := s.s.GetRefreshToken(ctx, hash)
		return res{rt, sess, u}, err
	})
	return r.rt, r.s, r.u, err
}

func (s deadlineStore) RotateRefreshToken(ctx context.Context, old string, next *RefreshToken, now, exp time.Time) error {
	return bounded0(ctx, s.d, func(ctx context.Context) error { return s.s.RotateRefreshToken(ctx, old, next, now, exp) })
}

func (s deadlineStore) Prune(ctx context.Context, now, keepUntil time.Time) (int, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (int, error) { return s.s.Prune(ctx, now, keepUntil) })
}

func (s deadlineStore) TakeLimit(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	return deadlineLimits{s.s, s.d}.TakeLimit(ctx, key, now, interval, burst)
}

func (s deadlineStore) PeekLimits(ctx context.Context, keys []string) ([]time.Time, error) {
	return deadlineLimits{s.s, s.d}.PeekLimits(ctx, keys)
}

// deadlineLimits bounds every call to a LimitStore as deadlineStore does.
type deadlineLimits struct {
	s LimitStore
	d time.Duration
}

func (s deadlineLimits) TakeLimit(ctx context.Context, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	return bounded(ctx, s.d, func(ctx context.Context) (time.Duration, error) {
		return s.s.TakeLimit(ctx, key, now, interval, burst)
	})
}

func (s deadlineLimits) PeekLimits(ctx context.Context, keys []string) ([]time.Time, error) {
	return bounded(ctx, s.d, func(ctx context.Context) ([]time.Time, error) { return s.s.PeekLimits(ctx, keys) })
}

// equalConstantTime compares two strings in time that depends only on
// their lengths.
func equalConstantTime(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
