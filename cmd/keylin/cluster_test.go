package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keylin/keylin/internal/dbtest"
)

// clientIPs hands out a new client address for each login of the cluster
// test, sent as X-Forwarded-For from a trusted proxy, so that the tight
// per-address login limit counts only what the test means it to.
var clientIPs atomic.Int32

func nextClientIP() string {
	n := clientIPs.Add(1)
	return fmt.Sprintf("10.20.%d.%d", n/250, n%250+1)
}

// refreshTokenID is the id a refresh token is stored under: the hex
// SHA-256 of its 32 bytes (authn.HashRefreshToken).
func refreshTokenID(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestServeTwoInstances runs two `keylin serve` on one PostgreSQL database,
// as a load balancer would: what one instance issues or ends, the other
// honours at once. Tokens and refresh tokens travel; logout, ending one
// session, ending the other sessions, refresh-token reuse detection and the
// login rate limit done through one are seen by the other; of concurrent
// refreshes of one token spread over both, exactly one wins.
func TestServeTwoInstances(t *testing.T) {
	pg := dbtest.Migrated(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	t.Setenv("TRUSTED_PROXIES", "127.0.0.1")
	t.Setenv("RATE_LIMIT_LOGIN_IP", "3/1m")
	a := startServe(t, pgURL.String())
	b := startServe(t, pgURL.String())
	logOnFailure(t, a, b)
	if a.base == b.base {
		t.Fatal("both instances listen on one address")
	}

	const email, password = "two@example.com", "two instances passphrase"
	if r := mustCall(t, "POST", a.base+"/auth/register", "application/json",
		`{"email":"`+email+`","password":"`+password+`"}`); r.status != http.StatusCreated {
		t.Fatalf("register on A: %v", r)
	}
	login := func(s *served, ip string) grant {
		t.Helper()
		r, err := loginUser(s.base, email, password, "X-Forwarded-For", ip)
		if err != nil {
			t.Fatal(err)
		}
		return mustGrant(t, r)
	}
	expectMe := func(s *served, token string, want int, what string) {
		t.Helper()
		r, err := getMe(s.base, token)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != want || (want == http.StatusOK && userEmailOf(r) != email) {
			t.Fatalf("%s: GET /users/me = %v, want %d", what, r, want)
		}
	}
	expectRefresh := func(s *served, token string, want int, what string) grant {
		t.Helper()
		r, err := refreshGrant(s.base, token)
		if err != nil {
			t.Fatal(err)
		}
		if want == http.StatusOK {
			return mustGrant(t, r)
		}
		if r.status != want || detailOf(r) != "REFRESH_BAD_TOKEN" {
			t.Fatalf("%s: refresh = %v, want %d REFRESH_BAD_TOKEN", what, r, want)
		}
		return grant{}
	}

	t.Run("TokensTravel", func(t *testing.T) {
		g := login(a, nextClientIP())
		expectMe(b, g.AccessToken, http.StatusOK, "A's access token on B")
		g2 := expectRefresh(b, g.RefreshToken, http.StatusOK, "A's refresh token on B")
		expectMe(a, g2.AccessToken, http.StatusOK, "B's refreshed access token on A")
		expectMe(b, g.AccessToken, http.StatusOK, "the first access token, same session")
		expectRefresh(a, g2.RefreshToken, http.StatusOK, "B's refresh token on A")
	})

	t.Run("Logout", func(t *testing.T) {
		g := login(a, nextClientIP())
		expectMe(b, g.AccessToken, http.StatusOK, "before logout")
		if r := mustCall(t, "POST", a.base+"/auth/jwt/logout", "", "", "Authorization", "Bearer "+g.AccessToken); r.status != http.StatusNoContent {
			t.Fatalf("logout on A: %v", r)
		}
		expectMe(b, g.AccessToken, http.StatusUnauthorized, "after logout on A, on B")
		expectRefresh(b, g.RefreshToken, http.StatusBadRequest, "after logout on A, on B")
	})

	t.Run("EndOneSession", func(t *testing.T) {
		ipOther, ipMine := nextClientIP(), nextClientIP()
		other, mine := login(a, ipOther), login(a, ipMine)
		r := mustCall(t, "GET", b.base+"/users/me/sessions", "", "", "Authorization", "Bearer "+mine.AccessToken)
		var sessions []struct {
			ID      string `json:"id"`
			IP      string `json:"ip_address"`
			Current bool   `json:"current"`
		}
		if err := json.Unmarshal([]byte(r.body), &sessions); err != nil || r.status != http.StatusOK {
			t.Fatalf("sessions on B: %v %v", r, err)
		}
		var otherID string
		for _, s := range sessions {
			if s.IP == ipOther && !s.Current {
				otherID = s.ID
			}
			if s.IP == ipMine && !s.Current {
				t.Fatalf("B does not mark the request's own session current: %s", r.body)
			}
		}
		if otherID == "" {
			t.Fatalf("B does not list the session A started from %s: %s", ipOther, r.body)
		}
		if r := mustCall(t, "DELETE", b.base+"/users/me/sessions/"+otherID, "", "", "Authorization", "Bearer "+mine.AccessToken); r.status != http.StatusNoContent {
			t.Fatalf("end the session on B: %v", r)
		}
		expectMe(a, other.AccessToken, http.StatusUnauthorized, "a session ended on B, on A")
		expectRefresh(a, other.RefreshToken, http.StatusBadRequest, "a session ended on B, on A")
		expectMe(a, mine.AccessToken, http.StatusOK, "the session that ended the other, on A")
	})

	t.Run("EndOtherSessions", func(t *testing.T) {
		other, mine := login(b, nextClientIP()), login(a, nextClientIP())
		if r := mustCall(t, "DELETE", a.base+"/users/me/sessions", "", "", "Authorization", "Bearer "+mine.AccessToken); r.status != http.StatusNoContent {
			t.Fatalf("end the other sessions on A: %v", r)
		}
		expectMe(b, other.AccessToken, http.StatusUnauthorized, "B's session after A ended the others")
		expectRefresh(b, other.RefreshToken, http.StatusBadRequest, "B's session after A ended the others")
		expectMe(b, mine.AccessToken, http.StatusOK, "the session that ended the others, on B")
		expectRefresh(b, mine.RefreshToken, http.StatusOK, "the session that ended the others, on B")
	})

	// Reuse detection. Presented again within refreshRaceGrace (5 s) of its
	// exchange, a refresh token is refused but its session lives on (two
	// tabs refreshing at once); later, the session ends. Rather than sleep
	// past the grace, the test moves the exchange's time (used_at) back in
	// the database, which is what the instances compare with their clocks.
	t.Run("RefreshReuse", func(t *testing.T) {
		g1 := login(a, nextClientIP())
		g2 := expectRefresh(a, g1.RefreshToken, http.StatusOK, "first rotation on A")
		expectRefresh(b, g1.RefreshToken, http.StatusBadRequest, "the rotated token again at once, on B")
		expectMe(a, g2.AccessToken, http.StatusOK, "the session after a reuse within the grace")
		g3 := expectRefresh(b, g2.RefreshToken, http.StatusOK, "the current token on B after a reuse within the grace")

		res, err := pg.ExecContext(context.Background(),
			`UPDATE keylin_refresh_tokens SET used_at = used_at - interval '1 minute' WHERE id = $1 AND used_at IS NOT NULL`,
			refreshTokenID(t, g1.RefreshToken))
		if n, _ := res.RowsAffected(); err != nil || n != 1 {
			t.Fatalf("move the exchange back: %v, %d rows", err, n)
		}
		expectRefresh(b, g1.RefreshToken, http.StatusBadRequest, "the rotated token after the grace, on B")
		expectMe(a, g3.AccessToken, http.StatusUnauthorized, "the session after reuse detection on B, on A")
		expectRefresh(a, g3.RefreshToken, http.StatusBadRequest, "the current token after reuse detection on B, on A")
	})

	// Of concurrent exchanges of one refresh token on both instances,
	// exactly one succeeds; the others are refused without ending the
	// session (they come within the grace).
	t.Run("ConcurrentRefresh", func(t *testing.T) {
		g := login(b, nextClientIP())
		const n = 8
		replies := make([]reply, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { replies[i], errs[i] = refreshGrant([]*served{a, b}[i%2].base, g.RefreshToken) })
		}
		wg.Wait()
		var won []grant
		for i, r := range replies {
			switch {
			case errs[i] != nil:
				t.Fatal(errs[i])
			case r.status == http.StatusOK:
				won = append(won, mustGrant(t, r))
			case r.status != http.StatusBadRequest || detailOf(r) != "REFRESH_BAD_TOKEN":
				t.Fatalf("concurrent refresh %d: %v", i, r)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d of %d concurrent refreshes of one token succeeded, want 1", len(won), n)
		}
		expectMe(a, won[0].AccessToken, http.StatusOK, "the winner's access token on A")
		expectMe(b, g.AccessToken, http.StatusOK, "the session's first access token on B")
		expectRefresh(a, won[0].RefreshToken, http.StatusOK, "the winner's refresh token on A")
	})

	// The login limit is counted in the database: 3 logins a minute from
	// one address, wherever they land.
	t.Run("LoginRateLimit", func(t *testing.T) {
		ip := nextClientIP()
		for i, s := range []*served{a, b, a} {
			r, err := loginUser(s.base, email, password, "X-Forwarded-For", ip)
			if err != nil || r.status != http.StatusOK {
				t.Fatalf("login %d: %v %v", i+1, r, err)
			}
		}
		for _, s := range []*served{b, a} {
			r, err := loginUser(s.base, email, password, "X-Forwarded-For", ip)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusTooManyRequests || retryAfter(r) == 0 || detailOf(r) == "" {
				t.Fatalf("a 4th login from %s: %v (Retry-After %q), want 429 with Retry-After", ip, r, r.header.Get("Retry-After"))
			}
		}
		if r, err := loginUser(b.base, email, password, "X-Forwarded-For", nextClientIP()); err != nil || r.status != http.StatusOK {
			t.Fatalf("a login from another address: %v %v", r, err)
		}

		// At once, from a new address: still 3, however the 12 race.
		ip = nextClientIP()
		const n = 12
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				r, err := loginUser([]*served{a, b}[i%2].base, email, password, "X-Forwarded-For", ip)
				if err != nil {
					t.Error(err)
				}
				statuses[i] = r.status
			})
		}
		wg.Wait()
		counts := map[int]int{}
		for _, st := range statuses {
			counts[st]++
		}
		if counts[http.StatusOK] != 3 || counts[http.StatusTooManyRequests] != n-3 {
			t.Fatalf("%d concurrent logins from one address on both instances: %v, want 3 × 200 and %d × 429", n, counts, n-3)
		}
	})
}

// Rounds of TestServeLoginPasswordChangeRace.
const (
	// raceRounds is how many rounds of each change run (one under -short).
	raceRounds = 2
	// raceLogins is how many logins with the old password race the change
	// in each round, half on each instance.
	raceLogins = 40
	// raceSpread is the time over which those logins are sent.
	raceSpread = 3 * time.Second
)

// TestServeLoginPasswordChangeRace: a login that read the old password
// hash must not survive a password change that commits while it is being
// checked (the issue "a login that read the old hash survives a password
// change"). Two instances share a database; in each round raceLogins
// logins with the old password are spread over both while the password is
// changed through one: by PATCH /users/me on A, or by reset-password on B.
// Afterwards every access token the old password obtained is refused (401)
// on both instances and every refresh token fails — but for the session
// that changed its own password through PATCH /users/me, which is kept
// by design (ASVS 7.4.3: end the other sessions).
func TestServeLoginPasswordChangeRace(t *testing.T) {
	pg := dbtest.Migrated(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	t.Setenv("RATE_LIMIT_STORE", "off")
	// Logins queue for the hashing slots; none may be turned away.
	t.Setenv("HASH_MAX_WAIT", "60s")
	// The race is the subject, not the deadlines: on a busy machine a
	// database call may take longer than the default 5 s.
	t.Setenv("DATABASE_TIMEOUT", "30s")
	a := startServe(t, pgURL.String())
	b := startServe(t, pgURL.String())
	logOnFailure(t, a, b)

	rounds := raceRounds
	if testing.Short() {
		rounds = 1
	}
	var racedTotal int
	for round := range 2 * rounds {
		viaReset := round%2 == 1
		name := fmt.Sprintf("patch-%d", round/2)
		if viaReset {
			name = fmt.Sprintf("reset-%d", round/2)
		}
		t.Run(name, func(t *testing.T) {
			email := fmt.Sprintf("race-%d@example.com", round)
			oldPW, newPW := fmt.Sprintf("old race passphrase %d", round), fmt.Sprintf("new race passphrase %d", round)
			if r, err := registerUser(a.base, email, oldPW); err != nil || r.status != http.StatusCreated {
				t.Fatalf("register: %v %v", r, err)
			}

			// What the change needs, got before the race.
			var (
				changer grant
				reset   string
			)
			if viaReset {
				if r, err := call("POST", b.base+"/auth/forgot-password", "application/json", `{"email":"`+email+`"}`); err != nil || r.status != http.StatusAccepted {
					t.Fatalf("forgot-password on B: %v %v", r, err)
				}
				reset = mailTo(t, b.mail, "reset", email)["token"].(string)
			} else {
				r, err := loginUser(a.base, email, oldPW)
				if err != nil {
					t.Fatal(err)
				}
				changer = mustGrant(t, r)
			}

			type attempt struct {
				start, end time.Time
				r          reply
				err        error
			}
			attempts := make([]attempt, raceLogins)
			var wg sync.WaitGroup
			for i := range raceLogins {
				s := []*served{a, b}[i%2]
				wg.Go(func() {
					time.Sleep(time.Duration(i) * raceSpread / raceLogins)
					at := attempt{start: time.Now()}
					at.r, at.err = loginUser(s.base, email, oldPW)
					at.end = time.Now()
					attempts[i] = at
				})
			}
			time.Sleep(raceSpread / 4)
			var (
				cr  reply
				err error
			)
			if viaReset {
				body, _ := json.Marshal(map[string]string{"token": reset, "password": newPW})
				cr, err = call("POST", b.base+"/auth/reset-password", "application/json", string(body))
			} else {
				cr, err = patchMe(a.base, changer.AccessToken, map[string]any{"password": newPW})
			}
			changed := time.Now()
			wg.Wait()
			if err != nil || cr.status != http.StatusOK {
				t.Fatalf("the password change: %v %v", cr, err)
			}

			// Every token the old password obtained is dead everywhere.
			var ok, refused, unavailable, raced int
			for i, at := range attempts {
				if at.err != nil {
					t.Fatalf("login %d: %v", i, at.err)
				}
				switch {
				case at.r.status == http.StatusBadRequest && detailOf(at.r) == "LOGIN_BAD_CREDENTIALS":
					refused++
					continue
				case at.r.status == http.StatusServiceUnavailable:
					unavailable++ // no token: nothing to check
					continue
				case at.r.status != http.StatusOK:
					t.Fatalf("login %d with the old password: %v", i, at.r)
				case at.start.After(changed):
					t.Errorf("login %d with the old password began after the change was acknowledged, and succeeded", i)
				}
				ok++
				if at.end.After(changed) {
					raced++ // read the old hash, finished after the change
				}
				g, err := grantOf(at.r)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range []*served{a, b} {
					if r, err := getMe(s.base, g.AccessToken); err != nil || r.status != http.StatusUnauthorized {
						t.Errorf("login %d (finished %v after the change): its access token on %s = %v %v, want 401",
							i, at.end.Sub(changed).Round(time.Millisecond), s.base, r, err)
					}
				}
				if r, err := refreshGrant([]*served{a, b}[i%2].base, g.RefreshToken); err != nil || r.status != http.StatusBadRequest {
					t.Errorf("login %d (finished %v after the change): its refresh token = %v %v, want 400",
						i, at.end.Sub(changed).Round(time.Millisecond), r, err)
				}
			}
			racedTotal += raced
			t.Logf("%d logins with the old password: %d succeeded (%d of them finished after the change was acknowledged), %d refused, %d unavailable; all their tokens are dead",
				raceLogins, ok, raced, refused, unavailable)

			if !viaReset {
				// The session that changed its own password stays.
				for _, s := range []*served{a, b} {
					if r, err := getMe(s.base, changer.AccessToken); err != nil || r.status != http.StatusOK {
						t.Errorf("the changing session on %s: %v %v, want 200 (kept)", s.base, r, err)
					}
				}
				if r, err := refreshGrant(b.base, changer.RefreshToken); err != nil || r.status != http.StatusOK {
					t.Errorf("the changing session's refresh token: %v %v, want 200 (kept)", r, err)
				}
			}
			for _, s := range []*served{a, b} {
				if r, err := loginUser(s.base, email, newPW); err != nil || r.status != http.StatusOK {
					t.Errorf("login with the new password on %s: %v %v", s.base, r, err)
				}
			}
		})
	}
	if racedTotal == 0 {
		t.Errorf("no login finished after a change in %d rounds: the race window was never hit", 2*rounds)
	}
}

// mailTo waits for the last mail of a kind to email in the file transport.
func mailTo(t *testing.T, path, kind, email string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := readLastMail(t, path, kind); m != nil && m["email"] == email {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s mail to %s in %s", kind, email, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeTwoInstancesPool: two `keylin serve` on one PostgreSQL database,
// each with DATABASE_MAX_OPEN_CONNS=3 and DATABASE_MAX_IDLE_CONNS=1, under
// 48 concurrent clients (token checks, refreshes and profile updates) for
// three seconds: every request is answered 200, neither instance opens
// more than its share (the server never sees more than 6 of their
// connections), and once the load has stopped each soon keeps at most its
// one idle connection.
func TestServeTwoInstancesPool(t *testing.T) {
	pg := dbtest.Migrated(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	vars := map[string]string{"DATABASE_MAX_OPEN_CONNS": "3", "DATABASE_MAX_IDLE_CONNS": "1", "RATE_LIMIT_STORE": "off"}
	a := startServeVars(t, pgURL.String(), vars)
	b := startServeVars(t, pgURL.String(), vars)
	logOnFailure(t, a, b)
	instances := []*served{a, b}

	// The instances' connections: the test's own pool (pg) is left out by
	// its application name.
	if _, err := pg.Exec(`SET application_name = 'keylin-pool-test'`); err != nil {
		t.Fatal(err)
	}
	pg.SetMaxOpenConns(1)
	conns := func() int {
		t.Helper()
		var n int
		if err := pg.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND pid <> pg_backend_pid() AND application_name <> 'keylin-pool-test'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	const clients, password = 48, "pool test passphrase"
	grants := make([]grant, clients)
	for i := range clients {
		email := fmt.Sprintf("pool-%d@example.com", i)
		s := instances[i%2]
		if r, err := registerUser(s.base, email, password); err != nil || r.status != http.StatusCreated {
			t.Fatalf("register: %v %v", r, err)
		}
		r, err := loginUser(s.base, email, password)
		if err != nil {
			t.Fatal(err)
		}
		grants[i] = mustGrant(t, r)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		peak     int
	)
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			if n := conns(); n > peak {
				peak = n
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	for i := range clients {
		wg.Go(func() {
			g := grants[i]
			for n := 0; ctx.Err() == nil; n++ {
				s := instances[(i+n)%2] // alternate, as a balancer would
				var r reply
				var err error
				switch n % 10 {
				case 0:
					if r, err = refreshGrant(s.base, g.RefreshToken); err == nil && r.status == http.StatusOK {
						g = mustGrant(t, r)
					}
				case 5:
					r, err = patchMe(s.base, g.AccessToken, map[string]any{"full_name": fmt.Sprintf("Pool %d", n)})
				default:
					r, err = getMe(s.base, g.AccessToken)
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[r.status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	total := 0
	for _, n := range statuses {
		total += n
	}
	t.Logf("%d requests over 2 instances, answers %v, at most %d connections open to the database", total, statuses, peak)
	if statuses[http.StatusOK] != total || total < clients {
		t.Fatalf("answers %v: want only 200", statuses)
	}
	if peak > 6 {
		t.Fatalf("%d connections at once: two instances of DATABASE_MAX_OPEN_CONNS=3 opened more than 6", peak)
	}
	if peak < 3 {
		t.Fatalf("at most %d connections under 48 clients: the load did not reach the pool", peak)
	}
	n := conns()
	for deadline := time.Now().Add(2 * time.Second); n > 2 && time.Now().Before(deadline); n = conns() {
		time.Sleep(50 * time.Millisecond) // connections in flight go back, extras are closed
	}
	if n > 2 {
		rows, _ := pg.Query(`SELECT application_name, state, backend_start, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
		for rows != nil && rows.Next() {
			var app, state, start, q string
			_ = rows.Scan(&app, &state, &start, &q)
			t.Logf("conn %q %s %s %q", app, state, start, q)
		}
		t.Fatalf("%d connections after the load: each instance should keep at most DATABASE_MAX_IDLE_CONNS=1", n)
	}
}
