package httpapi_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/dbtest"
)

// TestEmbeddedInApp mounts the routers under an app's own prefixes next to
// its own routes, with its own error handler, binder and serializer: the
// app's errors go through its handler, keylin's never do.
func TestEmbeddedInApp(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		var appErrors atomic.Int32
		var binder echo.Binder
		var serializer echo.JSONSerializer
		e := newEnv(t, d, config{loginPath: "/api/v1/auth/jwt/login", mount: func(e *echo.Echo, api *httpapi.API) {
			e.HTTPErrorHandler = func(err error, c echo.Context) {
				appErrors.Add(1)
				code := http.StatusInternalServerError
				var he *echo.HTTPError
				if errors.As(err, &he) {
					code = he.Code
				}
				_ = c.JSON(code, map[string]any{"app_error": code})
			}
			binder, serializer = e.Binder, e.JSONSerializer
			api.MountAuth(e.Group("/api/v1/auth/jwt"))
			auth := e.Group("/api/v1/auth")
			api.MountRegister(auth)
			api.MountResetPassword(auth)
			api.MountVerify(auth)
			api.MountUsers(e.Group("/api/v1/users"))
			e.GET("/api/v1/notes", func(c echo.Context) error {
				return c.JSON(http.StatusOK, map[string]string{"owner": httpapi.CurrentUser(c).Email})
			}, api.RequireUser())
			e.GET("/api/v1/admin", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, api.RequireSuperuser())
			e.GET("/api/v1/verified", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, api.RequireVerifiedUser())
			e.GET("/api/v1/public", func(c echo.Context) error {
				if httpapi.CurrentUser(c) != nil {
					t.Error("CurrentUser without middleware")
				}
				return echo.NewHTTPError(http.StatusConflict)
			})
		}})
		if e.e.Binder != binder || e.e.JSONSerializer != serializer || e.e.Validator != nil {
			t.Fatal("mounting changed the app's binder, serializer or validator")
		}

		_, tok := e.loggedIn("plain@example.com", false, false)
		e.user("admin@example.com", true, true)
		adminTok := e.login("admin@example.com", testPassword)

		// keylin's answers, errors included, bypass the app's handler.
		e.postForm("/api/v1/auth/jwt/login", url.Values{"username": {"admin@example.com"}, "password": {"nope nope nope"}}).
			expect(t, http.StatusBadRequest, `{"detail":"LOGIN_BAD_CREDENTIALS"}`)
		e.postJSON("/api/v1/auth/register", "", `{`).expectInvalid(t, "body:json_invalid")
		e.get("/api/v1/users/me", "").expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		e.get("/api/v1/users/nope", adminTok).expect(t, http.StatusNotFound, `{"detail":"Not Found"}`)
		e.get("/api/v1/users/me", tok).expectStatus(t, http.StatusOK)

		// Middleware on the app's routes.
		e.get("/api/v1/notes", tok).expect(t, http.StatusOK, `{"owner":"plain@example.com"}`)
		e.get("/api/v1/notes", "").expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		e.get("/api/v1/admin", tok).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		e.get("/api/v1/admin", "").expect(t, http.StatusUnauthorized, `{"detail":"Unauthorized"}`)
		e.get("/api/v1/admin", adminTok).expectStatus(t, http.StatusNoContent)
		e.get("/api/v1/verified", tok).expect(t, http.StatusForbidden, `{"detail":"Forbidden"}`)
		e.get("/api/v1/verified", adminTok).expectStatus(t, http.StatusNoContent)
		if n := appErrors.Load(); n != 0 {
			t.Fatalf("app error handler saw %d keylin errors", n)
		}

		// The app's own errors still go through its handler.
		e.get("/api/v1/public", "").expect(t, http.StatusConflict, `{"app_error":409}`)
		e.get("/nowhere", "").expect(t, http.StatusNotFound, `{"app_error":404}`)
		e.get("/auth/jwt/login", "").expect(t, http.StatusNotFound, `{"app_error":404}`) // not mounted there
		if n := appErrors.Load(); n != 3 {
			t.Fatalf("app error handler saw %d errors, want 3", n)
		}
	})
}

// TestOverload: when the hashing slots stay busy past the wait, logins are
// answered 503 with Retry-After, never 500.
func TestOverload(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{hasherOpts: []authn.HasherOption{
			authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(time.Millisecond),
		}})
		e.user("busy@example.com", false, false)
		const n = 12
		var wg sync.WaitGroup
		results := make([]*resp, n)
		for i := range n {
			wg.Go(func() { results[i] = e.loginResp("busy@example.com", testPassword) })
		}
		wg.Wait()
		var ok, busy int
		for _, r := range results {
			switch r.status {
			case http.StatusOK:
				ok++
			case http.StatusServiceUnavailable:
				busy++
				r.expect(t, http.StatusServiceUnavailable, `{"detail":"Service Unavailable"}`)
				// Derived from the queue: at least a second, in whole seconds.
				if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
					t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
				}
			default:
				t.Errorf("status %d: %s", r.status, r.body)
			}
		}
		if ok == 0 || busy == 0 {
			t.Fatalf("%d ok, %d overloaded; want some of each", ok, busy)
		}
	})
}

// interopFile is ../authn/testdata/fastapi-users-interop.json: hashes and
// tokens made by the Python libraries.
type interopFile struct {
	JWTSecret string `json:"jwt_secret"`
	UserID    string `json:"user_id"`
	Hashes    []struct {
		Scheme, Params, Password, Hash string
		Valid                          bool
	} `json:"hashes"`
	Tokens []struct {
		Name, Token string
		Accept      bool
	} `json:"tokens"`
}

// TestInterop logs in users whose hashes Python made, and sends tokens
// Python made, through HTTP.
func TestInterop(t *testing.T) {
	raw, err := os.ReadFile("../authn/testdata/fastapi-users-interop.json")
	if err != nil {
		t.Fatal(err)
	}
	var v interopFile
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Hashes) == 0 || len(v.Tokens) == 0 {
		t.Fatal("no vectors")
	}
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{accessSecret: v.JWTSecret})
		ctx := t.Context()
		t.Run("Hashes", func(t *testing.T) {
			for i, h := range v.Hashes {
				t.Run(fmt.Sprintf("%d_%s", i, h.Scheme), func(t *testing.T) {
					t.Parallel() // the slow part: pwdlib's 64 MiB argon2id and bcrypt cost 12
					email := fmt.Sprintf("hash%d@example.com", i)
					if _, err := e.store.CreateUser(ctx, &authn.User{Email: email, HashedPassword: h.Hash, IsActive: true}, nil); err != nil {
						t.Fatal(err)
					}
					r := e.loginResp(email, h.Password)
					if !h.Valid {
						r.expect(t, http.StatusBadRequest, `{"detail":"LOGIN_BAD_CREDENTIALS"}`)
						return
					}
					r.expectStatus(t, http.StatusOK)
					u, err := e.store.GetUserByEmail(ctx, email)
					if err != nil {
						t.Fatal(err)
					}
					if u.HashedPassword == h.Hash || !strings.HasPrefix(u.HashedPassword, "$argon2id$v=19$m=19456,t=2,p=1$") {
						t.Errorf("%s: not rehashed: %s", h.Params, u.HashedPassword)
					}
					e.login(email, h.Password) // and the new hash works
				})
			}
		})
		t.Run("Tokens", func(t *testing.T) {
			id, err := uuid.Parse(v.UserID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.CreateUser(ctx, &authn.User{ID: id, Email: "py@example.com", HashedPassword: "x", IsActive: true}, nil); err != nil {
				t.Fatal(err)
			}
			for _, tv := range v.Tokens {
				r := e.get("/users/me", tv.Token)
				switch {
				case tv.Accept:
					if m := r.userJSON(t); m["id"] != v.UserID {
						t.Errorf("%s: me %v", tv.Name, m)
					}
				default:
					if r.status != http.StatusUnauthorized {
						t.Errorf("%s: status %d, want 401", tv.Name, r.status)
					}
				}
			}
		})
	})
}
