package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keylin/keylin/internal/dbtest"
)

// TestHostileInput: bytes PostgreSQL cannot store, and usernames that
// cannot be emails, are the client's mistake (422 or bad credentials),
// never a 500.
func TestHostileInput(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		_, tok := e.loggedIn("h@example.com", false, false)
		t.Run("NULInFullNameAtRegister", func(t *testing.T) {
			r := e.postJSON("/auth/register", "", map[string]any{"email": "n@example.com", "password": testPassword, "full_name": "a\x00b"})
			r.expectStatus(t, http.StatusUnprocessableEntity)
			if !strings.Contains(string(r.body), `"loc":["body","full_name"]`) {
				t.Fatalf("body %s", r.body)
			}
		})
		t.Run("NULInFullNameAtUpdate", func(t *testing.T) {
			e.patchJSON("/users/me", tok, map[string]any{"full_name": "x\x00"}).expectStatus(t, http.StatusUnprocessableEntity)
		})
		for name, username := range map[string]string{
			"NULInUsername":    "n\x00@example.com",
			"InvalidUTF8":      "\xff\xfe@example.com",
			"NotAnEmail":       "just words",
			"OverlongUsername": strings.Repeat("a", 400) + "@example.com",
		} {
			t.Run("Login"+name, func(t *testing.T) {
				e.postForm("/auth/jwt/login", url.Values{"username": {username}, "password": {testPassword}}).
					expect(t, http.StatusBadRequest, `{"detail":"LOGIN_BAD_CREDENTIALS"}`)
			})
			t.Run("Forgot"+name, func(t *testing.T) {
				e.postJSON("/auth/forgot-password", "", map[string]any{"email": username}).expectStatus(t, http.StatusUnprocessableEntity)
			})
		}
	})
}

// TestInternationalEmail: the domain is stored lower-cased in Unicode, as
// fastapi-users' validator writes it, and login matches it however the
// client types it.
func TestInternationalEmail(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		r := e.postJSON("/auth/register", "", map[string]any{"email": "Jürgen@BÜCHER.Example", "password": testPassword})
		r.expectStatus(t, http.StatusCreated)
		if !strings.Contains(string(r.body), `"email":"Jürgen@bücher.example"`) {
			t.Fatalf("stored email: %s", r.body)
		}
		for _, typed := range []string{"Jürgen@bücher.example", "Jürgen@BÜCHER.EXAMPLE", "Jürgen@xn--bcher-kva.example"} {
			e.loginResp(typed, testPassword).expectStatus(t, http.StatusOK)
		}
		e.postJSON("/auth/register", "", map[string]any{"email": "jürgen@xn--bcher-kva.example", "password": testPassword}).
			expect(t, http.StatusBadRequest, `{"detail":"REGISTER_USER_ALREADY_EXISTS"}`)
		for _, special := range []string{"a@printer.local", "a@host.localhost", "a@x.test", "a@y.invalid"} {
			e.postJSON("/auth/register", "", map[string]any{"email": special, "password": testPassword}).expectStatus(t, http.StatusUnprocessableEntity)
		}
	})
}

// TestEmailCaseChangeKeepsVerification: the same mailbox in another case
// is not a new address.
func TestEmailCaseChangeKeepsVerification(t *testing.T) {
	e := newEnv(t, "sqlite3", config{})
	_, tok := e.loggedIn("case@example.com", false, true)
	r := e.patchJSON("/users/me", tok, map[string]any{"email": "CASE@example.com"})
	r.expectStatus(t, http.StatusOK)
	if !strings.Contains(string(r.body), `"email":"CASE@example.com"`) || !strings.Contains(string(r.body), `"is_verified":true`) {
		t.Fatalf("body %s", r.body)
	}
}
