package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
)

const (
	testAccessSecret = authtest.AccessSecret
	testVerifySecret = authtest.VerifySecret
	testResetSecret  = authtest.ResetSecret
	testPassword     = authtest.Password
)

var cheapParams = authtest.CheapParams

// captureHooks records the verify and reset tokens the flows hand out.
type captureHooks struct {
	authn.NopHooks
	mu     sync.Mutex
	verify map[string]string // email → token
	reset  map[string]string
}

func (h *captureHooks) AfterRequestVerify(_ context.Context, u *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verify[u.Email] = tok
	return nil
}

func (h *captureHooks) AfterForgotPassword(_ context.Context, u *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reset[u.Email] = tok
	return nil
}

func (h *captureHooks) token(kind map[string]string, email string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return kind[email]
}

// config changes what newEnv builds.
type config struct {
	accessSecret string
	hasherOpts   []authn.HasherOption
	managerOpts  []authn.Option
	apiOpts      []httpapi.Option
	// loginPath is where the bearer login is mounted; default /auth/jwt/login.
	loginPath string
	// mount mounts the API on the app; nil means MountAll plus the cookie
	// transport.
	mount func(e *echo.Echo, api *httpapi.API)
}

// env is a keylin API served over a real listener on a fresh database.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	e      *echo.Echo
	api    *httpapi.API
	m      *authn.Manager
	client *ent.Client
	store  *ent.AuthnStore
	hooks  *captureHooks
	logs   *syncBuffer
	// loginPath is the bearer login route.
	loginPath string
}

func newEnv(t *testing.T, d string, cfg config) *env {
	t.Helper()
	db := dbtest.Migrated(t, d)
	client := ent.NewClient(ent.Driver(db.Driver()))
	store := ent.NewAuthnStore(client)
	secret := cfg.accessSecret
	if secret == "" {
		secret = testAccessSecret
	}
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte(secret),
		VerifySecret: []byte(testVerifySecret),
		ResetSecret:  []byte(testResetSecret),
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := authn.NewHasher(append([]authn.HasherOption{authn.WithHashParams(cheapParams)}, cfg.hasherOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	hooks := &captureHooks{verify: map[string]string{}, reset: map[string]string{}}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	m, err := authn.NewManager(store, tokens, append([]authn.Option{
		authn.WithHasher(hasher), authn.WithHooks(hooks), authn.WithLogger(logger), authn.WithLimits(authn.NoLimits()),
	}, cfg.managerOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, append([]httpapi.Option{
		httpapi.WithLogger(logger), httpapi.WithCookie(httpapi.CookieConfig{}),
	}, cfg.apiOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	if cfg.mount != nil {
		cfg.mount(e, api)
	} else {
		api.MountAll(e)
	}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	if cfg.loginPath == "" {
		cfg.loginPath = "/auth/jwt/login"
	}
	return &env{t: t, srv: srv, e: e, api: api, m: m, client: client, store: store, hooks: hooks, logs: logs,
		loginPath: cfg.loginPath}
}

// syncBuffer is a log sink safe for concurrent use.
type syncBuffer = authtest.LogBuffer

// req is one HTTP request to the test server.
type req struct {
	method, path string
	token        string // Authorization: Bearer <token> when set
	ctype        string // Content-Type when set
	body         io.Reader
	header       map[string]string
}

// resp is the answer, read whole.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(r req) *resp {
	e.t.Helper()
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, r.body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.ctype != "" {
		hr.Header.Set("Content-Type", r.ctype)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: b}
}

// jsonReq is a request with v as its JSON body (a string is sent as is).
func jsonReq(method, path, token string, v any) req {
	var b []byte
	if s, ok := v.(string); ok {
		b = []byte(s)
	} else {
		var err error
		if b, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	return req{method: method, path: path, token: token, ctype: "application/json", body: bytes.NewReader(b)}
}

func (e *env) postJSON(path, token string, v any) *resp {
	e.t.Helper()
	return e.do(jsonReq(http.MethodPost, path, token, v))
}

func (e *env) patchJSON(path, token string, v any) *resp {
	e.t.Helper()
	return e.do(jsonReq(http.MethodPatch, path, token, v))
}

func (e *env) get(path, token string) *resp {
	e.t.Helper()
	return e.do(req{method: http.MethodGet, path: path, token: token})
}

func (e *env) postForm(path string, form url.Values) *resp {
	e.t.Helper()
	return e.do(req{method: http.MethodPost, path: path, ctype: "application/x-www-form-urlencoded",
		body: strings.NewReader(form.Encode())})
}

// loginResp posts the login form to the bearer login route.
func (e *env) loginResp(email, password string) *resp {
	e.t.Helper()
	return e.postForm(e.loginPath, url.Values{"username": {email}, "password": {password}})
}

// login logs in and returns the access token.
func (e *env) login(email, password string) string {
	e.t.Helper()
	r := e.loginResp(email, password)
	r.expectStatus(e.t, http.StatusOK)
	var b struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	r.decode(e.t, &b)
	if b.AccessToken == "" || b.TokenType != "bearer" {
		e.t.Fatalf("login body %s", r.body)
	}
	return b.AccessToken
}

// user creates a user directly (unsafe create: flags honoured).
func (e *env) user(email string, superuser, verified bool) *authn.User {
	e.t.Helper()
	u, err := e.m.CreateUser(context.Background(), authn.UserCreate{
		Email: email, Password: testPassword, IsSuperuser: &superuser, IsVerified: &verified,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// loggedIn creates a user and returns it with a token.
func (e *env) loggedIn(email string, superuser, verified bool) (*authn.User, string) {
	e.t.Helper()
	u := e.user(email, superuser, verified)
	return u, e.login(email, testPassword)
}

func (r *resp) expectStatus(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// expect checks the status and that the body is the JSON want (compared
// as values); want "" means an empty body.
func (r *resp) expect(t *testing.T, status int, want string) {
	t.Helper()
	r.expectStatus(t, status)
	if want == "" {
		if len(r.body) != 0 {
			t.Fatalf("body %q, want none", r.body)
		}
		return
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var got, exp any
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("want %q: %v", want, err)
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("body %s, want %s", r.body, want)
	}
}

// expectInvalid checks a 422 whose errors are, in order, "loc.loc:type".
func (r *resp) expectInvalid(t *testing.T, want ...string) {
	t.Helper()
	r.expectStatus(t, http.StatusUnprocessableEntity)
	var b struct {
		Detail []struct {
			Loc  []any  `json:"loc"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		} `json:"detail"`
	}
	r.decode(t, &b)
	var got []string
	for _, d := range b.Detail {
		var loc []string
		for _, l := range d.Loc {
			loc = append(loc, l.(string))
		}
		if d.Msg == "" {
			t.Errorf("error %v has no msg", d)
		}
		got = append(got, strings.Join(loc, ".")+":"+d.Type)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("422 errors %q, want %q (body %s)", got, want, r.body)
	}
}

func (r *resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// userJSON decodes a user object and checks it has exactly the contract's
// keys.
func (r *resp) userJSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.decode(t, &m)
	keys := []string{"email", "full_name", "id", "is_active", "is_superuser", "is_verified"}
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	if !reflect.DeepEqual(got, keys) {
		t.Fatalf("user keys %q, want %q", got, keys)
	}
	return m
}
