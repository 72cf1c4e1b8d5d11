package authn_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/dbtest"
)

// clientCtx is a request context from a client at ip.
func clientCtx(ip string) context.Context {
	return authn.WithClient(context.Background(), authn.Client{IP: ip, UserAgent: "test-agent/1.0", RequestID: "req-" + ip})
}

// clock is a settable clock for the Manager.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now().UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestSessions(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		u := e.register(t, "sam@example.com")
		ctx := clientCtx("192.0.2.10")
		g1, err := e.m.Login(ctx, "sam@example.com", testPassword)
		if err != nil {
			t.Fatal(err)
		}
		g2, err := e.m.Login(clientCtx("198.51.100.7"), "sam@example.com", testPassword)
		if err != nil {
			t.Fatal(err)
		}

		t.Run("LoginCreatesSession", func(t *testing.T) {
			if g1.Claims.SessionID == uuid.Nil || g1.Claims.SessionID != g1.Session.ID {
				t.Fatalf("token sid %v, session %v", g1.Claims.SessionID, g1.Session.ID)
			}
			ss, err := e.m.Sessions(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) != 2 {
				t.Fatalf("%d sessions, want 2", len(ss))
			}
			// Newest first.
			if ss[0].ID != g2.Session.ID || ss[1].ID != g1.Session.ID {
				t.Fatalf("order %v %v", ss[0].ID, ss[1].ID)
			}
			s := ss[1]
			if s.IP != "192.0.2.10" || s.UserAgent != "test-agent/1.0" || s.UserID != u.ID ||
				!s.ExpiresAt.After(s.CreatedAt) || s.LastUsedAt.IsZero() {
				t.Fatalf("session = %+v", s)
			}
		})
		t.Run("TokenBoundToSession", func(t *testing.T) {
			_, claims, err := e.m.UserFromToken(ctx, g1.AccessToken)
			if err != nil || claims.SessionID != g1.Session.ID {
				t.Fatalf("claims %+v, err %v", claims, err)
			}
		})
		t.Run("LogoutEndsThatSession", func(t *testing.T) {
			_, claims, _ := e.m.UserFromToken(ctx, g1.AccessToken)
			if err := e.m.Logout(ctx, u, claims); err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.m.UserFromToken(ctx, g1.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("logged-out token: %v", err)
			}
			if _, _, err := e.m.UserFromToken(ctx, g2.AccessToken); err != nil {
				t.Fatalf("the other session: %v", err)
			}
			ss, _ := e.m.Sessions(ctx, u)
			if len(ss) != 1 || ss[0].ID != g2.Session.ID {
				t.Fatalf("sessions after logout: %d", len(ss))
			}
		})
		t.Run("EndOne", func(t *testing.T) {
			g3, _ := e.m.Login(ctx, "sam@example.com", testPassword)
			if err := e.m.EndSession(ctx, u, g3.Session.ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := e.m.UserFromToken(ctx, g3.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("ended session's token: %v", err)
			}
			if err := e.m.EndSession(ctx, u, g3.Session.ID); !errors.Is(err, authn.ErrSessionNotFound) {
				t.Fatalf("ending it twice: %v", err)
			}
			other := e.register(t, "other@example.com")
			if err := e.m.EndSession(ctx, other, g2.Session.ID); !errors.Is(err, authn.ErrSessionNotFound) {
				t.Fatalf("ending another user's session: %v", err)
			}
			if _, _, err := e.m.UserFromToken(ctx, g2.AccessToken); err != nil {
				t.Fatalf("a session ended through another user: %v", err)
			}
		})
		t.Run("EndOthersKeepsCurrent", func(t *testing.T) {
			keep, _ := e.m.Login(ctx, "sam@example.com", testPassword)
			gone, _ := e.m.Login(ctx, "sam@example.com", testPassword)
			py := fastapiUsersToken(t, u.ID)
			n, err := e.m.EndSessions(ctx, u, keep.Session.ID)
			if err != nil || n < 2 {
				t.Fatalf("ended %d (%v), want at least 2", n, err)
			}
			if _, _, err := e.m.UserFromToken(ctx, keep.AccessToken); err != nil {
				t.Fatalf("kept session: %v", err)
			}
			for name, tok := range map[string]string{"Other": gone.AccessToken, "Earlier": g2.AccessToken, "FastAPIUsers": py} {
				if _, _, err := e.m.UserFromToken(ctx, tok); !errors.Is(err, authn.ErrInvalidToken) {
					t.Errorf("%s token after ending the others: %v", name, err)
				}
			}
		})
		t.Run("KnownClient", func(t *testing.T) {
			for ip, want := range map[string]bool{"192.0.2.10": true, "198.51.100.7": true, "203.0.113.99": false} {
				known, err := e.store.KnownClient(ctx, u.ID, ip, time.Now().Add(-time.Hour))
				if err != nil || known != want {
					t.Errorf("KnownClient(%s) = %v, %v; want %v", ip, known, err, want)
				}
			}
		})
	})
}

func TestSessionExpiryAndPrune(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		clk := newClock()
		db := dbtest.Migrated(t, d)
		e := newEnvOn(t, db, authn.WithClock(clk.Now))
		u := e.register(t, "exp@example.com")
		g, err := e.m.Login(context.Background(), "exp@example.com", testPassword)
		if err != nil {
			t.Fatal(err)
		}
		// The session lasts as long as its access token (refresh off); the
		// token's own exp is checked against the real clock, the session's
		// against the Manager's.
		clk.Advance(authn.DefaultTokenLifetime + time.Second)
		if _, _, err := e.m.UserFromToken(context.Background(), g.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("token of an expired session: %v", err)
		}
		if ss, _ := e.m.Sessions(context.Background(), u); len(ss) != 0 {
			t.Fatalf("expired session listed: %d", len(ss))
		}
		// Kept (known client) until the retention passes, then pruned.
		if n, err := e.m.PruneSessions(context.Background()); err != nil || n != 0 {
			t.Fatalf("pruned %d (%v) right after expiry, want 0", n, err)
		}
		clk.Advance(31 * 24 * time.Hour)
		if n, err := e.m.PruneSessions(context.Background()); err != nil || n != 1 {
			t.Fatalf("pruned %d (%v) after the retention, want 1", n, err)
		}
	})
}

// TestPasswordChangeKeepsCurrentSession: a user's own password change ends
// every other session and keeps the one it was made from (ASVS 7.4.3), so
// a fastapi-users client that changes its password and goes on with its
// token keeps working; a reset, a superuser's change, deactivation and
// deletion end them all.
func TestPasswordChangeKeepsCurrentSession(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		valid := func(tok string) bool { _, _, err := e.m.UserFromToken(ctx, tok); return err == nil }

		t.Run("Self", func(t *testing.T) {
			u := e.register(t, "self@example.com")
			current, _ := e.m.Login(ctx, "self@example.com", testPassword)
			other, _ := e.m.Login(ctx, "self@example.com", testPassword)
			py := fastapiUsersToken(t, u.ID)
			np := "a brand new passphrase"
			nu, err := e.m.UpdateSelf(ctx, u, current.Session.ID, authn.UserUpdate{Password: &np})
			if err != nil {
				t.Fatal(err)
			}
			if nu.CredentialVersion != u.CredentialVersion+1 {
				t.Fatalf("credential version %d → %d", u.CredentialVersion, nu.CredentialVersion)
			}
			if !valid(current.AccessToken) {
				t.Fatal("the session that changed the password ended")
			}
			if valid(other.AccessToken) || valid(py) {
				t.Fatal("another session survived the password change")
			}
			ss, _ := e.m.Sessions(ctx, nu)
			if len(ss) != 1 || ss[0].ID != current.Session.ID {
				t.Fatalf("sessions after the change: %d", len(ss))
			}
		})
		ends := map[string]func(t *testing.T, u *authn.User){
			"Superuser": func(t *testing.T, u *authn.User) {
				np := "set by an administrator"
				if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Password: &np}); err != nil {
					t.Fatal(err)
				}
			},
			"Deactivation": func(t *testing.T, u *authn.User) {
				no, yes := false, true
				if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{IsActive: &no}); err != nil {
					t.Fatal(err)
				}
				// Reactivation does not bring the sessions back.
				if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{IsActive: &yes}); err != nil {
					t.Fatal(err)
				}
			},
			"Reset": func(t *testing.T, u *authn.User) {
				if err := e.m.ForgotPassword(ctx, u.Email); err != nil {
					t.Fatal(err)
				}
				if _, err := e.m.ResetPassword(ctx, e.hooks.token(e.hooks.reset, u.Email), "reset to something new"); err != nil {
					t.Fatal(err)
				}
			},
			"Deletion": func(t *testing.T, u *authn.User) {
				if err := e.m.Delete(ctx, u); err != nil {
					t.Fatal(err)
				}
			},
		}
		for name, end := range ends {
			t.Run(name, func(t *testing.T) {
				email := "end-" + name + "@example.com"
				u := e.register(t, email)
				g, _ := e.m.Login(ctx, email, testPassword)
				end(t, u)
				if valid(g.AccessToken) {
					t.Fatalf("%s left a session alive", name)
				}
			})
		}
	})
}

// pausingStore stops a login between reading the user and hashing, so that
// a password change can land in that window.
type pausingStore struct {
	authn.Store
	armed   atomic.Bool
	reached chan struct{}
	proceed chan struct{}
}

func (s *pausingStore) GetUserByEmail(ctx context.Context, email string) (*authn.User, error) {
	u, err := s.Store.GetUserByEmail(ctx, email)
	if s.armed.CompareAndSwap(true, false) {
		s.reached <- struct{}{}
		<-s.proceed
	}
	return u, err
}

// TestLoginRacingPasswordChange is the regression test of the defect where
// a login that read the old hash before a password change got a token that
// outlived the change. The login is stopped after reading the user, the
// password changes (through another instance), then the login completes:
// its credentials were checked against the old hash, so the session it
// creates must be dead on arrival, and its refresh token too.
func TestLoginRacingPasswordChange(t *testing.T) {
	changes := map[string]func(t *testing.T, e *env, u *authn.User){
		"SelfChange": func(t *testing.T, e *env, u *authn.User) {
			np := "changed while logging in"
			if _, err := e.m.UpdateSelf(context.Background(), u, uuid.Nil, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
		},
		"Reset": func(t *testing.T, e *env, u *authn.User) {
			if err := e.m.ForgotPassword(context.Background(), u.Email); err != nil {
				t.Fatal(err)
			}
			tok := e.hooks.token(e.hooks.reset, u.Email)
			if _, err := e.m.ResetPassword(context.Background(), tok, "reset while logging in"); err != nil {
				t.Fatal(err)
			}
		},
	}
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)
		other := newEnvOn(t, db) // the instance the change goes through
		for name, change := range changes {
			t.Run(name, func(t *testing.T) {
				ps := &pausingStore{reached: make(chan struct{}), proceed: make(chan struct{})}
				base := newEnvOn(t, db)
				ps.Store = base.store
				racer, err := authn.NewManager(ps, base.tokens, authn.WithHasher(newHasher(t)),
					authn.WithLimits(authn.NoLimits()), authn.WithRefreshTokens(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				email := "race-" + name + "@example.com"
				u := other.register(t, email)
				ps.armed.Store(true)
				type result struct {
					g   *authn.Grant
					err error
				}
				done := make(chan result, 1)
				go func() {
					g, err := racer.Login(context.Background(), email, testPassword)
					done <- result{g, err}
				}()
				<-ps.reached
				change(t, other, u)
				close(ps.proceed)
				r := <-done
				if r.err != nil {
					t.Fatalf("the racing login failed: %v (it checked the old password, which was right when read)", r.err)
				}
				if _, _, err := racer.UserFromToken(context.Background(), r.g.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("the racing login's token outlived the password change: %v", err)
				}
				if _, _, err := other.m.UserFromToken(context.Background(), r.g.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("the other instance accepts the racing login's token: %v", err)
				}
				if _, err := racer.Refresh(context.Background(), r.g.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
					t.Fatalf("the racing login's refresh token works: %v", err)
				}
			})
		}
	})
}

// TestConcurrentLoginsRacingPasswordChange hammers the same window without
// pausing: many logins with the old password on two instances while one
// of them changes the password. Every token obtained with the old
// password must be refused afterwards.
func TestConcurrentLoginsRacingPasswordChange(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)
		// Near-free hashing: the window between reading the hash and
		// creating the session is then mostly database work, as tight as it
		// gets.
		fast := authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
		a := newEnvOn(t, db, authn.WithHasher(authn.NewHasherUnchecked(fast, 8, time.Minute)))
		b := newEnvOn(t, db, authn.WithHasher(authn.NewHasherUnchecked(fast, 8, time.Minute)))
		ctx := context.Background()
		for round := range 3 {
			email := "hammer" + string(rune('a'+round)) + "@example.com"
			u := a.register(t, email)
			const logins = 24
			var (
				wg       sync.WaitGroup
				mu       sync.Mutex
				tokens   []string
				finished []time.Time
			)
			start := make(chan struct{})
			for i := range logins {
				m := a.m
				if i%2 == 1 {
					m = b.m
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					time.Sleep(time.Duration(i%6) * 2 * time.Millisecond)
					if g, err := m.Login(ctx, email, testPassword); err == nil {
						mu.Lock()
						tokens = append(tokens, g.AccessToken)
						finished = append(finished, time.Now())
						mu.Unlock()
					}
				}()
			}
			close(start)
			time.Sleep(4 * time.Millisecond)
			np := "the new password " + email
			if _, err := b.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
			changed := time.Now()
			wg.Wait()
			late := 0
			for _, f := range finished {
				if f.After(changed) {
					late++
				}
			}
			for _, tok := range tokens {
				if _, _, err := a.m.UserFromToken(ctx, tok); !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("round %d: a token from a login with the old password survived the change (%d logins got tokens)", round, len(tokens))
				}
			}
			t.Logf("round %d: %d of %d old-password logins got a token, %d of them after the change was stored; all refused", round, len(tokens), logins, late)
		}
	})
}

func TestRefresh(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		clk := newClock()
		db := dbtest.Migrated(t, d)
		e := newEnvOn(t, db, authn.WithRefreshTokens(24*time.Hour), authn.WithClock(clk.Now))
		ctx := clientCtx("192.0.2.44")
		u := e.register(t, "rey@example.com")
		login := func(t *testing.T) *authn.Grant {
			t.Helper()
			g, err := e.m.Login(ctx, "rey@example.com", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if len(g.RefreshToken) != authn.RefreshTokenLength || g.RefreshExpiresAt.IsZero() {
				t.Fatalf("grant without refresh token: %+v", g)
			}
			return g
		}

		t.Run("Rotation", func(t *testing.T) {
			g := login(t)
			clk.Advance(time.Minute)
			n, err := e.m.Refresh(ctx, g.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			if n.RefreshToken == g.RefreshToken {
				t.Fatal("refresh returned the same refresh token")
			}
			if n.Claims.SessionID != g.Session.ID {
				t.Fatal("the refreshed token belongs to another session")
			}
			if _, _, err := e.m.UserFromToken(ctx, n.AccessToken); err != nil {
				t.Fatal(err)
			}
			ss, _ := e.m.Sessions(ctx, u)
			i := slices.IndexFunc(ss, func(s *authn.Session) bool { return s.ID == g.Session.ID })
			if i < 0 || !ss[i].LastUsedAt.Equal(clk.Now()) || !ss[i].ExpiresAt.Equal(clk.Now().Add(24*time.Hour)) {
				t.Fatalf("session after refresh: %+v", ss[i])
			}
			// Its hash only is stored.
			if _, err := e.client.RefreshToken.Get(context.Background(), n.RefreshToken); err == nil {
				t.Fatal("the refresh token is stored in clear")
			}
		})
		t.Run("ReuseEndsSession", func(t *testing.T) {
			g := login(t)
			n, err := e.m.Refresh(ctx, g.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			// Moments later (a client's concurrent request): refused, session kept.
			if _, err := e.m.Refresh(ctx, g.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("reuse within the grace: %v", err)
			}
			if _, _, err := e.m.UserFromToken(ctx, n.AccessToken); err != nil {
				t.Fatalf("session ended by a reuse within the grace: %v", err)
			}
			// Later: a stolen token raced its owner; the session ends.
			clk.Advance(time.Minute)
			if _, err := e.m.Refresh(ctx, g.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("reuse: %v", err)
			}
			if _, _, err := e.m.UserFromToken(ctx, n.AccessToken); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("reuse detection did not end the session: %v", err)
			}
			if _, err := e.m.Refresh(ctx, n.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("the newest refresh token of an ended session: %v", err)
			}
		})
		t.Run("ConcurrentRefreshOneWins", func(t *testing.T) {
			g := login(t)
			const n = 20
			var ok, bad atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			var other atomic.Value
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := e.m.Refresh(ctx, g.RefreshToken)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, authn.ErrRefreshTokenInvalid):
						bad.Add(1)
					default:
						other.Store(err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if err := other.Load(); err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if ok.Load() != 1 || bad.Load() != n-1 {
				t.Fatalf("%d refreshes succeeded, %d refused; want 1 and %d", ok.Load(), bad.Load(), n-1)
			}
		})
		t.Run("Refused", func(t *testing.T) {
			cases := map[string]func(t *testing.T) string{
				"Malformed": func(*testing.T) string { return "not-a-refresh-token" },
				"Unknown":   func(*testing.T) string { return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
				"AccessTok": func(t *testing.T) string { return login(t).AccessToken },
				"Logout": func(t *testing.T) string {
					g := login(t)
					if err := e.m.Logout(ctx, u, g.Claims); err != nil {
						t.Fatal(err)
					}
					return g.RefreshToken
				},
				"Expired": func(t *testing.T) string {
					g := login(t)
					clk.Advance(25 * time.Hour)
					return g.RefreshToken
				},
			}
			for name, tok := range cases {
				t.Run(name, func(t *testing.T) {
					if _, err := e.m.Refresh(ctx, tok(t)); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
						t.Fatalf("err = %v, want ErrRefreshTokenInvalid", err)
					}
				})
			}
		})
		t.Run("CredentialChangeEndsRefresh", func(t *testing.T) {
			g := login(t)
			np := "changed elsewhere entirely"
			if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Refresh(ctx, g.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("refresh after a password change: %v", err)
			}
			np2 := testPassword
			if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Password: &np2}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("Off", func(t *testing.T) {
			off := newEnvOn(t, db)
			g, err := off.m.Login(ctx, "rey@example.com", testPassword)
			if err != nil {
				t.Fatal(err)
			}
			if g.RefreshToken != "" {
				t.Fatal("a refresh token without WithRefreshTokens")
			}
			if _, err := off.m.Refresh(ctx, login(t).RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("refresh with refresh tokens off: %v", err)
			}
		})
	})
}

func TestSessionMaxLifetime(t *testing.T) {
	clk := newClock()
	e := newEnv(t, dialect.SQLite, authn.WithRefreshTokens(time.Hour), authn.WithSessionMaxLifetime(90*time.Minute), authn.WithClock(clk.Now))
	e.register(t, "max@example.com")
	g, err := e.m.Login(context.Background(), "max@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(50 * time.Minute)
	g, err = e.m.Refresh(context.Background(), g.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(40 * time.Minute); !g.RefreshExpiresAt.Equal(want) {
		t.Fatalf("refresh expires %v, want the session's maximum %v", g.RefreshExpiresAt, want)
	}
	clk.Advance(41 * time.Minute)
	if _, err := e.m.Refresh(context.Background(), g.RefreshToken); !errors.Is(err, authn.ErrRefreshTokenInvalid) {
		t.Fatalf("refresh past the session's maximum lifetime: %v", err)
	}
}
