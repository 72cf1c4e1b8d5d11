package authn_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
)

// TestResetTokenDiesWithEmailChange: a reset token is bound to the address
// it was mailed to, not only to the password.
func TestResetTokenDiesWithEmailChange(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.register(t, "old-address@example.com")
		if err := e.m.ForgotPassword(ctx, u.Email); err != nil {
			t.Fatal(err)
		}
		tok := e.hooks.token(e.hooks.reset, u.Email)
		moved := "new-address@example.com"
		u, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Email: &moved})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.ResetPassword(ctx, tok, "taken over the account"); !errors.Is(err, authn.ErrResetBadToken) {
			t.Fatalf("reset token after an email change: %v", err)
		}
		// Back to the old address in another case: the mailbox is the same.
		back := "Old-Address@example.com"
		if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Email: &back}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.ResetPassword(ctx, tok, "a legitimate new one"); err != nil {
			t.Fatalf("reset token for the same mailbox in another case: %v", err)
		}
	})
}

// TestQuietRegister: with WithQuietRegister, registering a taken email
// answers like a new registration, stores nothing, and tells the owner.
func TestQuietRegister(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, authn.WithQuietRegister(true))
		ctx := context.Background()
		name := "Someone"
		first, err := e.m.Register(ctx, authn.UserCreate{Email: "quiet@example.com", Password: testPassword, FullName: &name})
		if err != nil {
			t.Fatal(err)
		}
		again, err := e.m.Register(ctx, authn.UserCreate{Email: "QUIET@example.com", Password: "another password here", FullName: &name})
		if err != nil {
			t.Fatalf("register of a taken email: %v, want success", err)
		}
		if again.ID == first.ID || again.HashedPassword != "" || !again.IsActive || again.IsVerified || again.IsSuperuser ||
			again.Email != "QUIET@example.com" || *again.FullName != name {
			t.Fatalf("answer for a taken email: %+v", again)
		}
		if n := e.client.User.Query().CountX(ctx); n != 1 {
			t.Fatalf("%d users stored, want 1", n)
		}
		if !slices.Equal(e.hooks.existing, []string{"quiet@example.com"}) {
			t.Fatalf("AfterRegisterExisting got %v", e.hooks.existing)
		}
		if _, err := e.m.Login(ctx, "quiet@example.com", "another password here"); !errors.Is(err, authn.ErrBadCredentials) {
			t.Fatal("the second registration's password works")
		}
		// Without the mode, the contract's answer.
		plain := newEnvOn(t, e.db)
		if _, err := plain.m.Register(ctx, authn.UserCreate{Email: "quiet@example.com", Password: testPassword}); !errors.Is(err, authn.ErrUserAlreadyExists) {
			t.Fatalf("without the mode: %v", err)
		}
	})
}

func TestVerifyOnRegister(t *testing.T) {
	e := newEnv(t, dialect.SQLite, authn.WithVerifyOnRegister(true))
	e.register(t, "new@example.com")
	tok := e.hooks.token(e.hooks.verify, "new@example.com")
	if tok == "" {
		t.Fatal("no verify token issued at registration")
	}
	if u, err := e.m.Verify(context.Background(), tok); err != nil || !u.IsVerified {
		t.Fatalf("verify with the registration's token: %v", err)
	}
	off := newEnvOn(t, e.db)
	off.register(t, "quiet@example.com")
	if off.hooks.token(off.hooks.verify, "quiet@example.com") != "" {
		t.Fatal("a verify token without WithVerifyOnRegister")
	}
}

// TestCurrentPasswordRequired: with the option, a user's own change of
// password or email needs the current password; wrong guesses count as
// login failures; a superuser's change and other fields do not need it.
func TestCurrentPasswordRequired(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, authn.WithCurrentPasswordRequired(true), tight(func(l *authn.Limits) {
			l.LoginFailuresAccountIP = authn.Limit{Count: 2, Period: time.Hour}
		}))
		ctx := clientCtx("192.0.2.80")
		u := e.register(t, "cur@example.com")
		np, ne, wrong, name := "a new passphrase", "cur2@example.com", "not my password", "Cur"
		cases := []struct {
			name string
			in   authn.UserUpdate
		}{
			{"PasswordWithout", authn.UserUpdate{Password: &np}},
			{"EmailWithout", authn.UserUpdate{Email: &ne}},
			{"PasswordWrong", authn.UserUpdate{Password: &np, CurrentPassword: &wrong}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, c.in); !errors.Is(err, authn.ErrBadCurrentPassword) {
					t.Fatalf("err = %v, want ErrBadCurrentPassword", err)
				}
			})
		}
		t.Run("GuessesAreThrottled", func(t *testing.T) {
			// PasswordWrong was the first failure; this is the second, the last
			// the limit allows from this address.
			if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &np, CurrentPassword: &wrong}); !errors.Is(err, authn.ErrBadCurrentPassword) {
				t.Fatalf("second guess: %v", err)
			}
			_, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &np, CurrentPassword: &testPasswordCopy})
			throttled(t, err, authn.RuleLoginFailuresAccountIP)
		})
		other := clientCtx("192.0.2.81")
		cur := testPassword
		t.Run("Right", func(t *testing.T) {
			nu, err := e.m.UpdateSelf(other, u, uuid.Nil, authn.UserUpdate{Email: &ne, Password: &np, CurrentPassword: &cur})
			if err != nil || nu.Email != ne {
				t.Fatalf("%v %v", nu, err)
			}
			u = nu
		})
		t.Run("OtherFieldsNeedNothing", func(t *testing.T) {
			if _, err := e.m.UpdateSelf(other, u, uuid.Nil, authn.UserUpdate{SetFullName: true, FullName: &name}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("SuperuserNeedsNothing", func(t *testing.T) {
			if _, err := e.m.UpdateAsSuperuser(other, u, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("NoticeToOldAddress", func(t *testing.T) {
			if len(e.hooks.emailChanges) != 1 || e.hooks.emailChanges[0] != [2]string{"cur@example.com", "cur2@example.com"} {
				t.Fatalf("AfterEmailChanged got %v", e.hooks.emailChanges)
			}
		})
	})
}

var testPasswordCopy = testPassword

// TestAuditEvents: every event carries the client the request came from,
// reaches the handler, and the log line holds no secret.
func TestAuditEvents(t *testing.T) {
	var (
		mu     sync.Mutex
		events []authn.AuditEvent
		logs   syncBuffer
	)
	e := newEnv(t, dialect.SQLite, authn.WithRefreshTokens(time.Hour),
		authn.WithAuditLogger(slog.New(slog.NewJSONHandler(&logs, nil))),
		authn.WithAuditHandler(func(_ context.Context, ev authn.AuditEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		}))
	ctx := clientCtx("192.0.2.90")
	u, err := e.m.Register(ctx, authn.UserCreate{Email: "aud@example.com", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = e.m.Login(ctx, "aud@example.com", "wrong password!")
	g, err := e.m.Login(ctx, "aud@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.Refresh(ctx, g.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Logout(ctx, u, g.Claims); err != nil {
		t.Fatal(err)
	}
	want := []string{authn.EventRegistered, authn.EventLoginFailed, authn.EventLoginSucceeded, authn.EventRefreshed, authn.EventLogout}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Type)
		if ev.Client.IP != "192.0.2.90" || ev.Client.UserAgent != "test-agent/1.0" || ev.Client.RequestID != "req-192.0.2.90" ||
			ev.UserID != u.ID || ev.Time.IsZero() {
			t.Errorf("event %+v lacks its client or user", ev)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	if events[1].Reason != authn.ReasonBadPassword {
		t.Errorf("login failure reason %q", events[1].Reason)
	}
	out := logs.String()
	for _, secret := range []string{testPassword, "wrong password!", g.AccessToken, g.RefreshToken, u.HashedPassword} {
		if strings.Contains(out, secret) {
			t.Fatalf("the audit log holds a secret: %q", secret)
		}
	}
	if strings.Count(out, `"msg":"audit"`) != len(want) || !strings.Contains(out, `"request_id":"req-192.0.2.90"`) {
		t.Fatalf("audit log:\n%s", out)
	}
}

// hangingStore is a database that stopped answering.
type hangingStore struct{ authn.Store }

func (hangingStore) GetUserByEmail(ctx context.Context, _ string) (*authn.User, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (hangingStore) GetUserForToken(ctx context.Context, _, _ uuid.UUID, _ time.Time) (*authn.User, bool, error) {
	<-ctx.Done()
	return nil, false, ctx.Err()
}

// TestStoreDeadline: a database that does not answer fails the flow with
// ErrUnavailable after the store timeout, instead of holding it.
func TestStoreDeadline(t *testing.T) {
	base := newEnv(t, dialect.SQLite)
	m, err := authn.NewManager(hangingStore{base.store}, base.tokens, authn.WithHasher(newHasher(t)),
		authn.WithLimits(authn.NoLimits()), authn.WithStoreTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	tok := fastapiUsersToken(t, uuid.New())
	for name, f := range map[string]func() error{
		"Login":         func() error { _, err := m.Login(context.Background(), "x@example.com", testPassword); return err },
		"UserFromToken": func() error { _, _, err := m.UserFromToken(context.Background(), tok); return err },
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			err := f()
			if !errors.Is(err, authn.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
	t.Run("CallerCancelIsNotUnavailable", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := m.Login(ctx, "x@example.com", testPassword); errors.Is(err, authn.ErrUnavailable) || err == nil {
			t.Fatalf("a cancelled request: err = %v, want the context's error", err)
		}
	})
}

// TestLoginTimingUnknownVersusWrongPassword: a login for an email without
// an account and a login with a wrong password take the same time, within
// noise: the medians of 30 tries each differ by less than a fifth. The
// default hash parameters make the hash dominate, as in production.
func TestLoginTimingUnknownVersusWrongPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("timing comparison: skipped under -short")
	}
	if raceEnabled {
		t.Skip("timing comparison: skipped under the race detector (make test runs it without)")
	}
	h, err := authn.NewHasher(authn.WithMaxConcurrentHashes(1))
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, dialect.SQLite, authn.WithHasher(h))
	ctx := context.Background()
	u, err := e.m.CreateUser(ctx, authn.UserCreate{Email: "timing@example.com", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	_ = u
	const tries = 30
	median := func(email string) time.Duration {
		ds := make([]time.Duration, tries)
		for i := range ds {
			start := time.Now()
			if _, err := e.m.Login(ctx, email, "definitely wrong"); !errors.Is(err, authn.ErrBadCredentials) {
				t.Fatal(err)
			}
			ds[i] = time.Since(start)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[tries/2]
	}
	// Interleave the two series in halves, so that drift hits both alike.
	unknown1, wrong1 := median("nobody-at-all@example.com"), median("timing@example.com")
	unknown2, wrong2 := median("nobody-at-all@example.com"), median("timing@example.com")
	unknown, wrong := (unknown1+unknown2)/2, (wrong1+wrong2)/2
	ratio := float64(unknown) / float64(wrong)
	t.Logf("median login: unknown email %v, wrong password %v (ratio %.3f)", unknown, wrong, ratio)
	if ratio < 0.8 || ratio > 1.25 {
		t.Fatalf("unknown email %v vs wrong password %v: the timing tells accounts apart", unknown, wrong)
	}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = authtest.LogBuffer

// untouchedStore fails the test when a flow reads or writes the database.
type untouchedStore struct {
	authn.Store
	t *testing.T
}

func (s untouchedStore) GetUserByEmail(context.Context, string) (*authn.User, error) {
	s.t.Error("GetUserByEmail called")
	return nil, authn.ErrUserNotFound
}

func (s untouchedStore) GetUserByID(context.Context, uuid.UUID) (*authn.User, error) {
	s.t.Error("GetUserByID called")
	return nil, authn.ErrUserNotFound
}

func (s untouchedStore) TakeLimit(context.Context, string, time.Time, time.Duration, int) (time.Duration, error) {
	s.t.Error("TakeLimit called")
	return 0, nil
}

// TestOverloadRefusedBeforeDatabase: when the hasher would refuse, login,
// register and reset are refused at once with ErrOverloaded, before any
// database work or rate-limit write, so that a flood's refusals cost next
// to nothing.
func TestOverloadRefusedBeforeDatabase(t *testing.T) {
	base := newEnv(t, dialect.SQLite)
	u := base.register(t, "overload@example.com")
	if err := base.m.ForgotPassword(context.Background(), u.Email); err != nil {
		t.Fatal(err)
	}
	resetToken := base.hooks.token(base.hooks.reset, u.Email)

	fast := authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h := authn.NewHasherUnchecked(fast, 1, time.Second)
	authn.SetAvgHash(h, 10*time.Second) // the next caller would wait 10 s, the limit is 1 s
	release := authn.HoldSlot(h)
	defer release()
	m, err := authn.NewManager(untouchedStore{base.store, t}, base.tokens, authn.WithHasher(h),
		authn.WithLimits(authn.DefaultLimits()), authn.WithLimitStore(untouchedStore{base.store, t}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for name, f := range map[string]func() error{
		"Login": func() error { _, err := m.Login(ctx, u.Email, testPassword); return err },
		"Register": func() error {
			_, err := m.Register(ctx, authn.UserCreate{Email: "new@example.com", Password: testPassword})
			return err
		},
		"ResetPassword": func() error { _, err := m.ResetPassword(ctx, resetToken, testPassword+" 2"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			var oe *authn.OverloadedError
			if err := f(); !errors.As(err, &oe) || oe.RetryAfter < 10*time.Second {
				t.Fatalf("err = %v, want an *OverloadedError with the expected wait", err)
			}
		})
	}
	if s := h.Stats(); s.Refused != 3 {
		t.Errorf("refused %d, want 3", s.Refused)
	}
	release()
	if err := h.Admit(); err != nil {
		t.Errorf("Admit with a free slot: %v", err)
	}
}
