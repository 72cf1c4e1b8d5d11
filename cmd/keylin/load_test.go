package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keylin/keylin/internal/dbtest"
)

// Size of TestServeLoad.
const (
	// loadClients is how many clients run at once.
	loadClients = 200
	// loadDuration is how long they run.
	loadDuration = 30 * time.Second
	// loadPassword is the password of the accounts the clients start with.
	loadPassword = "load test passphrase"
)

// loadAccount is a client's account in TestServeLoad.
type loadAccount struct {
	account
	// uncertain: a change of password was answered 503, and no login has
	// told yet whether it was made.
	uncertain bool
}

// TestServeLoad runs loadClients clients against one `keylin serve` on
// PostgreSQL for loadDuration, each in a loop of register, login, GET
// /users/me, PATCH /users/me (full name, sometimes the password) and
// refresh. No answer may be a 500 or anything the request does not call
// for; 503 is allowed (hashing slots busy longer than HASH_MAX_WAIT, or
// the database pool), and counted. Afterwards every acknowledged
// registration is in the database, and a sample of them logs in.
func TestServeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("a load of 200 clients for 30 s")
	}
	pg := dbtest.Migrated(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	t.Setenv("RATE_LIMIT_STORE", "off") // one client address makes every request
	s := startServe(t, pgURL.String())
	logOnFailure(t, s)

	// The clients start with accounts made in the database directly, with
	// the hash of one registration: registering 200 through the API would
	// take longer than the load itself.
	if r := mustCall(t, "POST", s.base+"/auth/register", "application/json",
		`{"email":"seed-0@example.com","password":"`+loadPassword+`"}`); r.status != http.StatusCreated {
		t.Fatalf("register: %v", r)
	}
	ctx := context.Background()
	if _, err := pg.ExecContext(ctx, `INSERT INTO users (id, email, hashed_password)
		SELECT gen_random_uuid(), 'seed-' || i || '@example.com', hashed_password
		FROM users, generate_series(1, $1) AS i WHERE email = 'seed-0@example.com'`, loadClients); err != nil {
		t.Fatal(err)
	}

	var (
		counts   tally
		lat      = map[string]*latencies{}
		mu       sync.Mutex
		acked    []*loadAccount // 201
		bad      []string       // answers the request does not call for
		deadline = time.Now().Add(loadDuration)
		wg       sync.WaitGroup
	)
	for _, route := range []string{"register", "login", "me", "patch", "refresh"} {
		lat[route] = &latencies{}
	}
	unexpected := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		bad = append(bad, fmt.Sprintf(format, args...))
	}
	for c := range loadClients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			me := &loadAccount{account: account{fmt.Sprintf("seed-%d@example.com", c+1), loadPassword}}
			var (
				g        grant
				maybePWs []string // after a password change answered 503: which password is it?
				n        int
			)
			time.Sleep(time.Duration(c) * 2 * time.Second / loadClients) // ramp up
			for time.Now().Before(deadline) {
				n++
				op := "me"
				switch x := rng.IntN(100); {
				case g.AccessToken == "" && x < 30:
					// Clients without a session are most of the queue for
					// the hashing slots at first: some of them register.
					op = "register"
				case g.AccessToken == "":
					op = "login"
				case x < 5:
					op = "register"
				case x < 10:
					op = "login"
				case x < 25:
					op = "patch"
				case x < 45:
					op = "refresh"
				}
				var (
					r   reply
					err error
				)
				switch op {
				case "register":
					a := &loadAccount{account: account{fmt.Sprintf("load-%d-%d@example.com", c, n), fmt.Sprintf("load passphrase %d-%d", c, n)}}
					r, err = registerUser(s.base, a.email, a.password)
					if err == nil && r.status == http.StatusCreated {
						me, g, maybePWs = a, grant{}, nil
						mu.Lock()
						acked = append(acked, a)
						mu.Unlock()
					}
				case "login":
					pw := me.password
					if len(maybePWs) > 0 {
						pw = maybePWs[0]
					}
					r, err = loginUser(s.base, me.email, pw)
					if err == nil && r.status == http.StatusOK {
						g, err = grantOf(r)
						me.password, me.uncertain, maybePWs = pw, false, nil
					} else if err == nil && r.status == http.StatusBadRequest && len(maybePWs) > 0 {
						maybePWs = maybePWs[1:] // not that one
						counts.add("POST /auth/jwt/login 400, the password changed under a 503 was not")
						continue
					}
				case "me":
					r, err = getMe(s.base, g.AccessToken)
					if err == nil && r.status == http.StatusOK && !strings.EqualFold(userEmailOf(r), me.email) {
						unexpected("GET /users/me as %s answered %s", me.email, r.body)
					}
				case "patch":
					body := map[string]any{"full_name": fmt.Sprintf("Client %d, request %d", c, n)}
					newPW := ""
					if rng.IntN(10) == 0 {
						newPW = fmt.Sprintf("changed passphrase %d-%d", c, n)
						body["password"] = newPW
					}
					r, err = patchMe(s.base, g.AccessToken, body)
					switch {
					case err != nil || newPW == "":
					case r.status == http.StatusOK:
						me.password = newPW
					case r.status == http.StatusServiceUnavailable:
						// Committed or not: the next login finds out.
						maybePWs, me.uncertain = []string{newPW, me.password}, true
					}
				case "refresh":
					r, err = refreshGrant(s.base, g.RefreshToken)
					switch {
					case err != nil:
					case r.status == http.StatusOK:
						g, err = grantOf(r)
					case r.status == http.StatusServiceUnavailable:
						// The rotation may have committed: the old token is
						// spent. Log in again.
						g = grant{}
					}
				}
				route := map[string]string{
					"register": "POST /auth/register", "login": "POST /auth/jwt/login", "me": "GET /users/me",
					"patch": "PATCH /users/me", "refresh": "POST /auth/jwt/refresh",
				}[op]
				if err != nil {
					unexpected("%s: %v", route, err)
					counts.add(route + " error")
					continue
				}
				counts.add(fmt.Sprintf("%s %d", route, r.status))
				lat[op].add(r.took)
				want := map[string]int{"register": 201, "login": 200, "me": 200, "patch": 200, "refresh": 200}[op]
				switch r.status {
				case want:
				case http.StatusServiceUnavailable:
					wait := retryAfter(r)
					if wait == 0 {
						unexpected("%s: 503 without Retry-After", route)
					}
					// As a client should: wait as told, give or take.
					time.Sleep(min(time.Until(deadline), time.Duration(wait)*time.Second/2+time.Duration(rng.Int64N(int64(wait)*int64(time.Second)))))
				default:
					unexpected("%s as %s: %v", route, me.email, r)
				}
			}
		})
	}
	wg.Wait()

	t.Logf("%d clients for %v:\n%s", loadClients, loadDuration, &counts)
	for _, op := range []string{"register", "login", "me", "patch", "refresh"} {
		t.Logf("  %-8s latency %s", op, lat[op])
	}
	for label, n := range counts.n {
		var method, path string
		var status int
		if _, err := fmt.Sscanf(label, "%s %s %d", &method, &path, &status); err == nil && status >= 500 && status != 503 {
			t.Errorf("%d × %s", n, label)
		}
	}
	for i, b := range bad {
		if i == 20 {
			t.Errorf("… and %d more unexpected answers", len(bad)-20)
			break
		}
		t.Errorf("unexpected: %s", b)
	}
	if len(acked) == 0 {
		t.Fatal("no registration was acknowledged under the load")
	}

	// Every acknowledged registration is stored.
	rows, err := pg.QueryContext(ctx, "SELECT lower(email) FROM users")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		stored[e] = true
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	for _, a := range acked {
		if !stored[strings.ToLower(a.email)] {
			t.Errorf("acknowledged registration %s is not stored", a.email)
		}
	}
	// And logs in with the password it has now: a sample, each login
	// costs a hash. An account whose password change was answered 503 is
	// left out: the change may or may not have been made.
	var sample []*loadAccount
	for _, a := range acked {
		if !a.uncertain && len(sample) < 20 {
			sample = append(sample, a)
		}
	}
	forEach(t, 4, sample, func(a *loadAccount) error {
		r, err := loginUser(s.base, a.email, a.password)
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return fmt.Errorf("acknowledged %s: login = %v", a.email, r)
		}
		return nil
	})
	t.Logf("%d registrations acknowledged, all stored", len(acked))
}
