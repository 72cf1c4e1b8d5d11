package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/dbtest"
)

// handlerBench is one route of BenchmarkHandlers.
type handlerBench struct {
	name   string
	status int
	// prepare does the untimed work one request needs (a fresh token, a
	// user to delete) and returns the request.
	prepare func(b *testing.B) *http.Request
	// request builds the request inside the timed loop; used when it
	// needs nothing prepared.
	request func(b *testing.B) *http.Request
}

// benchServer is keylin's API on a fresh database, with cheap hashing so
// that the handlers, not argon2id, are measured (BenchmarkHash measures
// hashing).
type benchServer struct {
	e     *echo.Echo
	m     *authn.Manager
	hooks *captureHooks
	n     atomic.Int64
}

func newBenchServer(b *testing.B, d string) *benchServer {
	b.Helper()
	db := dbtest.Migrated(b, d)
	store := ent.NewAuthnStore(ent.NewClient(ent.Driver(db.Driver())))
	tokens, err := authn.NewTokens(authn.TokenConfig{AccessSecret: []byte(testAccessSecret),
		VerifySecret: []byte(testVerifySecret), ResetSecret: []byte(testResetSecret)})
	if err != nil {
		b.Fatal(err)
	}
	hasher, err := authn.NewHasher(authn.WithHashParams(cheapParams))
	if err != nil {
		b.Fatal(err)
	}
	hooks := &captureHooks{verify: map[string]string{}, reset: map[string]string{}}
	m, err := authn.NewManager(store, tokens, authn.WithHasher(hasher), authn.WithHooks(hooks),
		authn.WithLimits(authn.NoLimits()), authn.WithLogger(slog.New(slog.DiscardHandler)),
		authn.WithRefreshTokens(24*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, httpapi.WithCookie(httpapi.CookieConfig{}))
	if err != nil {
		b.Fatal(err)
	}
	e := echo.New()
	api.MountAll(e)
	return &benchServer{e: e, m: m, hooks: hooks}
}

// email returns an address not used before on this server.
func (s *benchServer) email() string {
	return fmt.Sprintf("bench-%d@example.com", s.n.Add(1))
}

// user creates a user; superuser and verified as asked.
func (s *benchServer) user(b *testing.B, superuser, verified bool) *authn.User {
	b.Helper()
	u, err := s.m.CreateUser(context.Background(), authn.UserCreate{Email: s.email(), Password: testPassword,
		IsSuperuser: &superuser, IsVerified: &verified})
	if err != nil {
		b.Fatal(err)
	}
	return u
}

// grant logs u in.
func (s *benchServer) grant(b *testing.B, u *authn.User) *authn.Grant {
	b.Helper()
	g, err := s.m.Login(context.Background(), u.Email, testPassword)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

func benchRequest(method, path, token, ctype, body string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

// BenchmarkHandlers measures each route keylin mounts, in process (no
// TCP; BenchmarkUsersMe and cmd/keylin-bench measure over the network),
// on SQLite and PostgreSQL, with -benchmem figures per request.
func BenchmarkHandlers(b *testing.B) {
	for _, d := range dbtest.Dialects {
		b.Run(database.DialectDir(d), func(b *testing.B) {
			s := newBenchServer(b, d)
			ctx := context.Background()
			me := s.user(b, false, true)
			meTok := s.grant(b, me).AccessToken
			admin := s.user(b, true, true)
			adminTok := s.grant(b, admin).AccessToken
			for range 20 {
				s.user(b, false, false)
			}
			refresh := s.grant(b, me).RefreshToken
			form := func(email string) string {
				return url.Values{"username": {email}, "password": {testPassword}}.Encode()
			}
			const formType = "application/x-www-form-urlencoded"
			const jsonType = "application/json"

			cases := []handlerBench{
				{name: "login", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/jwt/login", "", formType, form(me.Email))
				}},
				{name: "login_cookie", status: http.StatusNoContent, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/cookie/login", "", formType, form(me.Email))
				}},
				{name: "logout", status: http.StatusNoContent, prepare: func(b *testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/jwt/logout", s.grant(b, me).AccessToken, "", "")
				}},
				{name: "refresh", status: http.StatusOK, request: func(b *testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/jwt/refresh", "", jsonType, `{"refresh_token":"`+refresh+`"}`)
				}},
				{name: "register", status: http.StatusCreated, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/register", "", jsonType,
						`{"email":"`+s.email()+`","password":"`+testPassword+`"}`)
				}},
				{name: "forgot_password", status: http.StatusAccepted, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/forgot-password", "", jsonType, `{"email":"`+me.Email+`"}`)
				}},
				{name: "reset_password", status: http.StatusOK, prepare: func(b *testing.B) *http.Request {
					u := s.user(b, false, true)
					if err := s.m.ForgotPassword(ctx, u.Email); err != nil {
						b.Fatal(err)
					}
					return benchRequest(http.MethodPost, "/auth/reset-password", "", jsonType,
						`{"token":"`+s.hooks.token(s.hooks.reset, u.Email)+`","password":"`+testPassword+` 2"}`)
				}},
				{name: "request_verify_token", status: http.StatusAccepted, prepare: func(b *testing.B) *http.Request {
					return benchRequest(http.MethodPost, "/auth/request-verify-token", "", jsonType,
						`{"email":"`+s.user(b, false, false).Email+`"}`)
				}},
				{name: "verify", status: http.StatusOK, prepare: func(b *testing.B) *http.Request {
					u := s.user(b, false, false)
					if err := s.m.RequestVerify(ctx, u.Email); err != nil {
						b.Fatal(err)
					}
					return benchRequest(http.MethodPost, "/auth/verify", "", jsonType,
						`{"token":"`+s.hooks.token(s.hooks.verify, u.Email)+`"}`)
				}},
				{name: "get_me", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodGet, "/users/me", meTok, "", "")
				}},
				{name: "patch_me", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPatch, "/users/me", meTok, jsonType, `{"full_name":"Ada Lovelace"}`)
				}},
				{name: "my_sessions", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodGet, "/users/me/sessions", meTok, "", "")
				}},
				{name: "end_my_session", status: http.StatusNoContent, prepare: func(b *testing.B) *http.Request {
					return benchRequest(http.MethodDelete, "/users/me/sessions/"+s.grant(b, me).Session.ID.String(), meTok, "", "")
				}},
				{name: "list_users", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodGet, "/users?limit=20", adminTok, "", "")
				}},
				{name: "get_user", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodGet, "/users/"+me.ID.String(), adminTok, "", "")
				}},
				{name: "patch_user", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodPatch, "/users/"+me.ID.String(), adminTok, jsonType, `{"full_name":"Ada"}`)
				}},
				{name: "user_sessions", status: http.StatusOK, request: func(*testing.B) *http.Request {
					return benchRequest(http.MethodGet, "/users/"+me.ID.String()+"/sessions", adminTok, "", "")
				}},
				{name: "delete_user", status: http.StatusNoContent, prepare: func(b *testing.B) *http.Request {
					return benchRequest(http.MethodDelete, "/users/"+s.user(b, false, false).ID.String(), adminTok, "", "")
				}},
			}
			for _, c := range cases {
				b.Run(c.name, func(b *testing.B) {
					b.ReportAllocs()
					done := 0
					for b.Loop() {
						var r *http.Request
						if c.prepare != nil {
							b.StopTimer()
							r = c.prepare(b)
							b.StartTimer()
						} else {
							r = c.request(b)
						}
						rec := httptest.NewRecorder()
						s.e.ServeHTTP(rec, r)
						if rec.Code != c.status {
							b.Fatalf("status %d, want %d after %d requests: %s", rec.Code, c.status, done, rec.Body)
						}
						if c.name == "refresh" {
							refresh = refreshTokenOf(b, rec.Body)
						}
						done++
					}
				})
			}
		})
	}
}

// refreshTokenOf reads the rotated refresh token from a bearer answer.
func refreshTokenOf(b *testing.B, body io.Reader) string {
	b.Helper()
	raw, _ := io.ReadAll(body)
	const key = `"refresh_token":"`
	i := strings.Index(string(raw), key)
	if i < 0 {
		b.Fatalf("no refresh token in %s", raw)
	}
	rest := string(raw[i+len(key):])
	return rest[:strings.IndexByte(rest, '"')]
}
