package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keylin/keylin/internal/dbtest"
	"github.com/keylin/keylin/internal/faultproxy"
)

// Bounds of the database fault test.
const (
	// faultDBTimeout is DATABASE_TIMEOUT in the fault test.
	faultDBTimeout = time.Second
	// faultBound is how long a request sent while the database is stopped
	// or frozen may take to be refused: its first database call fails,
	// at once (stopped) or after DATABASE_TIMEOUT (frozen).
	faultBound = 3 * faultDBTimeout
	// faultLoadBound is how long a request of the background load may
	// take to be refused. Such a request may have started before the
	// fault: it makes up to four database calls, each bounded by
	// DATABASE_TIMEOUT, and may wait HASH_MAX_WAIT (5 s) for a hashing
	// slot. (A frozen database used to hold requests 16 s.)
	faultLoadBound = 4*faultDBTimeout + 5*time.Second + time.Second
	// recoverBound is how long keylin may take to serve again once the
	// database is back.
	recoverBound = 15 * faultDBTimeout
)

// account is a user the test registered, or tried to.
type account struct{ email, password string }

// TestServePostgresFaults stops and then freezes PostgreSQL under a running
// `keylin serve`, through a proxy (the shared cluster is never touched):
// login, register and GET /users/me answer 503 with Retry-After and a JSON
// detail within faultBound, never 500, and /readyz answers 503; when the
// database is back, keylin serves again by itself. Meanwhile a background
// load keeps registering, logging in and reading the user, so that some
// requests are in flight when the database fails: its answers are
// successes or 503s, never anything else. Afterwards every registration
// that was acknowledged (201) logs in, and every one refused (503) is
// either fully there (its password logs in) or not there at all (a retry
// registers it).
func TestServePostgresFaults(t *testing.T) {
	begin := time.Now()
	logf := func(format string, args ...any) {
		t.Helper()
		t.Logf("%5.1fs "+format, append([]any{time.Since(begin).Seconds()}, args...)...)
	}
	pg := dbtest.Migrated(t, "postgres")
	dsn, err := url.Parse(pg.URL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.New(t, dsn.Host)
	dsn.Host = proxy.Addr()
	t.Setenv("DATABASE_TIMEOUT", faultDBTimeout.String())
	// The counters stay in the database (the default store), so the rate
	// limiter's queries meet the faults too; the limits are loosened for
	// the one client address making every request.
	t.Setenv("RATE_LIMIT_LOGIN_IP", "10000/1m")
	t.Setenv("RATE_LIMIT_REGISTER_IP", "10000/1m")
	s := startServe(t, dsn.String())
	logOnFailure(t, s)

	var (
		mu      sync.Mutex
		acked   []account // 201
		refused []account // 503
		seq     atomic.Int64
	)
	record := func(a account, r reply) {
		mu.Lock()
		defer mu.Unlock()
		switch r.status {
		case http.StatusCreated:
			acked = append(acked, a)
		case http.StatusServiceUnavailable:
			refused = append(refused, a)
		}
	}
	next := func(tag string) account {
		n := seq.Add(1)
		return account{fmt.Sprintf("%s-%d@example.com", tag, n), fmt.Sprintf("fault passphrase %d", n)}
	}
	// retried counts the 503s met outside the faults: the machine is
	// shared, and a database call slower than DATABASE_TIMEOUT is a 503
	// there too. They are retried until recoverBound and logged.
	var retried atomic.Int64
	eventually := func(f func() (reply, error)) (reply, error) {
		deadline := time.Now().Add(recoverBound)
		for {
			r, err := f()
			if err != nil || r.status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				return r, err
			}
			retried.Add(1)
			time.Sleep(100 * time.Millisecond)
		}
	}
	// register registers a, retrying 503s. A refused attempt may have been
	// stored all the same (its INSERT reached the database, the answer did
	// not come back): a retry then finds the email taken, which counts as
	// registered.
	register := func(a account) (reply, error) {
		refusedOnce := false
		r, err := eventually(func() (reply, error) {
			r, err := registerUser(s.base, a.email, a.password)
			refusedOnce = refusedOnce || r.status == http.StatusServiceUnavailable
			return r, err
		})
		if err == nil && refusedOnce && r.status == http.StatusBadRequest && detailOf(r) == "REGISTER_USER_ALREADY_EXISTS" {
			r.status = http.StatusCreated
		}
		return r, err
	}
	mustRegister := func(a account) {
		t.Helper()
		r, err := register(a)
		if err != nil || r.status != http.StatusCreated {
			t.Fatalf("register %s: %v %v", a.email, r, err)
		}
		record(a, r)
	}
	mustLogin := func(a account) grant {
		t.Helper()
		r, err := eventually(func() (reply, error) { return loginUser(s.base, a.email, a.password) })
		if err != nil {
			t.Fatal(err)
		}
		return mustGrant(t, r)
	}

	// Before: users, and a session that must outlive the faults.
	known := next("before")
	mustRegister(known)
	for range 3 {
		mustRegister(next("before"))
	}
	session := mustLogin(known)
	rotating := mustLogin(known) // refreshed by the test alone

	// The background load, through every fault and recovery.
	var (
		load       tally
		loadRefuse latencies // how long its 503s took
		slowest    string
		slowestIn  time.Duration
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	note := func(route string, r reply, err error) {
		if err != nil {
			load.add(route + " error " + err.Error())
			return
		}
		load.add(fmt.Sprintf("%s %d", route, r.status))
		if r.status == http.StatusServiceUnavailable {
			loadRefuse.add(r.took)
			mu.Lock()
			if r.took > slowestIn {
				slowest, slowestIn = route+" "+r.String(), r.took
			}
			mu.Unlock()
		}
	}
	for range 3 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				a := next("load")
				r, err := registerUser(s.base, a.email, a.password)
				note("POST /auth/register", r, err)
				record(a, r)
				if i%2 == 0 { // a login costs a hash, as a registration does
					r, err = loginUser(s.base, known.email, known.password)
					note("POST /auth/jwt/login", r, err)
				}
				r, err = getMe(s.base, session.AccessToken)
				note("GET /users/me", r, err)
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	// unavailable checks that requests needing the database are refused
	// as unavailable, quickly, and that /readyz says so.
	unavailable := func(fault string) {
		t.Helper()
		type check struct {
			name string
			r    reply
			err  error
		}
		var checks []check
		fresh := next(fault)
		r, err := registerUser(s.base, fresh.email, fresh.password)
		record(fresh, r)
		checks = append(checks, check{"POST /auth/register", r, err})
		r, err = loginUser(s.base, known.email, known.password)
		checks = append(checks, check{"POST /auth/jwt/login", r, err})
		r, err = getMe(s.base, session.AccessToken)
		checks = append(checks, check{"GET /users/me", r, err})
		r, err = patchMe(s.base, session.AccessToken, map[string]any{"full_name": "changed while " + fault})
		checks = append(checks, check{"PATCH /users/me", r, err})
		r, err = refreshGrant(s.base, rotating.RefreshToken)
		checks = append(checks, check{"POST /auth/jwt/refresh", r, err})
		for _, c := range checks {
			if c.err != nil {
				t.Fatalf("%s: %s: %v", fault, c.name, c.err)
			}
			logf("%s: %s %s", fault, c.name, c.r)
			if c.r.status != http.StatusServiceUnavailable || retryAfter(c.r) == 0 || detailOf(c.r) == "" ||
				!strings.HasPrefix(c.r.header.Get("Content-Type"), "application/json") {
				t.Errorf("%s: %s = %v, Retry-After %q; want 503 with Retry-After and a JSON detail",
					fault, c.name, c.r, c.r.header.Get("Retry-After"))
			}
			if c.r.took > faultBound {
				t.Errorf("%s: %s took %v, more than %v", fault, c.name, c.r.took, faultBound)
			}
		}
		r = mustCall(t, "GET", s.base+"/readyz", "", "")
		logf("%s: GET /readyz %s", fault, r)
		if r.status != http.StatusServiceUnavailable || detailOf(r) != "database unreachable" || r.took > faultBound {
			t.Errorf("%s: /readyz = %v; want 503 database unreachable within %v", fault, r, faultBound)
		}
	}
	// recovered waits for /readyz, then checks the requests work again.
	recovered := func(fault string) {
		t.Helper()
		start := time.Now()
		for {
			r, err := call("GET", s.base+"/readyz", "", "")
			if err == nil && r.status == http.StatusOK {
				break
			}
			if time.Since(start) > recoverBound {
				t.Fatalf("after %s: /readyz not 200 within %v: %v %v", fault, recoverBound, r, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		logf("after %s: /readyz 200 after %v", fault, time.Since(start).Round(time.Millisecond))
		mustRegister(next("after-" + fault))
		g := mustLogin(known)
		for _, tok := range []string{g.AccessToken, session.AccessToken} {
			r, err := eventually(func() (reply, error) { return getMe(s.base, tok) })
			if err != nil || r.status != http.StatusOK || userEmailOf(r) != known.email {
				t.Fatalf("after %s: GET /users/me = %v %v", fault, r, err)
			}
			// The PATCH refused with 503 changed nothing.
			if !strings.Contains(r.body, `"full_name":null`) {
				t.Fatalf("after %s: a refused PATCH /users/me was applied: %s", fault, r.body)
			}
		}
		// The refresh refused with 503 did not spend its token. (A 503 now,
		// on the shared machine, would leave that unknown: start again.)
		r, err := refreshGrant(s.base, rotating.RefreshToken)
		switch {
		case err != nil:
			t.Fatal(err)
		case r.status == http.StatusServiceUnavailable:
			retried.Add(1)
			rotating = mustLogin(known)
		default:
			rotating = mustGrant(t, r)
		}
	}

	proxy.Down()
	unavailable("down")
	time.Sleep(2 * faultDBTimeout) // the load meets the stopped database
	proxy.Up()
	recovered("down")

	proxy.Hang()
	unavailable("hang")
	proxy.Up()
	recovered("hang")

	// Faults that strike while the load's requests are in flight.
	for _, fault := range []func(){proxy.Down, proxy.Hang} {
		time.Sleep(200 * time.Millisecond)
		fault()
		time.Sleep(2 * faultDBTimeout)
		proxy.Up()
		recovered("inflight")
	}
	time.Sleep(500 * time.Millisecond) // the load after recovery
	stopLoad()
	logf("background load:\n%s  503s took %s; the slowest: %s", &load, &loadRefuse, slowest)
	for label, c := range load.n {
		if !strings.HasSuffix(label, " 200") && !strings.HasSuffix(label, " 201") && !strings.HasSuffix(label, " 503") {
			t.Errorf("background load: %d × %s; want only successes and 503", c, label)
		}
	}
	if slowestIn > faultLoadBound {
		t.Errorf("background load: a 503 took more than %v: %s", faultLoadBound, slowest)
	}

	// No acknowledged write lost: every 201 logs in, as itself.
	verify := time.Now()
	var logins latencies
	forEach(t, 4, acked, func(a account) error {
		r, err := eventually(func() (reply, error) { return loginUser(s.base, a.email, a.password) })
		if err != nil {
			return err
		}
		logins.add(r.took)
		g, err := grantOf(r)
		if err != nil {
			return fmt.Errorf("acknowledged %s cannot log in: %w", a.email, err)
		}
		r, err = eventually(func() (reply, error) { return getMe(s.base, g.AccessToken) })
		if err != nil || r.status != http.StatusOK || !strings.EqualFold(userEmailOf(r), a.email) {
			return fmt.Errorf("acknowledged %s: GET /users/me = %v %v", a.email, r, err)
		}
		return nil
	})
	logf("registrations: %d acknowledged, all log in (logins took %s)", len(acked), &logins)

	// Nothing half-done: a refused registration is there in full (it logs
	// in) or not at all (a retry registers it).
	var present, absent int
	for _, a := range refused {
		var rows int
		if err := pg.QueryRowContext(context.Background(),
			"SELECT count(*) FROM users WHERE lower(email) = lower($1)", a.email).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows > 0 {
			present++
			r, err := eventually(func() (reply, error) { return registerUser(s.base, a.email, a.password) })
			if err != nil || r.status != http.StatusBadRequest || detailOf(r) != "REGISTER_USER_ALREADY_EXISTS" {
				t.Errorf("refused %s is stored; registering again = %v %v", a.email, r, err)
			}
		} else {
			absent++
			if absent > 5 {
				continue // a sample of retries is enough; each costs a hash
			}
			r, err := register(a)
			if err != nil || r.status != http.StatusCreated {
				t.Errorf("refused %s is absent, but registering again = %v %v", a.email, r, err)
			}
		}
		r, err := eventually(func() (reply, error) { return loginUser(s.base, a.email, a.password) })
		if err != nil || r.status != http.StatusOK {
			t.Errorf("refused %s (stored: %v): login = %v %v", a.email, rows > 0, r, err)
		}
	}
	logf("registrations refused: %d, of which %d stored all the same and %d absent (retried: %d); checked in %v",
		len(refused), present, absent, min(absent, 5), time.Since(verify).Round(time.Millisecond))
	logf("503s retried outside the faults: %d", retried.Load())
}

// forEach runs f on every item with n goroutines and reports the errors.
func forEach[T any](t *testing.T, n int, items []T, f func(T) error) {
	t.Helper()
	ch := make(chan T)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range n {
		wg.Go(func() {
			for it := range ch {
				if err := f(it); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, it := range items {
		ch <- it
	}
	close(ch)
	wg.Wait()
	for i, err := range errs {
		if i == 10 {
			t.Errorf("… and %d more", len(errs)-10)
			break
		}
		t.Error(err)
	}
}
