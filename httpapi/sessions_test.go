package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/dbtest"
)

// grant is a bearer login or refresh response with refresh tokens on.
type grant struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
}

func (e *env) grant(email, password string) grant {
	e.t.Helper()
	r := e.loginResp(email, password)
	r.expectStatus(e.t, http.StatusOK)
	var g grant
	r.decode(e.t, &g)
	return g
}

func TestRefreshRoutes(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{managerOpts: []authn.Option{authn.WithRefreshTokens(time.Hour)}})
		e.user("r@example.com", false, true)

		t.Run("LoginReturnsRefreshToken", func(t *testing.T) {
			r := e.loginResp("r@example.com", testPassword)
			var m map[string]any
			r.decode(t, &m)
			if m["token_type"] != "bearer" || m["access_token"] == "" || len(m["refresh_token"].(string)) != authn.RefreshTokenLength ||
				m["expires_in"] != float64(3600) || len(m) != 4 {
				t.Fatalf("login body %s", r.body)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
			}
		})
		t.Run("JSON", func(t *testing.T) {
			g := e.grant("r@example.com", testPassword)
			r := e.postJSON("/auth/jwt/refresh", "", map[string]string{"refresh_token": g.RefreshToken})
			r.expectStatus(t, http.StatusOK)
			var n grant
			r.decode(t, &n)
			if n.RefreshToken == g.RefreshToken || n.TokenType != "bearer" || n.ExpiresIn != 3600 {
				t.Fatalf("refresh body %s", r.body)
			}
			e.get("/users/me", n.AccessToken).expectStatus(t, http.StatusOK)
			// The old refresh token is spent.
			e.postJSON("/auth/jwt/refresh", "", map[string]string{"refresh_token": g.RefreshToken}).
				expect(t, http.StatusBadRequest, `{"detail":"REFRESH_BAD_TOKEN"}`)
		})
		t.Run("OAuth2Form", func(t *testing.T) {
			g := e.grant("r@example.com", testPassword)
			e.postForm("/auth/jwt/refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {g.RefreshToken}}).
				expectStatus(t, http.StatusOK)
			e.postForm("/auth/jwt/refresh", url.Values{"grant_type": {"password"}, "refresh_token": {g.RefreshToken}}).
				expectInvalid(t, "body.grant_type:string_pattern_mismatch")
		})
		t.Run("Invalid", func(t *testing.T) {
			e.postJSON("/auth/jwt/refresh", "", map[string]any{}).expectInvalid(t, "body.refresh_token:missing")
			e.postJSON("/auth/jwt/refresh", "", map[string]any{"refresh_token": 5}).expectInvalid(t, "body.refresh_token:string_type")
			e.postForm("/auth/jwt/refresh", url.Values{}).expectInvalid(t, "body.refresh_token:missing")
			for _, bad := range []string{"x", strings.Repeat("A", 43), strings.Repeat("é", 30), e.grant("r@example.com", testPassword).AccessToken} {
				e.postJSON("/auth/jwt/refresh", "", map[string]string{"refresh_token": bad}).
					expect(t, http.StatusBadRequest, `{"detail":"REFRESH_BAD_TOKEN"}`)
			}
		})
		t.Run("Cookie", func(t *testing.T) {
			r := e.postForm("/auth/cookie/login", url.Values{"username": {"r@example.com"}, "password": {testPassword}})
			r.expect(t, http.StatusNoContent, "")
			cookies := r.cookies(t)
			access, refresh := cookies["fastapiusersauth"], cookies["fastapiusersauth_refresh"]
			if access == nil || refresh == nil {
				t.Fatalf("cookies %v", r.header.Values("Set-Cookie"))
			}
			if refresh.Path != "/auth/cookie/refresh" || !refresh.HttpOnly || !refresh.Secure || refresh.SameSite != http.SameSiteLaxMode ||
				refresh.MaxAge != 3600 {
				t.Fatalf("refresh cookie %+v: want HttpOnly, Secure, Lax, the refresh route only", refresh)
			}
			r = e.do(req{method: http.MethodPost, path: "/auth/cookie/refresh", header: map[string]string{"Cookie": refresh.Name + "=" + refresh.Value}})
			r.expect(t, http.StatusNoContent, "")
			renewed := r.cookies(t)
			if renewed["fastapiusersauth_refresh"] == nil || renewed["fastapiusersauth_refresh"].Value == refresh.Value {
				t.Fatal("the refresh cookie was not rotated")
			}
			e.do(req{method: http.MethodGet, path: "/users/me", header: map[string]string{"Cookie": "fastapiusersauth=" + renewed["fastapiusersauth"].Value}}).
				expectStatus(t, http.StatusOK)
			// Spent: refused, and the cookie cleared.
			r = e.do(req{method: http.MethodPost, path: "/auth/cookie/refresh", header: map[string]string{"Cookie": refresh.Name + "=" + refresh.Value}})
			r.expect(t, http.StatusBadRequest, `{"detail":"REFRESH_BAD_TOKEN"}`)
			if c := r.cookies(t)["fastapiusersauth_refresh"]; c == nil || c.MaxAge != -1 {
				t.Fatal("a refused refresh cookie was not cleared")
			}
			e.do(req{method: http.MethodPost, path: "/auth/cookie/refresh"}).expect(t, http.StatusBadRequest, `{"detail":"REFRESH_BAD_TOKEN"}`)
			// Logout clears both.
			r = e.do(req{method: http.MethodPost, path: "/auth/cookie/logout", header: map[string]string{"Cookie": "fastapiusersauth=" + renewed["fastapiusersauth"].Value}})
			r.expect(t, http.StatusNoContent, "")
			if c := r.cookies(t); c["fastapiusersauth"].MaxAge != -1 || c["fastapiusersauth_refresh"].MaxAge != -1 {
				t.Fatalf("logout cookies %v", r.header.Values("Set-Cookie"))
			}
		})
	})
}

// cookies returns the response's Set-Cookie headers by name.
func (r *resp) cookies(t *testing.T) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, h := range r.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(h)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name] = c
	}
	return out
}

// TestCookieCSRF: the cookie routes refuse a browser request from another
// site, whatever SameSite does; requests without Origin (non-browser
// clients) and from the server's own origin pass.
func TestCookieCSRF(t *testing.T) {
	e := newEnv(t, dialect.SQLite, config{})
	e.user("csrf@example.com", false, true)
	login := func(h map[string]string) *resp {
		return e.do(req{method: http.MethodPost, path: "/auth/cookie/login", ctype: "application/x-www-form-urlencoded",
			body: strings.NewReader(url.Values{"username": {"csrf@example.com"}, "password": {testPassword}}.Encode()), header: h})
	}
	self := strings.TrimPrefix(e.srv.URL, "http://")
	for name, h := range map[string]map[string]string{
		"CrossOrigin":       {"Origin": "https://evil.example"},
		"CrossSiteNoOrigin": {"Sec-Fetch-Site": "cross-site"},
		"NullOrigin":        {"Origin": "null"},
		"OtherPort":         {"Origin": "http://127.0.0.1:1"},
	} {
		t.Run("Refused/"+name, func(t *testing.T) {
			login(h).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		})
	}
	for name, h := range map[string]map[string]string{
		"NoOrigin":   nil,
		"SameOrigin": {"Origin": "http://" + self},
		"SameSite":   {"Sec-Fetch-Site": "same-origin"},
	} {
		t.Run("Allowed/"+name, func(t *testing.T) {
			login(h).expectStatus(t, http.StatusNoContent)
		})
	}
	t.Run("Logout", func(t *testing.T) {
		ck := login(nil).cookies(t)["fastapiusersauth"]
		e.do(req{method: http.MethodPost, path: "/auth/cookie/logout",
			header: map[string]string{"Cookie": "fastapiusersauth=" + ck.Value, "Origin": "https://evil.example"}}).
			expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		e.do(req{method: http.MethodGet, path: "/users/me", header: map[string]string{"Cookie": "fastapiusersauth=" + ck.Value}}).
			expectStatus(t, http.StatusOK)
	})
}

func TestSessionRoutes(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		u := e.user("s@example.com", false, true)
		_, adminTok := e.loggedIn("admin@example.com", true, true)
		tok := e.login("s@example.com", testPassword)
		second := e.login("s@example.com", testPassword)

		var list []map[string]any
		r := e.do(req{method: http.MethodGet, path: "/users/me/sessions", token: tok, header: map[string]string{"User-Agent": "kept"}})
		r.expectStatus(t, http.StatusOK)
		r.decode(t, &list)
		if len(list) != 2 || r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("sessions %s", r.body)
		}
		current := 0
		for _, s := range list {
			for _, k := range []string{"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip_address", "current"} {
				if _, ok := s[k]; !ok {
					t.Fatalf("session %v lacks %s", s, k)
				}
			}
			if s["ip_address"] != "127.0.0.1" || s["user_agent"] != "Go-http-client/1.1" {
				t.Errorf("session %v: client not recorded", s)
			}
			if s["current"] == true {
				current++
			}
		}
		if current != 1 {
			t.Fatalf("%d sessions marked current", current)
		}
		var secondID string
		for _, s := range list {
			if s["current"] == false {
				secondID = s["id"].(string)
			}
		}

		// Another user's session is not found; a bad id neither.
		e.do(req{method: http.MethodDelete, path: "/users/me/sessions/" + uuid.NewString(), token: tok}).expect(t, http.StatusNotFound, `{"detail":"Not Found"}`)
		e.do(req{method: http.MethodDelete, path: "/users/me/sessions/nope", token: tok}).expect(t, http.StatusNotFound, `{"detail":"Not Found"}`)
		_, otherTok := e.loggedIn("o@example.com", false, true)
		e.do(req{method: http.MethodDelete, path: "/users/me/sessions/" + secondID, token: otherTok}).expectStatus(t, http.StatusNotFound)
		e.get("/users/me", second).expectStatus(t, http.StatusOK)

		e.do(req{method: http.MethodDelete, path: "/users/me/sessions/" + secondID, token: tok}).expect(t, http.StatusNoContent, "")
		e.get("/users/me", second).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)

		third := e.login("s@example.com", testPassword)
		e.do(req{method: http.MethodDelete, path: "/users/me/sessions", token: tok}).expect(t, http.StatusNoContent, "")
		e.get("/users/me", third).expectStatus(t, http.StatusUnauthorized)
		e.get("/users/me", tok).expectStatus(t, http.StatusOK)

		t.Run("Superuser", func(t *testing.T) {
			path := "/users/" + u.ID.String() + "/sessions"
			e.get(path, tok).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
			e.get("/users/"+uuid.NewString()+"/sessions", adminTok).expect(t, http.StatusNotFound, `{"detail":"Not Found"}`)
			var ss []map[string]any
			r := e.get(path, adminTok)
			r.expectStatus(t, http.StatusOK)
			r.decode(t, &ss)
			if len(ss) != 1 || ss[0]["current"] != false {
				t.Fatalf("the user's sessions seen by a superuser: %s", r.body)
			}
			another := e.login("s@example.com", testPassword)
			e.do(req{method: http.MethodDelete, path: path + "/" + ss[0]["id"].(string), token: adminTok}).expect(t, http.StatusNoContent, "")
			e.get("/users/me", tok).expectStatus(t, http.StatusUnauthorized)
			e.do(req{method: http.MethodDelete, path: path, token: adminTok}).expect(t, http.StatusNoContent, "")
			e.get("/users/me", another).expectStatus(t, http.StatusUnauthorized)
			e.get("/users/me", adminTok).expectStatus(t, http.StatusOK)
		})
	})
}

// TestThrottledAndUnavailableAnswers: a rate limit answers 429 with
// Retry-After, a database out of reach 503 with Retry-After; neither is a
// 500.
func TestThrottledAndUnavailableAnswers(t *testing.T) {
	limits := authn.NoLimits()
	limits.LoginIP = authn.Limit{Count: 2, Period: time.Minute}
	e := newEnv(t, dialect.SQLite, config{managerOpts: []authn.Option{authn.WithLimits(limits)}})
	e.user("t@example.com", false, true)
	e.loginResp("t@example.com", "wrong password").expectStatus(t, http.StatusBadRequest)
	e.loginResp("t@example.com", "wrong password").expectStatus(t, http.StatusBadRequest)
	r := e.loginResp("t@example.com", testPassword)
	r.expect(t, http.StatusTooManyRequests, `{"detail":"Too Many Requests"}`)
	if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Fatalf("Retry-After %q", r.header.Get("Retry-After"))
	}

	// The database goes away: the store reports it as ErrUnavailable.
	down := newEnv(t, dialect.SQLite, config{})
	_, tok := down.loggedIn("d@example.com", false, true)
	m, err := authn.NewManager(unavailableStore{down.store}, down.m.Tokens(), authn.WithLimits(authn.NoLimits()))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m)
	if err != nil {
		t.Fatal(err)
	}
	app := echo.New()
	api.MountAll(app)
	srv := httptest.NewServer(app)
	defer srv.Close()
	for name, r := range map[string]*http.Request{
		"Me":    mustRequest(t, http.MethodGet, srv.URL+"/users/me", "", "Bearer "+tok),
		"Login": mustRequest(t, http.MethodPost, srv.URL+"/auth/jwt/login", "username=d%40example.com&password=x", ""),
	} {
		t.Run("Unavailable/"+name, func(t *testing.T) {
			res, err := srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusServiceUnavailable || string(b) != `{"detail":"Service Unavailable"}` || res.Header.Get("Retry-After") == "" {
				t.Fatalf("%d %s Retry-After %q", res.StatusCode, b, res.Header.Get("Retry-After"))
			}
		})
	}
}

// unavailableStore is a database out of reach.
type unavailableStore struct{ authn.Store }

var errDown = fmt.Errorf("%w: dial tcp 127.0.0.1:5432: connect: connection refused", authn.ErrUnavailable)

func (unavailableStore) GetUserForToken(context.Context, uuid.UUID, uuid.UUID, time.Time) (*authn.User, bool, error) {
	return nil, false, errDown
}

func (unavailableStore) GetUserByEmail(context.Context, string) (*authn.User, error) {
	return nil, errDown
}

func mustRequest(t *testing.T, method, url, form, auth string) *http.Request {
	t.Helper()
	r, err := http.NewRequest(method, url, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	if form != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestQuietRegisterOverHTTP(t *testing.T) {
	e := newEnv(t, dialect.SQLite, config{managerOpts: []authn.Option{authn.WithQuietRegister(true)}})
	body := map[string]any{"email": "q@example.com", "password": testPassword, "full_name": "Q"}
	first := e.postJSON("/auth/register", "", body)
	first.expectStatus(t, http.StatusCreated)
	again := e.postJSON("/auth/register", "", body)
	again.expectStatus(t, http.StatusCreated)
	a, b := first.userJSON(t), again.userJSON(t)
	delete(a, "id")
	delete(b, "id")
	if len(a) != len(b) || a["email"] != b["email"] || a["is_verified"] != b["is_verified"] {
		t.Fatalf("answers differ: %s vs %s", first.body, again.body)
	}
	if n := e.client.User.Query().CountX(context.Background()); n != 1 {
		t.Fatalf("%d users", n)
	}
}

func TestCurrentPasswordOverHTTP(t *testing.T) {
	e := newEnv(t, dialect.SQLite, config{managerOpts: []authn.Option{authn.WithCurrentPasswordRequired(true)}})
	_, tok := e.loggedIn("cp@example.com", false, true)
	e.patchJSON("/users/me", tok, map[string]any{"password": "brand new password"}).
		expect(t, http.StatusBadRequest, `{"detail":"UPDATE_USER_BAD_CURRENT_PASSWORD"}`)
	e.patchJSON("/users/me", tok, map[string]any{"password": "brand new password", "current_password": 1}).
		expectInvalid(t, "body.current_password:string_type")
	e.patchJSON("/users/me", tok, map[string]any{"password": "brand new password", "current_password": testPassword}).
		expectStatus(t, http.StatusOK)
	e.get("/users/me", tok).expectStatus(t, http.StatusOK)
	if _, err := e.m.Login(context.Background(), "cp@example.com", "brand new password"); err != nil {
		t.Fatal(errors.Join(errors.New("the new password does not work"), err))
	}
}
