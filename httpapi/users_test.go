package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/dbtest"
)

func TestUsersMe(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		u, tok := e.loggedIn("me@example.com", false, true)
		e.user("taken@example.com", false, false)

		// Safe update: id and flags ignored; only present keys change.
		r := e.patchJSON("/users/me", tok, map[string]any{
			"id": uuid.NewString(), "is_superuser": true, "is_active": false, "is_verified": false, "full_name": "Me",
		})
		r.expectStatus(t, http.StatusOK)
		if m := r.userJSON(t); m["id"] != u.ID.String() || m["is_superuser"] != false || m["is_active"] != true ||
			m["is_verified"] != true || m["full_name"] != "Me" || m["email"] != "me@example.com" {
			t.Fatalf("patched %v", m)
		}
		if m := e.patchJSON("/users/me", tok, map[string]any{}).userJSON(t); m["full_name"] != "Me" {
			t.Fatalf("empty patch changed %v", m)
		}
		if m := e.patchJSON("/users/me", tok, map[string]any{"full_name": nil, "password": nil, "email": nil}).userJSON(t); m["full_name"] != nil {
			t.Fatalf("full_name null did not clear: %v", m)
		}

		e.patchJSON("/users/me", tok, map[string]any{"email": "TAKEN@example.com"}).
			expect(t, http.StatusBadRequest, `{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}`)
		e.patchJSON("/users/me", tok, map[string]any{"password": "1234567"}).
			expect(t, http.StatusBadRequest, `{"detail":{"code":"UPDATE_USER_INVALID_PASSWORD","reason":"Password should be at least 8 characters."}}`)
		e.patchJSON("/users/me", tok, map[string]any{"email": "nope", "is_active": "no", "full_name": strings.Repeat("x", 256), "password": 12345678}).
			expectInvalid(t, "body.password:string_type", "body.email:value_error", "body.is_active:bool_type", "body.full_name:string_too_long")
		e.patchJSON("/users/me", tok, `{"email":`).expectInvalid(t, "body:json_invalid")
		e.patchJSON("/users/me", "", map[string]any{}).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)

		// A new email unverifies; a new password ends the other sessions and
		// keeps the one that changed it (ASVS 7.4.3), as a fastapi-users
		// client that goes on with its token expects.
		r = e.patchJSON("/users/me", tok, map[string]any{"email": "New@Example.COM"})
		if m := r.userJSON(t); m["email"] != "New@example.com" || m["is_verified"] != false {
			t.Fatalf("email change %v", m)
		}
		other := e.login("new@example.com", testPassword)
		e.patchJSON("/users/me", tok, map[string]any{"password": "another fine password"}).expectStatus(t, http.StatusOK)
		e.get("/users/me", tok).expectStatus(t, http.StatusOK)
		e.get("/users/me", other).expectStatus(t, http.StatusUnauthorized)
		e.login("new@example.com", "another fine password")
	})
}

func TestUsersByID(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		admin, adminTok := e.loggedIn("admin@example.com", true, true)
		plain, plainTok := e.loggedIn("plain@example.com", false, true)
		e.user("taken@example.com", false, false)
		path := "/users/" + plain.ID.String()
		unknown := "/users/" + uuid.NewString()

		t.Run("Unauthorized", func(t *testing.T) {
			for _, p := range []string{path, unknown, "/users/not-a-uuid", "/users"} {
				e.get(p, "").expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
			}
			e.patchJSON(path, "", map[string]any{}).expectStatus(t, http.StatusUnauthorized)
			e.do(req{method: http.MethodDelete, path: path}).expectStatus(t, http.StatusUnauthorized)
		})
		t.Run("Forbidden", func(t *testing.T) {
			// 403 comes before 404 and before body validation.
			for _, p := range []string{path, unknown, "/users/not-a-uuid", "/users"} {
				e.get(p, plainTok).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
			}
			e.patchJSON(path, plainTok, `{bad json`).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
			e.do(req{method: http.MethodDelete, path: path, token: plainTok}).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		})
		t.Run("NotFound", func(t *testing.T) {
			notFound := `{"detail":"Not Found"}`
			for _, p := range []string{unknown, "/users/not-a-uuid", "/users/1"} {
				e.get(p, adminTok).expect(t, http.StatusNotFound, notFound)
				e.patchJSON(p, adminTok, map[string]any{}).expect(t, http.StatusNotFound, notFound)
				e.do(req{method: http.MethodDelete, path: p, token: adminTok}).expect(t, http.StatusNotFound, notFound)
			}
		})
		t.Run("Get", func(t *testing.T) {
			if m := e.get(path, adminTok).userJSON(t); m["email"] != "plain@example.com" {
				t.Fatalf("got %v", m)
			}
		})
		t.Run("Patch", func(t *testing.T) {
			r := e.patchJSON(path, adminTok, map[string]any{"is_superuser": true, "is_verified": false, "full_name": "P"})
			if m := r.userJSON(t); m["is_superuser"] != true || m["is_verified"] != false || m["full_name"] != "P" {
				t.Fatalf("patched %v", m)
			}
			// Promoted: the token the user already holds has superuser access now.
			e.get("/users/"+admin.ID.String(), plainTok).expectStatus(t, http.StatusOK)
			e.patchJSON(path, adminTok, map[string]any{"is_superuser": false}).expectStatus(t, http.StatusOK)
			e.get("/users/"+admin.ID.String(), plainTok).expectStatus(t, http.StatusForbidden)

			e.patchJSON(path, adminTok, map[string]any{"email": "taken@example.com"}).
				expect(t, http.StatusBadRequest, `{"detail":"UPDATE_USER_EMAIL_ALREADY_EXISTS"}`)
			e.patchJSON(path, adminTok, map[string]any{"password": "short"}).
				expect(t, http.StatusBadRequest, `{"detail":{"code":"UPDATE_USER_INVALID_PASSWORD","reason":"Password should be at least 8 characters."}}`)
			e.patchJSON(path, adminTok, map[string]any{"is_superuser": "yes"}).expectInvalid(t, "body.is_superuser:bool_type")
			// Deactivation locks the user out at once.
			e.patchJSON(path, adminTok, map[string]any{"is_active": false}).expectStatus(t, http.StatusOK)
			e.get("/users/me", plainTok).expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		})
		t.Run("Delete", func(t *testing.T) {
			e.do(req{method: http.MethodDelete, path: path, token: adminTok}).expect(t, http.StatusNoContent, "")
			e.get(path, adminTok).expect(t, http.StatusNotFound, `{"detail":"Not Found"}`)
			e.get("/users/me", plainTok).expectStatus(t, http.StatusUnauthorized)
		})
	})
}

func TestUsersList(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		_, adminTok := e.loggedIn("admin@example.com", true, false)
		for i := range 4 {
			e.user(fmt.Sprintf("u%d@example.com", i), false, false)
		}
		var page struct {
			Items  []map[string]any `json:"items"`
			Total  int              `json:"total"`
			Offset int              `json:"offset"`
			Limit  int              `json:"limit"`
		}
		r := e.get("/users", adminTok)
		r.expectStatus(t, http.StatusOK)
		r.decode(t, &page)
		if page.Total != 5 || len(page.Items) != 5 || page.Offset != 0 || page.Limit != authn.DefaultPageSize {
			t.Fatalf("default page %s", r.body)
		}
		if page.Items[0]["email"] != "admin@example.com" || page.Items[1]["email"] != "u0@example.com" {
			t.Fatalf("order %s", r.body)
		}
		if _, ok := page.Items[0]["hashed_password"]; ok {
			t.Fatal("hash in list")
		}
		r = e.get("/users?offset=2&limit=2", adminTok)
		r.decode(t, &page)
		if page.Total != 5 || page.Offset != 2 || page.Limit != 2 || len(page.Items) != 2 || page.Items[0]["email"] != "u1@example.com" {
			t.Fatalf("page 2 %s", r.body)
		}
		r = e.get("/users?offset=10", adminTok)
		r.expect(t, http.StatusOK, fmt.Sprintf(`{"items":[],"total":5,"offset":10,"limit":%d}`, authn.DefaultPageSize))
		r = e.get("/users?limit=100000", adminTok)
		r.decode(t, &page)
		if page.Limit != authn.MaxPageSize {
			t.Fatalf("limit not capped: %s", r.body)
		}
		e.get("/users?offset=-1&limit=x", adminTok).expectInvalid(t, "query.offset:greater_than_equal", "query.limit:int_parsing")
		e.get("/users?limit=0", adminTok).expectInvalid(t, "query.limit:greater_than_equal")
	})
}

// TestInternalError: a failure keylin cannot map (here the database is
// gone) is a 500 with a generic body and a log line without secrets.
func TestInternalError(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		_, tok := e.loggedIn("x@example.com", false, false)
		if err := e.client.Close(); err != nil {
			t.Fatal(err)
		}
		e.get("/users/me", tok).expect(t, http.StatusInternalServerError, `{"detail":"Internal Server Error"}`)
		e.loginResp("x@example.com", testPassword).expect(t, http.StatusInternalServerError, `{"detail":"Internal Server Error"}`)
		logs := e.logs.String()
		if !strings.Contains(logs, "keylin request failed") || !strings.Contains(logs, "route=/users/me") {
			t.Errorf("logs %q", logs)
		}
		for _, secret := range []string{tok, testPassword, "$argon2id$"} {
			if strings.Contains(logs, secret) {
				t.Errorf("log holds a secret: %q", logs)
			}
		}
	})
}
