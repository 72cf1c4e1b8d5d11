package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
)

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = authtest.LogBuffer

type served struct {
	base   string
	logs   *syncBuffer
	mail   string
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `keylin serve` in-process on a free port.
func startServe(t *testing.T, dbURL string, args ...string) *served {
	t.Helper()
	return startServeVars(t, dbURL, nil, args...)
}

// startServeVars is startServe with the variables in vars set last; a
// MAIL_URL among them must be a file: URL.
func startServeVars(t *testing.T, dbURL string, vars map[string]string, args ...string) *served {
	t.Helper()
	cheapEnv(t, dbURL)
	mailFile := filepath.Join(t.TempDir(), "mail.jsonl")
	t.Setenv("MAIL_URL", "file:"+mailFile)
	for k, v := range vars {
		t.Setenv(k, v)
		if k == "MAIL_URL" {
			mailFile = strings.TrimPrefix(v, "file:")
		}
	}
	addrc := make(chan string, 1)
	onListen = func(a string) { addrc <- a }
	t.Cleanup(func() { onListen = func(string) {} })
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), strings.NewReader(""), io.Discard, logs)
	}()
	select {
	case a := <-addrc:
		s := &served{base: "http://" + a, logs: logs, mail: mailFile, cancel: cancel, done: done}
		t.Cleanup(func() { s.stop(t) })
		s.awaitWarm(t)
		return s
	case code := <-done:
		cancel()
		t.Fatalf("serve exited %d: %s", code, logs.String())
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("serve did not start: %s", logs.String())
	}
	return nil
}

// awaitWarm waits, as a load balancer would, until /readyz no longer says
// "starting": serve times a password hash first, in a hashing slot that a
// test with one slot would otherwise find taken.
func (s *served) awaitWarm(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r, err := call("GET", s.base+"/readyz", "", "")
		if err != nil || !strings.Contains(r.body, "starting") {
			return
		}
	}
	t.Fatal("serve still starting after 30 s")
}

func (s *served) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("serve exited %d: %s", code, s.logs.String())
		}
		s.done <- code
	case <-time.After(30 * time.Second):
		t.Error("serve did not stop")
	}
}

func do(t *testing.T, method, u, ctype, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// lastMail returns the last message of a kind from the file transport,
// waiting for the background queue to write it.
func lastMail(t *testing.T, path, kind string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := readLastMail(t, path, kind); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s mail in %s", kind, path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readLastMail(t *testing.T, path, kind string) map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var last map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("mail line %q: %v", sc.Text(), err)
		}
		if m["kind"] == kind {
			last = m
		}
	}
	return last
}

func TestServe(t *testing.T) {
	pg := dbtest.Migrated(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	for name, dbURL := range map[string]string{
		"sqlite":   "sqlite:///" + filepath.Join(t.TempDir(), "serve.db"), // migrated at start-up
		"postgres": pgURL.String(),
	} {
		t.Run(name, func(t *testing.T) {
			s := startServe(t, dbURL)
			resp, body := do(t, "GET", s.base+"/healthz", "", "")
			if resp.StatusCode != 200 || !strings.Contains(body, "ok") {
				t.Fatalf("healthz: %d %s", resp.StatusCode, body)
			}
			// Ready once the hasher has timed a hash; "starting" until then.
			for deadline := time.Now().Add(10 * time.Second); ; {
				resp, body = do(t, "GET", s.base+"/readyz", "", "")
				if resp.StatusCode == 200 {
					break
				}
				if resp.StatusCode != 503 || !strings.Contains(body, "starting") || time.Now().After(deadline) {
					t.Fatalf("readyz: %d %s", resp.StatusCode, body)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if resp, _ = do(t, "HEAD", s.base+"/healthz", "", ""); resp.StatusCode != 200 {
				t.Fatalf("HEAD /healthz: %d", resp.StatusCode)
			}
			resp, body = do(t, "GET", s.base+"/no/such/route", "", "")
			if resp.StatusCode != 404 || strings.TrimSpace(body) != `{"detail":"Not Found"}` || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("unknown route: %d %s", resp.StatusCode, body)
			}
			resp, body = do(t, "PUT", s.base+"/auth/register", "application/json", "{}")
			if resp.StatusCode != 405 || strings.TrimSpace(body) != `{"detail":"Method Not Allowed"}` {
				t.Fatalf("wrong method: %d %s", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Fatalf("security headers missing: %v", resp.Header)
			}
			const pw = "serve test passphrase"
			resp, body = do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"Sam@Example.com","password":"`+pw+`"}`)
			if resp.StatusCode != 201 {
				t.Fatalf("register: %d %s", resp.StatusCode, body)
			}
			resp, _ = do(t, "POST", s.base+"/auth/forgot-password", "application/json", `{"email":"sam@example.com"}`)
			if resp.StatusCode != 202 {
				t.Fatalf("forgot: %d", resp.StatusCode)
			}
			m := lastMail(t, s.mail, "reset")
			tok, _ := m["token"].(string)
			if tok == "" || !strings.Contains(m["link"].(string), url.QueryEscape(tok)) || m["email"] != "Sam@example.com" {
				t.Fatalf("reset mail: %v", m)
			}
			resp, body = do(t, "POST", s.base+"/auth/reset-password", "application/json", `{"token":"`+tok+`","password":"a new serve passphrase"}`)
			if resp.StatusCode != 200 {
				t.Fatalf("reset: %d %s", resp.StatusCode, body)
			}
			resp, body = do(t, "POST", s.base+"/auth/jwt/login", "application/x-www-form-urlencoded",
				url.Values{"username": {"SAM@example.com"}, "password": {"a new serve passphrase"}}.Encode(),
				"X-Forwarded-For", "203.0.113.9")
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("login: %d %s", resp.StatusCode, body)
			}
			var lr struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.Unmarshal([]byte(body), &lr)
			resp, body = do(t, "GET", s.base+"/users/me", "", "", "Authorization", "Bearer "+lr.AccessToken)
			if resp.StatusCode != 200 || !strings.Contains(body, `"email":"Sam@example.com"`) || resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("me: %d %s", resp.StatusCode, body)
			}
			logs := s.logs.String()
			for _, secret := range []string{pw, "a new serve passphrase", tok, lr.AccessToken, "argon2id"} {
				if strings.Contains(logs, secret) {
					t.Fatalf("a secret reached the log: %q", secret)
				}
			}
			if strings.Contains(logs, "203.0.113.9") || !strings.Contains(logs, `"ip":"127.0.0.1"`) {
				t.Fatal("the client IP was taken from an untrusted X-Forwarded-For")
			}
			if !strings.Contains(logs, `"path":"/users/me"`) || !strings.Contains(logs, `"user_id"`) {
				t.Fatalf("request log lacks path or user id:\n%s", logs)
			}
		})
	}
}

// TestServeGracefulShutdown: a request in flight when SIGTERM arrives (the
// context ends) still gets its answer.
func TestServeGracefulShutdown(t *testing.T) {
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "g.db"))
	do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"g@example.com","password":"graceful passphrase"}`)
	type result struct {
		code int
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.PostForm(s.base+"/auth/jwt/login", url.Values{"username": {"g@example.com"}, "password": {"graceful passphrase"}})
		if err != nil {
			res <- result{err: err}
			return
		}
		resp.Body.Close()
		res <- result{code: resp.StatusCode}
	}()
	time.Sleep(5 * time.Millisecond) // the login is hashing
	s.cancel()
	r := <-res
	if r.err != nil || r.code != 200 {
		t.Fatalf("in-flight login during shutdown: %d %v", r.code, r.err)
	}
	if code := <-s.done; code != 0 {
		t.Fatalf("serve exited %d", code)
	}
	s.done <- 0
	if !strings.Contains(s.logs.String(), "stopped") {
		t.Fatal("no clean stop logged")
	}
}

func TestServeWithoutJWTSecret(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("JWT_SECRET", "")
	code, _, errOut := runWithStdin(t, "", "serve", "--addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "JWT_SECRET") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

// TestServePostgresNeedsMigrateFlag: serve does not touch a PostgreSQL
// schema unless --migrate is given.
func TestServePostgresNeedsMigrateFlag(t *testing.T) {
	pg := dbtest.Empty(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	s := startServe(t, pgURL.String())
	resp, _ := do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"p@example.com","password":"postgres passphrase"}`)
	if resp.StatusCode != 500 {
		t.Fatalf("register on an unmigrated database: %d", resp.StatusCode)
	}
	s.stop(t)
	s = startServe(t, pgURL.String(), "--migrate")
	resp, body := do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"p@example.com","password":"postgres passphrase"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("register after --migrate: %d %s", resp.StatusCode, body)
	}
}

// TestServeOptions: CORS only for ALLOWED_ORIGINS, X-Forwarded-For only
// from TRUSTED_PROXIES, and the verify mail right after registration with
// SEND_VERIFY_ON_REGISTER.
func TestServeOptions(t *testing.T) {
	t.Setenv("ALLOWED_ORIGINS", `["https://app.example.com"]`)
	t.Setenv("TRUSTED_PROXIES", "127.0.0.1")
	t.Setenv("SEND_VERIFY_ON_REGISTER", "true")
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "opts.db"))

	for origin, allowed := range map[string]bool{"https://app.example.com": true, "https://evil.example.com": false} {
		resp, _ := do(t, "OPTIONS", s.base+"/auth/jwt/login", "", "", "Origin", origin, "Access-Control-Request-Method", "POST")
		if got := resp.Header.Get("Access-Control-Allow-Origin"); (got == origin) != allowed {
			t.Fatalf("origin %s: Access-Control-Allow-Origin = %q", origin, got)
		}
	}

	resp, body := do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"v@example.com","password":"verify on register"}`,
		"X-Forwarded-For", "198.51.100.7")
	if resp.StatusCode != 201 {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(s.logs.String(), `"ip":"198.51.100.7"`) {
		t.Fatal("the client IP from a trusted proxy's X-Forwarded-For was not used")
	}
	m := lastMail(t, s.mail, "verify")
	tok, _ := m["token"].(string)
	resp, body = do(t, "POST", s.base+"/auth/verify", "application/json", `{"token":"`+tok+`"}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"is_verified":true`) {
		t.Fatalf("verify with the mailed token: %d %s", resp.StatusCode, body)
	}
}

// TestServeCookieTransport: with COOKIE_TRANSPORT, login at
// /auth/cookie/login sets fastapi-users' cookie, which authenticates.
func TestServeCookieTransport(t *testing.T) {
	t.Setenv("COOKIE_TRANSPORT", "true")
	t.Setenv("COOKIE_NAME", "keylinsession")
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "cookie.db"))
	do(t, "POST", s.base+"/auth/register", "application/json", `{"email":"c@example.com","password":"cookie passphrase"}`)
	resp, body := do(t, "POST", s.base+"/auth/cookie/login", "application/x-www-form-urlencoded",
		url.Values{"username": {"c@example.com"}, "password": {"cookie passphrase"}}.Encode())
	if resp.StatusCode != 204 || body != "" {
		t.Fatalf("cookie login: %d %q", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "keylinsession" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie: %+v", ck)
	}
	resp, body = do(t, "GET", s.base+"/users/me", "", "", "Cookie", ck.Name+"="+ck.Value)
	if resp.StatusCode != 200 || !strings.Contains(body, "c@example.com") {
		t.Fatalf("me with the cookie: %d %s", resp.StatusCode, body)
	}
}

// TestServeRefusesWildcardOrigin: ALLOWED_ORIGINS=* (alone or in a list)
// stops serve before it starts, with one line naming the variable, exit 1.
func TestServeRefusesWildcardOrigin(t *testing.T) {
	cheapEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "cors.db"))
	for _, origins := range []string{"*", `["https://app.example.com", "*"]`} {
		t.Setenv("ALLOWED_ORIGINS", origins)
		code, out, errOut := runWithStdin(t, "", "serve", "--addr", "127.0.0.1:0")
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "keylin: ") ||
			!strings.Contains(errOut, "ALLOWED_ORIGINS") || !strings.Contains(errOut, "*") {
			t.Fatalf("ALLOWED_ORIGINS=%s: exit %d, stdout %q, stderr %q", origins, code, out, errOut)
		}
	}
}

// TestServeRefusesBrokenMailTemplates: a MAIL_TEMPLATES directory holding
// a broken template stops serve before it listens, exit 1, with one line
// naming the file and the line.
func TestServeRefusesBrokenMailTemplates(t *testing.T) {
	cheapEnv(t, "sqlite:///"+filepath.Join(t.TempDir(), "tmpl.db"))
	for name, tt := range map[string]struct {
		files map[string]string
		bad   string // the file the error names
	}{
		"ParseError":   {map[string]string{"verify.txt": "Hello,\n\n{{.Link}\n"}, "verify.txt"},
		"UnknownField": {map[string]string{"fr/reset.txt": "Bonjour {{.User.Nickname}},\n{{.Link}}\n"}, "fr/reset.txt"},
		"BadHTML":      {map[string]string{"verify.txt": "{{.Link}}\n", "verify.html": `<a href="{{.Link}}>verify</a>`}, "verify.html"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for rel, content := range tt.files {
				p := filepath.Join(dir, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			file := filepath.Join(dir, filepath.FromSlash(tt.bad))
			t.Setenv("MAIL_TEMPLATES", dir)
			code, out, errOut := runWithStdin(t, "", "serve", "--addr", "127.0.0.1:0")
			// The error is the last line, after the JSON log of the
			// migrations a new SQLite file gets.
			var other []string
			for line := range strings.Lines(errOut) {
				if !strings.HasPrefix(line, "{") {
					other = append(other, line)
				}
			}
			if code != 1 || out != "" || len(other) != 1 || !strings.HasSuffix(errOut, other[0]) || !strings.HasPrefix(other[0], "keylin: ") ||
				!strings.Contains(other[0], "MAIL_TEMPLATES") || !strings.Contains(other[0], file) {
				t.Fatalf("exit %d, stdout %q, stderr %q: want 1 and one line naming %s", code, out, errOut, file)
			}
		})
	}
	t.Run("NotADirectory", func(t *testing.T) {
		t.Setenv("MAIL_TEMPLATES", filepath.Join(t.TempDir(), "missing"))
		code, _, errOut := runWithStdin(t, "", "serve", "--addr", "127.0.0.1:0")
		if code != 1 || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "MAIL_TEMPLATES") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestServeBodyLimitAnswer: a body over serve's 1 MiB limit is a 413 in
// the contract's shape that still carries the security headers, whether
// the client announces its length or streams it.
func TestServeBodyLimitAnswer(t *testing.T) {
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "limit.db"))
	const limit = 1 << 20 // serve's server-wide limit, as the README says
	big := `{"email":"big@example.com","password":"` + strings.Repeat("x", limit) + `"}`
	for _, c := range []struct {
		name, path string
		chunked    bool
	}{
		{"register", "/auth/register", false},
		{"register, streamed", "/auth/register", true},
		{"unknown route", "/no/such/route", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if c.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			req, err := http.NewRequest("POST", s.base+c.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if (req.ContentLength > 0) == c.chunked {
				t.Fatalf("request length %d, chunked %v", req.ContentLength, c.chunked)
			}
			if resp.StatusCode != http.StatusRequestEntityTooLarge || strings.TrimSpace(string(b)) != `{"detail":"Request Entity Too Large"}` {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
			for h, want := range map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
			} {
				if got := resp.Header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
		})
	}
}

// TestServeShutdownDelay: with SHUTDOWN_DELAY, /readyz answers 503
// {"detail":"shutting down"} as soon as shutdown begins, while every other
// route still answers for the delay; then serve stops cleanly.
func TestServeShutdownDelay(t *testing.T) {
	const delay = 2 * time.Second
	t.Setenv("SHUTDOWN_DELAY", delay.String())
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "delay.db"))
	const email, pw = "d@example.com", "shutdown delay passphrase"
	if r := mustCall(t, "POST", s.base+"/auth/register", "application/json", `{"email":"`+email+`","password":"`+pw+`"}`); r.status != 201 {
		t.Fatalf("register: %v", r)
	}
	r, err := loginUser(s.base, email, pw)
	if err != nil {
		t.Fatal(err)
	}
	g := mustGrant(t, r)
	if r := mustCall(t, "GET", s.base+"/readyz", "", ""); r.status != 200 {
		t.Fatalf("readyz before shutdown: %v", r)
	}

	s.cancel() // SIGTERM
	cancelled := time.Now()
	for {
		r := mustCall(t, "GET", s.base+"/readyz", "", "")
		if r.status == http.StatusServiceUnavailable {
			if detailOf(r) != "shutting down" {
				t.Fatalf("readyz during shutdown: %v", r)
			}
			break
		}
		if time.Since(cancelled) > delay/2 {
			t.Fatalf("readyz still %v %v after shutdown began", r, time.Since(cancelled))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("/readyz failed %v after shutdown began", time.Since(cancelled).Round(time.Millisecond))
	// Every other route still answers: the requests go at once, together.
	checks := map[string]func() (reply, error){
		"GET /healthz":           func() (reply, error) { return call("GET", s.base+"/healthz", "", "") },
		"GET /users/me":          func() (reply, error) { return getMe(s.base, g.AccessToken) },
		"POST /auth/jwt/login":   func() (reply, error) { return loginUser(s.base, email, pw) },
		"POST /auth/jwt/refresh": func() (reply, error) { return refreshGrant(s.base, g.RefreshToken) },
	}
	var wg sync.WaitGroup
	for name, f := range checks {
		wg.Go(func() {
			if r, err := f(); err != nil || r.status != 200 {
				t.Errorf("%s during the delay: %v %v", name, r, err)
			}
		})
	}
	wg.Wait()
	if r, err := call("GET", s.base+"/readyz", "", ""); time.Since(cancelled) < delay*3/4 && (err != nil || r.status != http.StatusServiceUnavailable) {
		t.Errorf("readyz later in the delay: %v %v", r, err)
	}
	select {
	case code := <-s.done:
		s.done <- code
		t.Fatalf("serve exited %d within %v of a %v delay", code, time.Since(cancelled), delay)
	default:
	}
	select {
	case code := <-s.done:
		s.done <- code
		if code != 0 {
			t.Fatalf("serve exited %d", code)
		}
		if took := time.Since(cancelled); took < delay {
			t.Fatalf("serve stopped %v after shutdown began, before the %v delay", took, delay)
		}
	case <-time.After(delay + 30*time.Second):
		t.Fatal("serve did not stop after the delay")
	}
	if _, err := call("GET", s.base+"/healthz", "", ""); err == nil {
		t.Fatal("serve still answers after it stopped")
	}
}
