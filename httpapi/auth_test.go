package httpapi_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
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

func TestLogin(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		u := e.user("l@example.com", false, false)

		r := e.loginResp("L@EXAMPLE.com", testPassword)
		r.expectStatus(t, http.StatusOK)
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
			t.Errorf("cache headers %v", r.header)
		}

		bad := `{"detail":"LOGIN_BAD_CREDENTIALS"}`
		e.loginResp("l@example.com", "wrong password").expect(t, http.StatusBadRequest, bad)
		e.loginResp("nobody@example.com", testPassword).expect(t, http.StatusBadRequest, bad)

		t.Run("Form", func(t *testing.T) {
			e.postForm("/auth/jwt/login", url.Values{"username": {"l@example.com"}, "password": {testPassword},
				"grant_type": {"password"}, "scope": {"read write"}, "client_id": {"x"}}).expectStatus(t, http.StatusOK)
			e.postForm("/auth/jwt/login", url.Values{"username": {"l@example.com"}, "password": {testPassword},
				"grant_type": {"client_credentials"}}).expectInvalid(t, "body.grant_type:string_pattern_mismatch")
			e.postForm("/auth/jwt/login", url.Values{"password": {testPassword}}).expectInvalid(t, "body.username:missing")
			e.postForm("/auth/jwt/login", url.Values{"username": {"l@example.com"}, "password": {""}}).
				expectInvalid(t, "body.password:missing")
			// A JSON body is no form.
			e.postJSON("/auth/jwt/login", "", map[string]any{"username": "l@example.com", "password": testPassword}).
				expectInvalid(t, "body.username:missing", "body.password:missing")

			var buf bytes.Buffer
			mw := multipart.NewWriter(&buf)
			_ = mw.WriteField("username", "l@example.com")
			_ = mw.WriteField("password", testPassword)
			_ = mw.Close()
			e.do(req{method: http.MethodPost, path: "/auth/jwt/login", ctype: mw.FormDataContentType(), body: &buf}).
				expectStatus(t, http.StatusOK)
			e.do(req{method: http.MethodPost, path: "/auth/jwt/login", ctype: "multipart/form-data; boundary=x",
				body: strings.NewReader("garbage")}).expectInvalid(t, "body:value_error")
		})

		t.Run("Inactive", func(t *testing.T) {
			tok := e.login("l@example.com", testPassword)
			no := false
			if _, err := e.m.UpdateAsSuperuser(context.Background(), u, authn.UserUpdate{IsActive: &no}); err != nil {
				t.Fatal(err)
			}
			e.loginResp("l@example.com", testPassword).expect(t, http.StatusBadRequest, bad)
			e.get("/users/me", tok).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		})
	})
}

func TestRequireVerification(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{
			managerOpts: []authn.Option{authn.WithRequireVerification(true)},
		})
		u := e.user("u@example.com", false, false)
		e.loginResp("u@example.com", testPassword).expect(t, http.StatusBadRequest, `{"detail":"LOGIN_USER_NOT_VERIFIED"}`)

		// A token issued before verification was required, or by another service.
		tok, _, err := e.m.Tokens().IssueAccess(u.ID, uuid.Nil)
		if err != nil {
			t.Fatal(err)
		}
		e.get("/users/me", tok).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		e.do(req{method: http.MethodPost, path: "/auth/jwt/logout", token: tok}).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)

		e.user("v@example.com", false, true)
		tok = e.login("v@example.com", testPassword)
		e.get("/users/me", tok).expectStatus(t, http.StatusOK)
	})
}

func TestBearer(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		_, tok := e.loggedIn("b@example.com", false, false)
		unauthorized := `{"detail":"Unauthorized"}`
		for name, h := range map[string]string{
			"None":        "",
			"OtherScheme": "Basic " + tok,
			"NoScheme":    tok,
			"EmptyToken":  "Bearer ",
			"Garbage":     "Bearer not.a.token",
		} {
			t.Run(name, func(t *testing.T) {
				r := e.do(req{method: http.MethodGet, path: "/users/me", header: map[string]string{"Authorization": h}})
				r.expect(t, http.StatusUnauthorized, unauthorized)
				if r.header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			})
		}
		for _, scheme := range []string{"bearer", "BEARER", "bEaReR"} {
			e.do(req{method: http.MethodGet, path: "/users/me", header: map[string]string{"Authorization": scheme + " " + tok}}).
				expectStatus(t, http.StatusOK)
		}

		t.Run("Logout", func(t *testing.T) {
			other := e.login("b@example.com", testPassword)
			e.do(req{method: http.MethodPost, path: "/auth/jwt/logout"}).expect(t, http.StatusUnauthorized, unauthorized)
			e.do(req{method: http.MethodPost, path: "/auth/jwt/logout", token: tok}).expect(t, http.StatusNoContent, "")
			e.get("/users/me", tok).expect(t, http.StatusUnauthorized, unauthorized)
			e.do(req{method: http.MethodPost, path: "/auth/jwt/logout", token: tok}).expect(t, http.StatusUnauthorized, unauthorized)
			e.get("/users/me", other).expectStatus(t, http.StatusOK) // only that token died
		})
	})
}

func TestCookieTransport(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		e.user("c@example.com", false, false)

		r := e.postForm("/auth/cookie/login", url.Values{"username": {"c@example.com"}, "password": {testPassword}})
		r.expect(t, http.StatusNoContent, "")
		set := r.header.Get("Set-Cookie")
		for _, attr := range []string{"fastapiusersauth=", "Path=/", "Max-Age=3600", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(set, attr) {
				t.Errorf("Set-Cookie %q lacks %q", set, attr)
			}
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
		}
		ck, err := http.ParseSetCookie(set)
		if err != nil {
			t.Fatal(err)
		}
		cookie := map[string]string{"Cookie": ck.Name + "=" + ck.Value}

		e.postForm("/auth/cookie/login", url.Values{"username": {"c@example.com"}, "password": {"wrong password"}}).
			expect(t, http.StatusBadRequest, `{"detail":"LOGIN_BAD_CREDENTIALS"}`)

		me := e.do(req{method: http.MethodGet, path: "/users/me", header: cookie})
		if m := me.userJSON(t); m["email"] != "c@example.com" {
			t.Fatalf("me %v", m)
		}
		// The bearer logout route does not take the cookie.
		e.do(req{method: http.MethodPost, path: "/auth/jwt/logout", header: cookie}).expectStatus(t, http.StatusUnauthorized)

		r = e.do(req{method: http.MethodPost, path: "/auth/cookie/logout", header: cookie})
		r.expect(t, http.StatusNoContent, "")
		cleared, err := http.ParseSetCookie(r.header.Get("Set-Cookie"))
		if err != nil {
			t.Fatal(err)
		}
		if cleared.Name != "fastapiusersauth" || cleared.Value != "" || cleared.MaxAge != -1 || !cleared.HttpOnly || !cleared.Secure {
			t.Errorf("logout Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
		e.do(req{method: http.MethodGet, path: "/users/me", header: cookie}).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		e.do(req{method: http.MethodPost, path: "/auth/cookie/logout", header: cookie}).expectStatus(t, http.StatusUnauthorized)
	})
}

func TestOptions(t *testing.T) {
	e := newEnv(t, dialect.SQLite, config{apiOpts: []httpapi.Option{
		httpapi.WithCookie(httpapi.CookieConfig{Name: "sid", Insecure: true, MaxAge: time.Minute, Domain: "example.com", Path: "/app"}),
		httpapi.WithMaxBodyBytes(100),
	}})
	e.user("o@example.com", false, false)
	r := e.postForm("/auth/cookie/login", url.Values{"username": {"o@example.com"}, "password": {testPassword}})
	r.expect(t, http.StatusNoContent, "")
	ck, err := http.ParseSetCookie(r.header.Get("Set-Cookie"))
	if err != nil {
		t.Fatal(err)
	}
	if ck.Name != "sid" || ck.Secure || ck.MaxAge != 60 || ck.Domain != "example.com" || ck.Path != "/app" || !ck.HttpOnly {
		t.Errorf("Set-Cookie %q", r.header.Get("Set-Cookie"))
	}
	e.postJSON("/auth/forgot-password", "", map[string]any{"email": strings.Repeat("a", 100) + "@example.com"}).
		expect(t, http.StatusRequestEntityTooLarge, `{"detail":"Request Entity Too Large"}`)

	for name, opt := range map[string]httpapi.Option{
		"BadCookieName": httpapi.WithCookie(httpapi.CookieConfig{Name: "a b"}),
		"NegativeAge":   httpapi.WithCookie(httpapi.CookieConfig{MaxAge: -time.Second}),
		"NilLogger":     httpapi.WithLogger(nil),
		"ZeroBody":      httpapi.WithMaxBodyBytes(0),
		"Nil":           nil,
	} {
		if _, err := httpapi.NewAPI(e.m, opt); err == nil {
			t.Errorf("%s: NewAPI succeeded", name)
		}
	}
	if _, err := httpapi.NewAPI(nil); err == nil {
		t.Error("NewAPI(nil) succeeded")
	}
	api, err := httpapi.NewAPI(e.m)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("MountCookieAuth without WithCookie did not panic")
		}
	}()
	api.MountCookieAuth(echo.New().Group("/auth/cookie"))
}
