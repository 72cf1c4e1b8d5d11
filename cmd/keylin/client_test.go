package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// A client for tests that talk to `keylin serve` from many goroutines:
// unlike do, these helpers return their errors instead of calling
// t.Fatal, which only the test's own goroutine may call.

// testClient keeps enough idle connections for the concurrent tests, so
// that they do not churn through ephemeral ports.
var testClient = &http.Client{
	Timeout: time.Minute,
	Transport: &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     30 * time.Second,
	},
}

// reply is one answer of the server.
type reply struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s (%v)", r.status, strings.TrimSpace(r.body), r.took.Round(time.Millisecond))
}

// call sends one request; hdr are header name/value pairs.
func call(method, u, ctype, body string, hdr ...string) (reply, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	start := time.Now()
	resp, err := testClient.Do(req)
	if err != nil {
		return reply{took: time.Since(start)}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), took: time.Since(start)}, err
}

// mustCall is call for the test's goroutine: a transport error is fatal.
func mustCall(t *testing.T, method, u, ctype, body string, hdr ...string) reply {
	t.Helper()
	r, err := call(method, u, ctype, body, hdr...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return r
}

func registerUser(base, email, password string) (reply, error) {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return call("POST", base+"/auth/register", "application/json", string(b))
}

// loginUser logs in with the password form; hdr are extra headers.
func loginUser(base, email, password string, hdr ...string) (reply, error) {
	form := url.Values{"username": {email}, "password": {password}}.Encode()
	return call("POST", base+"/auth/jwt/login", "application/x-www-form-urlencoded", form, hdr...)
}

func getMe(base, token string) (reply, error) {
	return call("GET", base+"/users/me", "", "", "Authorization", "Bearer "+token)
}

func refreshGrant(base, refreshToken string) (reply, error) {
	b, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	return call("POST", base+"/auth/jwt/refresh", "application/json", string(b))
}

func patchMe(base, token string, fields map[string]any) (reply, error) {
	b, _ := json.Marshal(fields)
	return call("PATCH", base+"/users/me", "application/json", string(b), "Authorization", "Bearer "+token)
}

// grant is the body of a successful login or refresh.
type grant struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
}

// grantOf decodes a login or refresh answer, which must be a 200 with
// both tokens.
func grantOf(r reply) (grant, error) {
	var g grant
	if r.status != http.StatusOK {
		return g, fmt.Errorf("want 200 with tokens, got %v", r)
	}
	if err := json.Unmarshal([]byte(r.body), &g); err != nil || g.AccessToken == "" || g.RefreshToken == "" {
		return g, fmt.Errorf("want both tokens, got %v (%v)", r, err)
	}
	return g, nil
}

func mustGrant(t *testing.T, r reply) grant {
	t.Helper()
	g, err := grantOf(r)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// detailOf returns the "detail" of a JSON error body, or "" when the body
// is not {"detail": "<string>"}.
func detailOf(r reply) string {
	var d struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal([]byte(r.body), &d) != nil {
		return ""
	}
	return d.Detail
}

// userEmailOf returns the email of a user object body.
func userEmailOf(r reply) string {
	var u struct {
		Email string `json:"email"`
	}
	_ = json.Unmarshal([]byte(r.body), &u)
	return u.Email
}

// retryAfter returns the Retry-After header in seconds, or 0 when it is
// missing or not a positive number.
func retryAfter(r reply) int {
	n, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// tally counts answers by a label ("POST /auth/register 201"), from many
// goroutines.
type tally struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *tally) add(label string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[label]++
}

// String lists the counts, one label per line, sorted.
func (c *tally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	labels := make([]string, 0, len(c.n))
	for l := range c.n {
		labels = append(labels, l)
	}
	sort.Strings(labels)
	var b strings.Builder
	for _, l := range labels {
		fmt.Fprintf(&b, "  %-40s %6d\n", l, c.n[l])
	}
	return b.String()
}

// latencies collects durations from many goroutines and summarises them.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

// String gives count, p50, p99 and max.
func (l *latencies) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return "none"
	}
	d := append([]time.Duration(nil), l.d...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Millisecond) }
	return fmt.Sprintf("n=%d p50=%v p99=%v max=%v", len(d), q(0.5), q(0.99), d[len(d)-1].Round(time.Millisecond))
}

// logOnFailure logs what the servers logged besides the request and audit
// lines (warnings, errors) when t fails.
func logOnFailure(t *testing.T, servers ...*served) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, s := range servers {
			var b strings.Builder
			for line := range strings.Lines(s.logs.String()) {
				if !strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"msg":"audit"`) {
					b.WriteString(line)
				}
			}
			t.Logf("%s logged:\n%s", s.base, b.String())
		}
	})
}
