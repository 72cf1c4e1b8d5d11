package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/dbtest"
)

// TestAccountLifecycle walks register → login → me → update → forgot →
// reset → login with the new password → request-verify → verify.
func TestAccountLifecycle(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})

		r := e.postJSON("/auth/register", "", map[string]any{
			"email": "Mixed.Case@EXAMPLE.COM", "password": testPassword, "full_name": "Ada",
			"is_superuser": true, "is_verified": true, "is_active": false, "unknown": 1,
		})
		r.expectStatus(t, http.StatusCreated)
		u := r.userJSON(t)
		if u["email"] != "Mixed.Case@example.com" || u["full_name"] != "Ada" ||
			u["is_active"] != true || u["is_superuser"] != false || u["is_verified"] != false {
			t.Fatalf("registered %v", u)
		}
		id := u["id"].(string)

		tok := e.login("mixed.case@example.com", testPassword) // login ignores case
		me := e.get("/users/me", tok)
		me.expectStatus(t, http.StatusOK)
		if m := me.userJSON(t); m["id"] != id {
			t.Fatalf("me %v", m)
		}

		r = e.patchJSON("/users/me", tok, map[string]any{"full_name": "Ada Lovelace", "password": nil})
		r.expectStatus(t, http.StatusOK)
		if m := r.userJSON(t); m["full_name"] != "Ada Lovelace" {
			t.Fatalf("patched %v", m)
		}
		e.login("Mixed.Case@example.com", testPassword) // password: null left it alone

		e.postJSON("/auth/forgot-password", "", map[string]any{"email": "Mixed.Case@example.com"}).
			expect(t, http.StatusAccepted, "null")
		reset := e.hooks.token(e.hooks.reset, "Mixed.Case@example.com")
		if reset == "" {
			t.Fatal("no reset token")
		}
		const newPassword = "a brand new passphrase"
		e.postJSON("/auth/reset-password", "", map[string]any{"token": reset, "password": newPassword}).
			expect(t, http.StatusOK, "null")
		e.loginResp("Mixed.Case@example.com", testPassword).
			expect(t, http.StatusBadRequest, `{"detail":"LOGIN_BAD_CREDENTIALS"}`)
		e.get("/users/me", tok).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`) // reset revoked it
		tok = e.login("Mixed.Case@example.com", newPassword)
		// A reset token is single use.
		e.postJSON("/auth/reset-password", "", map[string]any{"token": reset, "password": "yet another passphrase"}).
			expect(t, http.StatusBadRequest, `{"detail":"RESET_PASSWORD_BAD_TOKEN"}`)

		e.postJSON("/auth/request-verify-token", "", map[string]any{"email": "MIXED.CASE@example.com"}).
			expect(t, http.StatusAccepted, "null")
		vt := e.hooks.token(e.hooks.verify, "Mixed.Case@example.com")
		if vt == "" {
			t.Fatal("no verify token")
		}
		r = e.postJSON("/auth/verify", "", map[string]any{"token": vt})
		r.expectStatus(t, http.StatusOK)
		if m := r.userJSON(t); m["is_verified"] != true || m["id"] != id {
			t.Fatalf("verified %v", m)
		}
		e.postJSON("/auth/verify", "", map[string]any{"token": vt}).
			expect(t, http.StatusBadRequest, `{"detail":"VERIFY_USER_ALREADY_VERIFIED"}`)
		if m := e.get("/users/me", tok).userJSON(t); m["is_verified"] != true {
			t.Fatalf("me after verify %v", m)
		}
	})
}

func TestRegister(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		e.postJSON("/auth/register", "", map[string]any{"email": "a@example.com", "password": testPassword}).
			expectStatus(t, http.StatusCreated)
		if m := e.postJSON("/auth/register", "", map[string]any{"email": "b@example.com", "password": testPassword}).
			userJSON(t); m["full_name"] != nil {
			t.Fatalf("full_name %v, want null", m["full_name"])
		}

		t.Run("ErrUserAlreadyExists", func(t *testing.T) {
			e.postJSON("/auth/register", "", map[string]any{"email": "A@Example.com", "password": testPassword}).
				expect(t, http.StatusBadRequest, `{"detail":"REGISTER_USER_ALREADY_EXISTS"}`)
		})
		t.Run("ErrInvalidPassword", func(t *testing.T) {
			// The password is checked before the email: a taken email with a bad password is a password error.
			e.postJSON("/auth/register", "", map[string]any{"email": "a@example.com", "password": "short"}).
				expect(t, http.StatusBadRequest,
					`{"detail":{"code":"REGISTER_INVALID_PASSWORD","reason":"Password should be at least 8 characters."}}`)
		})
		t.Run("Validation", func(t *testing.T) {
			for _, tc := range []struct {
				name string
				body any
				want []string
			}{
				{"Missing", map[string]any{}, []string{"body.email:missing", "body.password:missing"}},
				{"WrongTypes", map[string]any{"email": 1, "password": true, "is_active": "yes", "full_name": 2},
					[]string{"body.email:string_type", "body.password:string_type", "body.is_active:bool_type", "body.full_name:string_type"}},
				{"NullRequired", map[string]any{"email": "n@example.com", "password": nil}, []string{"body.password:string_type"}},
				{"InvalidEmail", map[string]any{"email": "not-an-email", "password": testPassword}, []string{"body.email:value_error"}},
				{"EmailTooLong", map[string]any{"email": strings.Repeat("a", 64) + "@" + strings.Repeat("b", 250) + ".com", "password": testPassword},
					[]string{"body.email:value_error"}},
				{"FullNameTooLong", map[string]any{"email": "f@example.com", "password": testPassword, "full_name": strings.Repeat("é", 256)},
					[]string{"body.full_name:string_too_long"}},
				{"MalformedJSON", `{"email": "x@example.com",`, []string{"body:json_invalid"}},
				{"TrailingData", `{}{}`, []string{"body:json_invalid"}},
				{"NotAnObject", `["a@example.com"]`, []string{"body:model_attributes_type"}},
				{"Empty", ``, []string{"body:missing"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e.postJSON("/auth/register", "", tc.body).expectInvalid(t, tc.want...)
				})
			}
			// 255 characters is fine.
			e.postJSON("/auth/register", "", map[string]any{"email": "g@example.com", "password": testPassword,
				"full_name": strings.Repeat("x", 255)}).expectStatus(t, http.StatusCreated)
		})
		t.Run("ContentType", func(t *testing.T) {
			body := `{"email":"ct@example.com","password":"` + testPassword + `"}`
			// In order: the first JSON one creates the user, the next ones find it.
			for _, tc := range []struct {
				ctype  string
				status int
			}{
				{"text/plain", http.StatusUnprocessableEntity},
				{"application/x-www-form-urlencoded", http.StatusUnprocessableEntity},
				{"application/json; charset=utf-8", http.StatusCreated},
				{"application/vnd.api+json", http.StatusBadRequest},
				{"", http.StatusBadRequest}, // none: read as JSON, as FastAPI does
			} {
				ctype, status := tc.ctype, tc.status
				r := e.do(req{method: http.MethodPost, path: "/auth/register", ctype: ctype, body: strings.NewReader(body)})
				r.expectStatus(t, status)
				if status == http.StatusUnprocessableEntity {
					r.expectInvalid(t, "body:model_attributes_type")
				}
			}
		})
		t.Run("TooLarge", func(t *testing.T) {
			big := `{"email":"big@example.com","password":"` + testPassword + `","full_name":"` + strings.Repeat("x", 70<<10) + `"}`
			e.postJSON("/auth/register", "", big).expect(t, http.StatusRequestEntityTooLarge, `{"detail":"Request Entity Too Large"}`)
			// Without a Content-Length (chunked), the limit holds while reading.
			r := e.do(req{method: http.MethodPost, path: "/auth/register", ctype: "application/json",
				body: struct{ io.Reader }{strings.NewReader(big)}})
			r.expect(t, http.StatusRequestEntityTooLarge, `{"detail":"Request Entity Too Large"}`)
			e.postForm("/auth/jwt/login", url.Values{"username": {"a@example.com"}, "password": {strings.Repeat("x", 70<<10)}}).
				expect(t, http.StatusRequestEntityTooLarge, `{"detail":"Request Entity Too Large"}`)
		})
	})
}

func TestResetPassword(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		e.user("r@example.com", false, false)

		// Unknown and inactive users get the same 202.
		e.postJSON("/auth/forgot-password", "", map[string]any{"email": "nobody@example.com"}).expect(t, http.StatusAccepted, "null")
		e.postJSON("/auth/forgot-password", "", map[string]any{"email": "bad"}).expectInvalid(t, "body.email:value_error")
		e.postJSON("/auth/forgot-password", "", map[string]any{}).expectInvalid(t, "body.email:missing")

		e.postJSON("/auth/forgot-password", "", map[string]any{"email": "r@example.com"}).expect(t, http.StatusAccepted, "null")
		tok := e.hooks.token(e.hooks.reset, "r@example.com")

		e.postJSON("/auth/reset-password", "", map[string]any{"token": "garbage", "password": "a fine new password"}).
			expect(t, http.StatusBadRequest, `{"detail":"RESET_PASSWORD_BAD_TOKEN"}`)
		e.postJSON("/auth/reset-password", "", map[string]any{"token": tok, "password": "password"}).
			expect(t, http.StatusBadRequest, `{"detail":{"code":"RESET_PASSWORD_INVALID_PASSWORD","reason":"Password is too common."}}`)
		e.postJSON("/auth/reset-password", "", map[string]any{"token": tok}).expectInvalid(t, "body.password:missing")
		e.postJSON("/auth/reset-password", "", map[string]any{"password": 5}).
			expectInvalid(t, "body.token:missing", "body.password:string_type")
		// A verify token is no reset token.
		e.postJSON("/auth/request-verify-token", "", map[string]any{"email": "r@example.com"}).expect(t, http.StatusAccepted, "null")
		e.postJSON("/auth/reset-password", "", map[string]any{"token": e.hooks.token(e.hooks.verify, "r@example.com"), "password": "a fine new password"}).
			expect(t, http.StatusBadRequest, `{"detail":"RESET_PASSWORD_BAD_TOKEN"}`)
		e.postJSON("/auth/reset-password", "", map[string]any{"token": tok, "password": "a fine new password"}).expect(t, http.StatusOK, "null")
		e.login("r@example.com", "a fine new password")
	})
}

func TestVerify(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		e.user("v@example.com", false, false)
		e.postJSON("/auth/request-verify-token", "", map[string]any{"email": "nobody@example.com"}).expect(t, http.StatusAccepted, "null")
		e.postJSON("/auth/request-verify-token", "", map[string]any{"email": "@example.com"}).expectInvalid(t, "body.email:value_error")
		e.postJSON("/auth/verify", "", map[string]any{"token": "garbage"}).expect(t, http.StatusBadRequest, `{"detail":"VERIFY_USER_BAD_TOKEN"}`)
		e.postJSON("/auth/verify", "", map[string]any{"token": nil}).expectInvalid(t, "body.token:string_type")

		e.postJSON("/auth/request-verify-token", "", map[string]any{"email": "v@example.com"}).expect(t, http.StatusAccepted, "null")
		tok := e.hooks.token(e.hooks.verify, "v@example.com")
		// The email changed since the token was issued: refused.
		u, err := e.m.GetByEmail(context.Background(), "v@example.com")
		if err != nil {
			t.Fatal(err)
		}
		other := "v2@example.com"
		if _, err := e.m.UpdateSelf(context.Background(), u, uuid.Nil, authn.UserUpdate{Email: &other}); err != nil {
			t.Fatal(err)
		}
		e.postJSON("/auth/verify", "", map[string]any{"token": tok}).expect(t, http.StatusBadRequest, `{"detail":"VERIFY_USER_BAD_TOKEN"}`)
	})
}
