package authn_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/dbtest"
)

func TestParseLimit(t *testing.T) {
	good := map[string]authn.Limit{
		"10/1m":     {Count: 10, Period: time.Minute},
		"5/h":       {Count: 5, Period: time.Hour},
		" 3 / s ":   {Count: 3, Period: time.Second},
		"7/d":       {Count: 7, Period: 24 * time.Hour},
		"100/1h30m": {Count: 100, Period: 90 * time.Minute},
		"off":       {},
		"0":         {},
	}
	for in, want := range good {
		got, err := authn.ParseLimit(in)
		if err != nil || got != want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, err := authn.ParseLimit(got.String()); err != nil || back != got {
			t.Errorf("String %q does not parse back: %+v %v", got.String(), back, err)
		}
	}
	for _, in := range []string{"", "10", "/1m", "-1/1m", "x/1m", "10/", "10/forever", "10/-1m", "2000/1s", "1/0s"} {
		if l, err := authn.ParseLimit(in); err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", in, l)
		}
	}
}

// TestLimitStoresAgree runs one sequence of events through the database
// store on both dialects and through the memory store: the generic cell
// rate algorithm must give the same answers, to the millisecond.
func TestLimitStoresAgree(t *testing.T) {
	t0 := time.UnixMilli(1_800_000_000_000)
	const interval, burst = time.Second, 3
	steps := []struct {
		at   time.Duration
		wait time.Duration // 0: allowed
	}{
		{0, 0}, {0, 0}, {0, 0}, // the burst
		{0, time.Second}, // over it: one interval to wait
		{500 * time.Millisecond, 500 * time.Millisecond}, // half of it passed
		{time.Second, 0},                                                    // one event back
		{time.Second, time.Second},                                          // and spent
		{10 * time.Second, 0}, {10 * time.Second, 0}, {10 * time.Second, 0}, // at rest: the whole burst again
		{10 * time.Second, time.Second},
	}
	run := func(t *testing.T, s authn.LimitStore) {
		t.Helper()
		key := "k" + uuid.NewString()[:8]
		for i, st := range steps {
			wait, err := s.TakeLimit(context.Background(), key, t0.Add(st.at), interval, burst)
			if err != nil {
				t.Fatal(err)
			}
			if wait != st.wait {
				t.Fatalf("step %d at +%v: wait %v, want %v", i, st.at, wait, st.wait)
			}
		}
		tats, err := s.PeekLimits(context.Background(), []string{key, "absent"})
		if err != nil || len(tats) != 2 || !tats[0].Equal(t0.Add(13*time.Second)) || !tats[1].IsZero() {
			t.Fatalf("PeekLimits = %v, %v; want [%v, zero]", tats, err, t0.Add(13*time.Second))
		}
	}
	t.Run("memory", func(t *testing.T) { run(t, authn.NewMemoryLimitStore()) })
	dbtest.Run(t, func(t *testing.T, d string) { run(t, newEnv(t, d).store) })
}

// TestLimitConcurrentTakes: the database store's upsert is atomic, so
// concurrent events never exceed the budget.
func TestLimitConcurrentTakes(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		now := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed := 0
		for range 40 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				wait, err := e.store.TakeLimit(context.Background(), "concurrent", now, time.Minute, 10)
				if err != nil {
					t.Error(err)
					return
				}
				if wait == 0 {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if allowed != 10 {
			t.Fatalf("%d of 40 concurrent events allowed, want the burst of 10", allowed)
		}
	})
}

// throttled asserts err is a *ThrottledError of rule with a wait.
func throttled(t *testing.T, err error, rule string) {
	t.Helper()
	var te *authn.ThrottledError
	if !errors.As(err, &te) || !errors.Is(err, authn.ErrThrottled) || te.Rule != rule || te.RetryAfter <= 0 {
		t.Fatalf("err = %v, want a ThrottledError of %s with a wait", err, rule)
	}
}

func tight(edit func(*authn.Limits)) authn.Option {
	l := authn.NoLimits()
	l.KnownClientWindow = 30 * 24 * time.Hour
	edit(&l)
	return authn.WithLimits(l)
}

func TestLoginLimits(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)

		t.Run("PerIPBeforeAnyHash", func(t *testing.T) {
			h := newHasher(t, authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(2*time.Second))
			e := newEnvOn(t, db, authn.WithHasher(h), tight(func(l *authn.Limits) { l.LoginIP = authn.Limit{Count: 3, Period: time.Minute} }))
			e.register(t, "ip@example.com")
			ctx := clientCtx("192.0.2.1")
			for range 3 {
				if _, err := e.m.Login(ctx, "ip@example.com", "wrong password!"); !errors.Is(err, authn.ErrBadCredentials) {
					t.Fatalf("within the limit: %v", err)
				}
			}
			// With the only hashing slot taken, a request that reached the
			// hash would wait 2 s and fail with ErrOverloaded (the hasher
			// admits it: one hash is expected to take less than its maximum
			// wait): throttling answers first.
			release := authn.HoldSlot(h)
			_, err := e.m.Login(ctx, "ip@example.com", testPassword)
			release()
			throttled(t, err, authn.RuleLoginIP)
			if _, err := e.m.Login(clientCtx("192.0.2.2"), "ip@example.com", testPassword); err != nil {
				t.Fatalf("another address: %v", err)
			}
			// An IPv6 client is counted by its /64.
			for i := range 3 {
				_, _ = e.m.Login(clientCtx(fmt.Sprintf("2001:db8:1:2::%x", i+1)), "ip@example.com", "wrong password!")
			}
			_, err = e.m.Login(clientCtx("2001:db8:1:2:ffff::9"), "ip@example.com", testPassword)
			throttled(t, err, authn.RuleLoginIP)
		})

		t.Run("FailuresPerAccountAndIPProgressive", func(t *testing.T) {
			clk := newClock()
			e := newEnvOn(t, db, authn.WithClock(clk.Now), tight(func(l *authn.Limits) {
				l.LoginFailuresAccountIP = authn.Limit{Count: 2, Period: time.Minute}
			}))
			e.register(t, "prog@example.com")
			ctx := clientCtx("192.0.2.3")
			var waits []time.Duration
			for range 24 {
				_, err := e.m.Login(ctx, "prog@example.com", "wrong password!")
				var te *authn.ThrottledError
				for errors.As(err, &te) {
					waits = append(waits, te.RetryAfter)
					clk.Advance(te.RetryAfter)
					_, err = e.m.Login(ctx, "prog@example.com", "wrong password!")
				}
				if !errors.Is(err, authn.ErrBadCredentials) {
					t.Fatalf("err = %v", err)
				}
			}
			// The levels are 2/1m, 4/4m, 6/16m: the waits grow.
			if len(waits) < 3 || waits[len(waits)-1] < 4*waits[0] {
				t.Fatalf("waits %v: want progressively longer", waits)
			}
			t.Logf("waits between failures: %v", waits)
			// Another address is not slowed by this one's failures.
			if _, err := e.m.Login(clientCtx("192.0.2.4"), "prog@example.com", testPassword); err != nil {
				t.Fatalf("another address: %v", err)
			}
		})

		t.Run("NoLockoutFromElsewhere", func(t *testing.T) {
			e := newEnvOn(t, db, tight(func(l *authn.Limits) {
				l.LoginFailuresAccount = authn.Limit{Count: 5, Period: time.Hour}
			}))
			e.register(t, "victim@example.com")
			home := clientCtx("198.51.100.20")
			if _, err := e.m.Login(home, "victim@example.com", testPassword); err != nil {
				t.Fatal(err)
			}
			// An attacker spends the account's budget from many addresses.
			for i := range 5 {
				_, _ = e.m.Login(clientCtx(fmt.Sprintf("203.0.113.%d", i+1)), "victim@example.com", "guess number "+fmt.Sprint(i))
			}
			_, err := e.m.Login(clientCtx("203.0.113.200"), "victim@example.com", "another guess")
			throttled(t, err, authn.RuleLoginFailuresAccount)
			// Even the right password from an unknown address waits...
			_, err = e.m.Login(clientCtx("203.0.113.201"), "victim@example.com", testPassword)
			throttled(t, err, authn.RuleLoginFailuresAccount)
			// ...but the owner's known address gets in.
			if _, err := e.m.Login(home, "victim@example.com", testPassword); err != nil {
				t.Fatalf("the owner from a known address: %v", err)
			}
		})

		t.Run("CorrectPasswordIsNoFailure", func(t *testing.T) {
			e := newEnvOn(t, db, tight(func(l *authn.Limits) {
				l.LoginFailuresAccount = authn.Limit{Count: 2, Period: time.Hour}
				l.LoginFailuresAccountIP = authn.Limit{Count: 2, Period: time.Hour}
			}))
			e.register(t, "fine@example.com")
			for range 10 {
				if _, err := e.m.Login(clientCtx("192.0.2.50"), "fine@example.com", testPassword); err != nil {
					t.Fatal(err)
				}
			}
		})

		t.Run("SharedAcrossInstances", func(t *testing.T) {
			limit := tight(func(l *authn.Limits) { l.LoginIP = authn.Limit{Count: 2, Period: time.Minute} })
			a, b := newEnvOn(t, db, limit), newEnvOn(t, db, limit)
			a.register(t, "two@example.com")
			ctx := clientCtx("192.0.2.60")
			if _, err := a.m.Login(ctx, "two@example.com", testPassword); err != nil {
				t.Fatal(err)
			}
			if _, err := b.m.Login(ctx, "two@example.com", testPassword); err != nil {
				t.Fatal(err)
			}
			_, err := a.m.Login(ctx, "two@example.com", testPassword)
			throttled(t, err, authn.RuleLoginIP)
			_, err = b.m.Login(ctx, "two@example.com", testPassword)
			throttled(t, err, authn.RuleLoginIP)
		})

		t.Run("MemoryStoreIsPerInstance", func(t *testing.T) {
			limit := tight(func(l *authn.Limits) { l.LoginIP = authn.Limit{Count: 1, Period: time.Minute} })
			a := newEnvOn(t, db, limit, authn.WithLimitStore(authn.NewMemoryLimitStore()))
			b := newEnvOn(t, db, limit, authn.WithLimitStore(authn.NewMemoryLimitStore()))
			a.register(t, "mem@example.com")
			ctx := clientCtx("192.0.2.70")
			for _, e := range []*env{a, b} {
				if _, err := e.m.Login(ctx, "mem@example.com", testPassword); err != nil {
					t.Fatal(err)
				}
			}
			_, err := a.m.Login(ctx, "mem@example.com", testPassword)
			throttled(t, err, authn.RuleLoginIP)
		})
	})
}

// TestFlowLimits: every other public flow has an IP and an account limit,
// checked before any work.
func TestFlowLimits(t *testing.T) {
	e := newEnv(t, dialect.SQLite, authn.WithRefreshTokens(time.Hour), tight(func(l *authn.Limits) {
		one := authn.Limit{Count: 1, Period: time.Hour}
		l.RegisterAccount, l.ForgotPasswordAccount, l.RequestVerifyAccount = one, one, one
		l.VerifyAccount, l.ResetPasswordAccount, l.RefreshAccount = one, one, one
		two := authn.Limit{Count: 2, Period: time.Hour}
		l.RegisterIP, l.ForgotPasswordIP, l.RequestVerifyIP, l.VerifyIP, l.ResetPasswordIP, l.RefreshIP = two, two, two, two, two, two
	}))
	u := e.register(t, "flows@example.com")
	ip := func(n int) context.Context { return clientCtx(fmt.Sprintf("192.0.2.%d", n)) }

	t.Run("Register", func(t *testing.T) {
		_, err := e.m.Register(ip(1), authn.UserCreate{Email: "new@example.com", Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.m.Register(ip(2), authn.UserCreate{Email: "NEW@example.com", Password: testPassword})
		throttled(t, err, authn.RuleRegisterAccount)
		_, _ = e.m.Register(ip(1), authn.UserCreate{Email: "other@example.com", Password: testPassword})
		_, err = e.m.Register(ip(1), authn.UserCreate{Email: "third@example.com", Password: testPassword})
		throttled(t, err, authn.RuleRegisterIP)
	})
	t.Run("ForgotPassword", func(t *testing.T) {
		if err := e.m.ForgotPassword(ip(3), "flows@example.com"); err != nil {
			t.Fatal(err)
		}
		throttled(t, e.m.ForgotPassword(ip(4), "Flows@Example.com"), authn.RuleForgotPasswordAccount)
		_ = e.m.ForgotPassword(ip(3), "x@example.com")
		throttled(t, e.m.ForgotPassword(ip(3), "y@example.com"), authn.RuleForgotPasswordIP)
	})
	t.Run("RequestVerify", func(t *testing.T) {
		if err := e.m.RequestVerify(ip(5), "flows@example.com"); err != nil {
			t.Fatal(err)
		}
		throttled(t, e.m.RequestVerify(ip(6), "flows@example.com"), authn.RuleRequestVerifyAccount)
	})
	t.Run("VerifyAndReset", func(t *testing.T) {
		vt := e.hooks.token(e.hooks.verify, "flows@example.com")
		if _, err := e.m.Verify(ip(7), vt); err != nil {
			t.Fatal(err)
		}
		_, err := e.m.Verify(ip(8), vt)
		throttled(t, err, authn.RuleVerifyAccount)
		rt := e.hooks.token(e.hooks.reset, "flows@example.com")
		if _, err := e.m.ResetPassword(ip(9), rt, "a reset passphrase"); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.ResetPassword(ip(10), rt, "a reset passphrase")
		throttled(t, err, authn.RuleResetPasswordAccount)
	})
	t.Run("Refresh", func(t *testing.T) {
		g, err := e.m.Login(ip(11), u.Email, "a reset passphrase")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.m.Refresh(ip(12), g.RefreshToken); err != nil {
			t.Fatal(err)
		}
		_, err = e.m.Refresh(ip(13), g.RefreshToken)
		throttled(t, err, authn.RuleRefreshAccount)
	})
}

// TestMailPerAddress: past the limit, forgot-password still succeeds but
// mails nothing more to the address, and says so in the audit log.
func TestMailPerAddress(t *testing.T) {
	var mu sync.Mutex
	var events []authn.AuditEvent
	e := newEnv(t, dialect.SQLite, tight(func(l *authn.Limits) { l.MailPerAddress = authn.Limit{Count: 3, Period: time.Hour} }),
		authn.WithAuditHandler(func(_ context.Context, ev authn.AuditEvent) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, ev)
		}))
	e.register(t, "bomb@example.com")
	sent := 0
	for range 30 {
		e.hooks.mu.Lock()
		delete(e.hooks.reset, "bomb@example.com")
		e.hooks.mu.Unlock()
		if err := e.m.ForgotPassword(context.Background(), "bomb@example.com"); err != nil {
			t.Fatal(err)
		}
		if e.hooks.token(e.hooks.reset, "bomb@example.com") != "" {
			sent++
		}
	}
	if sent != 3 {
		t.Fatalf("30 forgot-password requests mailed %d times, want 3", sent)
	}
	suppressed := 0
	for _, ev := range events {
		if ev.Type == authn.EventMailSuppressed {
			suppressed++
		}
	}
	if suppressed != 27 {
		t.Fatalf("%d suppressed mails audited, want 27", suppressed)
	}
}
