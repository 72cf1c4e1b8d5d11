package openapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
	"github.com/keylin/keylin/openapi"
)

// answer is one response a route gave.
type answer struct {
	method, route string // route as Echo registered it
	status        int
	body          []byte
}

// TestAnswersAreDescribed drives every route of a real API (SQLite, the
// cookie transport and refresh tokens on, verification required) through
// its success and its usual failures, and checks each answer against the
// document: its status is documented for the route, and its body is valid
// against the documented schema (an empty body where none is documented).
// Every operation's documented success status must have been seen.
func TestAnswersAreDescribed(t *testing.T) {
	db := dbtest.Migrated(t, dialect.SQLite)
	client := ent.NewClient(ent.Driver(db.Driver()))
	hooks := &authtest.TokenHooks{}
	quiet := slog.New(slog.DiscardHandler)
	limits := authn.NoLimits()
	limits.LoginIP = authn.Limit{Count: 40, Period: time.Hour}
	m, err := authn.NewManager(ent.NewAuthnStore(client), authtest.Tokens(t),
		authn.WithHasher(authtest.Hasher(t)), authn.WithRefreshTokens(time.Hour), authn.WithRequireVerification(true),
		authn.WithLimits(limits), authn.WithHooks(hooks), authn.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, httpapi.WithUserSchema(ent.KeylinUserSchema()),
		httpapi.WithCookie(httpapi.CookieConfig{Insecure: true}), httpapi.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	var (
		mu      sync.Mutex
		answers []answer
	)
	e.Use(middleware.BodyDump(func(c echo.Context, _, body []byte) {
		mu.Lock()
		defer mu.Unlock()
		answers = append(answers, answer{c.Request().Method, c.Path(), c.Response().Status, body})
	}))
	api.MountAll(e)
	srv := httptest.NewServer(e)
	defer srv.Close()
	doc, err := openapi.New(api.Describe(), openapi.Info{})
	if err != nil {
		t.Fatal(err)
	}
	doc = reload(t, doc)

	c := &caller{t: t, base: srv.URL}
	const pw = "described passphrase"
	alice := map[string]any{"email": "alice@example.com", "password": pw}
	c.json("POST", "/auth/register", "", alice)
	c.json("POST", "/auth/register", "", alice)                                                     // 400 exists
	c.json("POST", "/auth/register", "", map[string]any{"email": "b@example.com", "password": "x"}) // 400 password
	c.json("POST", "/auth/register", "", map[string]any{"email": "not an email"})                   // 422
	c.raw("POST", "/auth/register", "application/json", strings.Repeat(" ", 70<<10), "")            // 413
	c.form("/auth/jwt/login", url.Values{"username": {"alice@example.com"}, "password": {pw}}, "")  // 400 not verified
	c.create(m, "root@example.com", pw, true)
	rootTok := c.login("/auth/jwt/login", "root@example.com", pw)["access_token"].(string)
	users := c.json("GET", "/users", rootTok, nil)
	aliceID := users["items"].([]any)[0].(map[string]any)["id"].(string)
	c.json("PATCH", "/users/"+aliceID, rootTok, map[string]any{"is_verified": true})
	c.json("PATCH", "/users/"+aliceID, rootTok, map[string]any{"email": "root@example.com"}) // 400
	c.json("GET", "/users?limit=0", rootTok, nil)                                            // 422
	grant := c.login("/auth/jwt/login", "alice@example.com", pw)
	c.form("/auth/jwt/login", url.Values{"username": {"alice@example.com"}, "password": {"wrong"}}, "") // 400
	c.json("POST", "/auth/jwt/login", "", alice)                                                        // 422
	grant = c.json("POST", "/auth/jwt/refresh", "", map[string]any{"refresh_token": grant["refresh_token"]})
	c.json("POST", "/auth/jwt/refresh", "", map[string]any{"refresh_token": "nope"}) // 400
	c.json("POST", "/auth/jwt/refresh", "", map[string]any{})                        // 422
	tok := grant["access_token"].(string)
	c.json("GET", "/users/me", tok, nil)
	c.json("GET", "/users/me", "", nil) // 401
	c.json("PATCH", "/users/me", tok, map[string]any{"full_name": "Alice"})
	c.json("PATCH", "/users/me", tok, map[string]any{"password": "x"})             // 400 password
	c.json("PATCH", "/users/me", tok, map[string]any{"email": "root@example.com"}) // 400 exists
	c.json("PATCH", "/users/me", tok, map[string]any{"email": 1})                  // 422
	c.json("GET", "/users", tok, nil)                                              // 403
	other := c.login("/auth/jwt/login", "alice@example.com", pw)["access_token"].(string)
	for _, s := range c.jsonList("GET", "/users/me/sessions", other) {
		if s := s.(map[string]any); s["current"] == false {
			c.json("DELETE", "/users/me/sessions/"+s["id"].(string), other, nil)
		}
	}
	c.json("DELETE", "/users/me/sessions/"+uuid.NewString(), other, nil) // 404
	c.json("DELETE", "/users/me/sessions", other, nil)
	sessions := c.jsonList("GET", "/users/"+aliceID+"/sessions", rootTok)
	c.json("GET", "/users/"+uuid.NewString(), rootTok, nil) // 404
	c.json("GET", "/users/"+aliceID, rootTok, nil)
	c.json("DELETE", "/users/"+aliceID+"/sessions/"+sessions[0].(map[string]any)["id"].(string), rootTok, nil)
	c.json("DELETE", "/users/"+aliceID+"/sessions", rootTok, nil)
	bob := c.create(m, "bob@example.com", pw, false)
	c.json("POST", "/auth/forgot-password", "", map[string]any{"email": "root@example.com"})
	c.json("POST", "/auth/request-verify-token", "", map[string]any{"email": bob.Email})
	c.json("POST", "/auth/reset-password", "", map[string]any{"token": "nope", "password": pw}) // 400
	c.json("POST", "/auth/verify", "", map[string]any{"token": "nope"})                         // 400
	verifyTok, resetTok := hooks.Last()
	c.json("POST", "/auth/reset-password", "", map[string]any{"token": resetTok, "password": "x"}) // 400 password
	c.json("POST", "/auth/reset-password", "", map[string]any{"token": resetTok, "password": pw + "!"})
	c.json("POST", "/auth/verify", "", map[string]any{"token": verifyTok})
	c.json("POST", "/auth/verify", "", map[string]any{"token": verifyTok}) // 400 already

	cookies := c.cookieLogin("bob@example.com", pw)
	c.raw("POST", "/auth/cookie/refresh", "", "", cookies)
	c.raw("POST", "/auth/cookie/refresh", "", "", "")                                       // 400
	c.raw("POST", "/auth/cookie/logout", "", "", cookies, "Origin", "https://evil.example") // 403
	c.raw("POST", "/auth/cookie/logout", "", "", cookies)
	c.raw("POST", "/auth/cookie/logout", "", "", "") // 401
	c.raw("POST", "/auth/jwt/logout", "", "", "")    // 401
	c.json("POST", "/auth/jwt/logout", c.login("/auth/jwt/login", "bob@example.com", pw)["access_token"].(string), nil)
	rootTok = c.login("/auth/jwt/login", "root@example.com", pw+"!")["access_token"].(string) // the reset ended root's sessions
	c.json("DELETE", "/users/"+aliceID, rootTok, nil)
	c.json("DELETE", "/users/"+aliceID, rootTok, nil) // 404

	mu.Lock()
	defer mu.Unlock()
	seen := map[string]bool{}
	for _, a := range answers {
		path := openapi.Path(a.route)
		key := a.method + " " + path + " " + strconv.Itoa(a.status)
		seen[key] = true
		op := doc.Paths.Value(path).GetOperation(a.method)
		if op == nil {
			t.Errorf("%s %s answered but is not described", a.method, path)
			continue
		}
		r := op.Responses.Value(strconv.Itoa(a.status))
		if r == nil {
			t.Errorf("%s: the status is not documented; body %s", key, a.body)
			continue
		}
		mt := r.Value.Content.Get("application/json")
		if mt == nil {
			if len(a.body) > 0 {
				t.Errorf("%s: no body documented, answered %s", key, a.body)
			}
			continue
		}
		var v any
		if err := json.Unmarshal(a.body, &v); err != nil {
			t.Errorf("%s: body %q is not JSON", key, a.body)
			continue
		}
		if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s: body %s does not match the documented schema: %v", key, a.body, err)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			var success []string
			for status := range op.Responses.Map() {
				if strings.HasPrefix(status, "2") {
					success = append(success, status)
				}
			}
			if len(success) != 1 || !seen[method+" "+path+" "+success[0]] {
				t.Errorf("%s %s: success %v never seen", method, path, success)
			}
		}
	}
	if t.Failed() {
		var all []string
		for k := range seen {
			all = append(all, k)
		}
		slices.Sort(all)
		t.Logf("answers seen:\n%s", strings.Join(all, "\n"))
	}
}

// caller makes requests of the API under test; the answers are checked
// from the server's side.
type caller struct {
	t    *testing.T
	base string
}

func (c *caller) raw(method, path, ctype, body, cookie string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// json sends v as JSON (none when nil) with the token, and returns the
// answer's object, if it is one.
func (c *caller) json(method, path, token string, v any) map[string]any {
	c.t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	body, ctype := "", ""
	if v != nil {
		b, _ := json.Marshal(v)
		body, ctype = string(b), "application/json"
	}
	_, b := c.raw(method, path, ctype, body, "", hdr...)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func (c *caller) jsonList(method, path, token string) []any {
	c.t.Helper()
	_, b := c.raw(method, path, "", "", "", "Authorization", "Bearer "+token)
	var l []any
	if err := json.Unmarshal(b, &l); err != nil || len(l) == 0 {
		c.t.Fatalf("%s %s: %s", method, path, b)
	}
	return l
}

func (c *caller) form(path string, f url.Values, cookie string) (*http.Response, []byte) {
	c.t.Helper()
	return c.raw("POST", path, "application/x-www-form-urlencoded", f.Encode(), cookie)
}

// login logs in with the bearer transport and returns the tokens.
func (c *caller) login(path, email, password string) map[string]any {
	c.t.Helper()
	resp, b := c.form(path, url.Values{"username": {email}, "password": {password}}, "")
	var m map[string]any
	if resp.StatusCode != 200 || json.Unmarshal(b, &m) != nil {
		c.t.Fatalf("login %s: %d %s", email, resp.StatusCode, b)
	}
	return m
}

// cookieLogin logs in with the cookie transport and returns the cookies
// as a Cookie header.
func (c *caller) cookieLogin(email, password string) string {
	c.t.Helper()
	resp, b := c.form("/auth/cookie/login", url.Values{"username": {email}, "password": {password}}, "")
	var parts []string
	for _, ck := range resp.Cookies() {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	if resp.StatusCode != 204 || len(parts) != 2 {
		c.t.Fatalf("cookie login: %d %s %v", resp.StatusCode, b, parts)
	}
	return strings.Join(parts, "; ")
}

// create creates a user: a verified superuser, or an unverified ordinary
// one.
func (c *caller) create(m *authn.Manager, email, password string, super bool) *authn.User {
	c.t.Helper()
	in := authn.UserCreate{Email: email, Password: password, IsSuperuser: &super, IsVerified: &super}
	u, err := m.CreateUser(context.Background(), in)
	if err != nil {
		c.t.Fatalf("create %s: %v", email, err)
	}
	return u
}
