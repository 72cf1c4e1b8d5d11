// Package authntest checks that an [authn.Store] keeps its contract: the
// conformance suite keylin runs against its own stores (authn.MemoryStore,
// and the ent store on SQLite and PostgreSQL), for an application to run
// against a store of its own.
//
//	func TestStore(t *testing.T) {
//		authntest.TestStore(t, func(t *testing.T) authn.Store {
//			return mystore.New(openEmptyDatabase(t))
//		})
//	}
//
// The suite uses only authn's exported API, so it checks what a Store
// promises, not how it keeps it.
package authntest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

// TestStore runs the conformance suite: one subtest per Store method, and
// under it one per case of the method's contract (TestStore/CreateUser/
// email_taken_in_another_case), each failure naming the call that broke
// it. newStore is called once per case and must return an empty store (no
// users, sessions, refresh tokens or counters); the cases run one after
// the other, some of them with concurrent calls inside.
//
// Times are whole seconds near the current time, and rate limit intervals
// whole milliseconds, so a store may keep times to the microsecond and
// counters to the millisecond. Emails differ in the case of ASCII letters
// only: how other letters fold is the database's business.
func TestStore(t *testing.T, newStore func(t *testing.T) authn.Store) {
	t.Helper()
	for _, m := range methods() {
		t.Run(m.name, func(t *testing.T) {
			for _, c := range m.cases {
				t.Run(c.name, func(t *testing.T) {
					s := newStore(t)
					if s == nil {
						t.Fatal("newStore returned nil")
					}
					c.run(&fixture{T: t, s: s, ctx: t.Context(), now: time.Now().UTC().Truncate(time.Second)})
				})
			}
		})
	}
}

// method is a Store method and the cases of its contract.
type method struct {
	name  string
	cases []storeCase
}

type storeCase struct {
	name string
	run  func(f *fixture)
}

func methods() []method {
	return []method{
		{"GetUserByID", getUserByIDCases},
		{"GetUserByEmail", getUserByEmailCases},
		{"CreateUser", createUserCases},
		{"UpdateUser", updateUserCases},
		{"DeleteUser", deleteUserCases},
		{"ListUsers", listUsersCases},
		{"GetUserForToken", getUserForTokenCases},
		{"CreateSession", createSessionCases},
		{"ListSessions", listSessionsCases},
		{"EndSession", endSessionCases},
		{"EndSessions", endSessionsCases},
		{"KnownClient", knownClientCases},
		{"GetRefreshToken", getRefreshTokenCases},
		{"RotateRefreshToken", rotateRefreshTokenCases},
		{"Prune", pruneCases},
		{"TakeLimit", takeLimitCases},
		{"PeekLimits", peekLimitsCases},
	}
}

// fixture is one case's store, context and clock, with helpers that set
// the store up and fail the case, naming the call, when it refuses.
type fixture struct {
	*testing.T
	s   authn.Store
	ctx context.Context
	// now is the case's present: the current time in whole seconds, UTC.
	now time.Time
}

// at returns the instant d from the case's present.
func (f *fixture) at(d time.Duration) time.Time { return f.now.Add(d) }

// newUser is a user to create: active, with a hash named after its email.
func newUser(email string) *authn.User {
	return &authn.User{Email: email, HashedPassword: "hash of " + email, IsActive: true}
}

// user creates an active user with the email.
func (f *fixture) user(email string) *authn.User {
	f.Helper()
	return f.createUser(newUser(email))
}

func (f *fixture) createUser(in *authn.User) *authn.User {
	f.Helper()
	u, err := f.s.CreateUser(f.ctx, in, nil)
	if err != nil {
		f.Fatalf("setup: CreateUser(%q): %v", in.Email, err)
	}
	return u
}

// reload reads the user back.
func (f *fixture) reload(id uuid.UUID) *authn.User {
	f.Helper()
	u, err := f.s.GetUserByID(f.ctx, id)
	if err != nil {
		f.Fatalf("GetUserByID(%s): %v", id, err)
	}
	return u
}

// update applies ch and fails the case on an error.
func (f *fixture) update(id uuid.UUID, ch authn.UserChanges) *authn.User {
	f.Helper()
	u, err := f.s.UpdateUser(f.ctx, id, ch)
	if err != nil {
		f.Fatalf("UpdateUser(%s): %v", id, err)
	}
	return u
}

// newSession is a session of u made at the case's present with u's
// credential version, expiring in an hour.
func (f *fixture) newSession(u *authn.User, opts ...func(*authn.Session)) *authn.Session {
	s := &authn.Session{
		ID: uuid.New(), UserID: u.ID, CreatedAt: f.now, LastUsedAt: f.now, ExpiresAt: f.at(time.Hour),
		UserAgent: "authntest/1.0", IP: "192.0.2.1", CredentialVersion: u.CredentialVersion,
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// session stores a session of u (see newSession) without a refresh token.
func (f *fixture) session(u *authn.User, opts ...func(*authn.Session)) *authn.Session {
	f.Helper()
	s := f.newSession(u, opts...)
	if err := f.s.CreateSession(f.ctx, s, nil); err != nil {
		f.Fatalf("setup: CreateSession: %v", err)
	}
	return s
}

// sessionWithRefresh stores a session of u with its first refresh token,
// which expires with the session.
func (f *fixture) sessionWithRefresh(u *authn.User, opts ...func(*authn.Session)) (*authn.Session, *authn.RefreshToken) {
	f.Helper()
	s := f.newSession(u, opts...)
	rt := f.newRefresh(s, s.ExpiresAt)
	if err := f.s.CreateSession(f.ctx, s, rt); err != nil {
		f.Fatalf("setup: CreateSession with a refresh token: %v", err)
	}
	return s, rt
}

// newRefresh is a refresh token of s, made at the case's present.
func (f *fixture) newRefresh(s *authn.Session, expires time.Time) *authn.RefreshToken {
	return &authn.RefreshToken{Hash: newHash(), SessionID: s.ID, CreatedAt: f.now, ExpiresAt: expires}
}

// newHash is a random hash in the stored form of a refresh token.
func newHash() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Session options.

func createdAt(t time.Time) func(*authn.Session) {
	return func(s *authn.Session) { s.CreatedAt, s.LastUsedAt = t, t }
}

func expiresAt(t time.Time) func(*authn.Session) {
	return func(s *authn.Session) { s.ExpiresAt = t }
}

func fromIP(ip string) func(*authn.Session) {
	return func(s *authn.Session) { s.IP = ip }
}

func version(v int64) func(*authn.Session) {
	return func(s *authn.Session) { s.CredentialVersion = v }
}

// live reports whether GetUserForToken finds sid live for u at the
// instant.
func (f *fixture) live(u *authn.User, sid uuid.UUID, at time.Time) bool {
	f.Helper()
	got, live, err := f.s.GetUserForToken(f.ctx, u.ID, sid, at)
	if err != nil {
		f.Fatalf("GetUserForToken(%s, %s): %v", u.ID, sid, err)
	}
	if got.ID != u.ID {
		f.Fatalf("GetUserForToken(%s, %s) returned user %s", u.ID, sid, got.ID)
	}
	return live
}

// wantLive fails the case unless sid's liveness for u at the case's
// present is want.
func (f *fixture) wantLive(what string, u *authn.User, sid uuid.UUID, want bool) {
	f.Helper()
	if got := f.live(u, sid, f.now); got != want {
		f.Errorf("%s: GetUserForToken: live = %v, want %v", what, got, want)
	}
}

// sessionIDs lists the ids of u's live sessions at the case's present.
func (f *fixture) sessionIDs(u *authn.User) []uuid.UUID {
	f.Helper()
	ss, err := f.s.ListSessions(f.ctx, u.ID, f.now)
	if err != nil {
		f.Fatalf("ListSessions(%s): %v", u.ID, err)
	}
	ids := make([]uuid.UUID, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}

// refreshGone fails the case unless no refresh token has the hash.
func (f *fixture) refreshGone(what, hash string) {
	f.Helper()
	if _, _, _, err := f.s.GetRefreshToken(f.ctx, hash); !errors.Is(err, authn.ErrRefreshTokenNotFound) {
		f.Errorf("%s: GetRefreshToken = %v, want ErrRefreshTokenNotFound", what, err)
	}
}

// wantErr fails the case unless err wraps target.
func (f *fixture) wantErr(call string, err, target error) {
	f.Helper()
	if !errors.Is(err, target) {
		f.Fatalf("%s: error %v, want %v", call, err, target)
	}
}

// wantOK fails the case on an error.
func (f *fixture) wantOK(call string, err error) {
	f.Helper()
	if err != nil {
		f.Fatalf("%s: %v", call, err)
	}
}

// concurrently runs f(0), …, f(n-1) in n goroutines released at once and
// returns their errors.
func concurrently(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errs by the sentinel they wrap (nil for success); an error
// wrapping none of the sentinels is returned as unexpected.
func tally(errs []error, sentinels ...error) (counts map[error]int, unexpected []error) {
	counts = map[error]int{}
	for _, err := range errs {
		if err == nil {
			counts[nil]++
			continue
		}
		found := false
		for _, s := range sentinels {
			if errors.Is(err, s) {
				counts[s]++
				found = true
				break
			}
		}
		if !found {
			unexpected = append(unexpected, err)
		}
	}
	return counts, unexpected
}

// mixCase writes the ASCII letters of s in upper or lower case after the
// bits of i (the first six letters), so that 64 calls give 64 spellings.
func mixCase(s string, i int) string {
	var b strings.Builder
	bit := 0
	for _, r := range s {
		if r >= 'a' && r <= 'z' && bit < 6 {
			if i>>bit&1 == 1 {
				r -= 'a' - 'A'
			}
			bit++
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sameInstant reports whether a store kept the instant want as got: to
// the microsecond, as PostgreSQL does (it rounds).
func sameInstant(got, want time.Time) bool {
	d := got.Sub(want)
	return d > -time.Microsecond && d < time.Microsecond
}

// sameTime compares two optional instants (see sameInstant).
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return sameInstant(*a, *b)
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// diffUser lists the stored fields in which got differs from want
// (Extra, the store's own type, aside).
func diffUser(got, want *authn.User) []string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.Email != want.Email {
		add("Email", got.Email, want.Email)
	}
	if got.HashedPassword != want.HashedPassword {
		add("HashedPassword", got.HashedPassword, want.HashedPassword)
	}
	if !sameString(got.FullName, want.FullName) {
		add("FullName", deref(got.FullName), deref(want.FullName))
	}
	if got.IsActive != want.IsActive {
		add("IsActive", got.IsActive, want.IsActive)
	}
	if got.IsSuperuser != want.IsSuperuser {
		add("IsSuperuser", got.IsSuperuser, want.IsSuperuser)
	}
	if got.IsVerified != want.IsVerified {
		add("IsVerified", got.IsVerified, want.IsVerified)
	}
	if !sameInstant(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if got.CredentialVersion != want.CredentialVersion {
		add("CredentialVersion", got.CredentialVersion, want.CredentialVersion)
	}
	if !sameTime(got.TokensValidAfter, want.TokensValidAfter) {
		add("TokensValidAfter", deref(got.TokensValidAfter), deref(want.TokensValidAfter))
	}
	return d
}

// diffSession lists the fields in which got differs from want.
func diffSession(got, want *authn.Session) []string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.ID != want.ID {
		add("ID", got.ID, want.ID)
	}
	if got.UserID != want.UserID {
		add("UserID", got.UserID, want.UserID)
	}
	for _, c := range []struct {
		field string
		g, w  time.Time
	}{{"CreatedAt", got.CreatedAt, want.CreatedAt}, {"LastUsedAt", got.LastUsedAt, want.LastUsedAt}, {"ExpiresAt", got.ExpiresAt, want.ExpiresAt}} {
		if !sameInstant(c.g, c.w) {
			add(c.field, c.g, c.w)
		}
	}
	if got.UserAgent != want.UserAgent {
		add("UserAgent", got.UserAgent, want.UserAgent)
	}
	if got.IP != want.IP {
		add("IP", got.IP, want.IP)
	}
	if got.CredentialVersion != want.CredentialVersion {
		add("CredentialVersion", got.CredentialVersion, want.CredentialVersion)
	}
	return d
}

// diffRefresh lists the fields in which got differs from want.
func diffRefresh(got, want *authn.RefreshToken) []string {
	var d []string
	add := func(field string, g, w any) { d = append(d, fmt.Sprintf("%s = %v, want %v", field, g, w)) }
	if got.Hash != want.Hash {
		add("Hash", got.Hash, want.Hash)
	}
	if got.SessionID != want.SessionID {
		add("SessionID", got.SessionID, want.SessionID)
	}
	if !sameInstant(got.CreatedAt, want.CreatedAt) {
		add("CreatedAt", got.CreatedAt, want.CreatedAt)
	}
	if !sameInstant(got.ExpiresAt, want.ExpiresAt) {
		add("ExpiresAt", got.ExpiresAt, want.ExpiresAt)
	}
	if !sameTime(got.UsedAt, want.UsedAt) {
		add("UsedAt", deref(got.UsedAt), deref(want.UsedAt))
	}
	return d
}

// wantUser fails the case when got differs from want.
func (f *fixture) wantUser(call string, got, want *authn.User) {
	f.Helper()
	if d := diffUser(got, want); len(d) > 0 {
		f.Errorf("%s: user differs: %s", call, strings.Join(d, "; "))
	}
}

func (f *fixture) wantSession(call string, got, want *authn.Session) {
	f.Helper()
	if d := diffSession(got, want); len(d) > 0 {
		f.Errorf("%s: session differs: %s", call, strings.Join(d, "; "))
	}
}

func (f *fixture) wantRefresh(call string, got, want *authn.RefreshToken) {
	f.Helper()
	if d := diffRefresh(got, want); len(d) > 0 {
		f.Errorf("%s: refresh token differs: %s", call, strings.Join(d, "; "))
	}
}

func deref[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func ptr[T any](v T) *T { return &v }
