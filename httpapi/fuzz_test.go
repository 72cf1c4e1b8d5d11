package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
)

// The fuzzers below drive keylin's real handlers, mounted as `keylin serve`
// mounts them, with arbitrary bodies and content types, and hold every
// answer to the contract: no panic, no 500, a status from the contract's
// set, and a JSON body (none for 204) that carries "detail" on errors.
//
// Every input that reaches a password costs an argon2id hash (~35 ms with
// the cheapest parameters keylin accepts), so minimizing a new input would
// stall fuzzing for many seconds: the Makefile runs these targets with
// -fuzzminimizetime=0.

// fuzzAllowed are the statuses keylin's form and JSON routes may answer.
var fuzzAllowed = map[int]bool{
	200: true, 201: true, 202: true, 204: true,
	400: true, 401: true, 403: true, 404: true, 413: true, 422: true, 429: true,
}

// Placeholders a seed body may hold; each request replaces them with a
// live credential of the fuzz environment, so that mutations of a
// successful request stay close to one.
const (
	phRefresh = "$REFRESH" // the current refresh token of the refresh user
	phReset   = "$RESET"   // a reset token of the target user
	phVerify  = "$VERIFY"  // a verify token of the target user
	phPad     = "$PAD"     // 65 KiB of spaces: a body over the API's limit
)

// fuzzEnv is keylin on a SQLite file, built once per fuzz target (and per
// fuzzing worker), served in-process through Echo's ServeHTTP.
type fuzzEnv struct {
	e     *echo.Echo
	m     *authn.Manager
	hooks *authtest.TokenHooks

	me      *authn.User // the user of PATCH /users/me
	meToken string
	refresh string // a live refresh token of its own user
	super   string // a superuser's access token
	target  *authn.User
	resetT  string
	verifyT string
}

// fuzzPassword is every fuzz user's password.
const fuzzPassword = authtest.Password

func newFuzzEnv(tb testing.TB) *fuzzEnv {
	tb.Helper()
	db := dbtest.Migrated(tb, dialect.SQLite)
	client := ent.NewClient(ent.Driver(db.Driver()))
	store := ent.NewAuthnStore(client)
	log := slog.New(slog.DiscardHandler)
	hooks := &authtest.TokenHooks{}
	m, err := authn.NewManager(store, authtest.Tokens(tb),
		authn.WithHasher(authtest.Hasher(tb)), authn.WithHooks(hooks), authn.WithLogger(log),
		authn.WithLimits(authn.NoLimits()), authn.WithRefreshTokens(time.Hour))
	if err != nil {
		tb.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, httpapi.WithLogger(log), httpapi.WithUserSchema(store.UserSchema()),
		httpapi.WithCookie(httpapi.CookieConfig{Insecure: true}))
	if err != nil {
		tb.Fatal(err)
	}
	e := echo.New()
	// What `keylin serve` installs around the routers, but Recover: a
	// panic must reach the fuzzer.
	e.HTTPErrorHandler = httpapi.ErrorHandler(log)
	e.Use(httpapi.RequestID(), httpapi.SecurityHeaders(), httpapi.BodyLimit(1<<20))
	api.MountAll(e)

	fe := &fuzzEnv{e: e, m: m, hooks: hooks}
	ctx := context.Background()
	fe.me = fe.user(tb, "me@example.com", false)
	fe.meToken = fe.login(tb, "me@example.com")
	fe.user(tb, "refresh@example.com", false)
	fe.newRefresh(tb)
	fe.user(tb, "root@example.com", true)
	fe.super = fe.login(tb, "root@example.com")
	fe.target = fe.user(tb, "target@example.com", false)
	if err := m.RequestVerify(ctx, "target@example.com"); err != nil {
		tb.Fatal(err)
	}
	if err := m.ForgotPassword(ctx, "target@example.com"); err != nil {
		tb.Fatal(err)
	}
	fe.verifyT, fe.resetT = hooks.Last()
	if fe.verifyT == "" || fe.resetT == "" {
		tb.Fatal("no verify or reset token handed out")
	}
	return fe
}

func (fe *fuzzEnv) user(tb testing.TB, email string, superuser bool) *authn.User {
	tb.Helper()
	u, err := fe.m.CreateUser(context.Background(), authn.UserCreate{Email: email, Password: fuzzPassword, IsSuperuser: &superuser})
	if err != nil {
		tb.Fatalf("create %s: %v", email, err)
	}
	return u
}

func (fe *fuzzEnv) login(tb testing.TB, email string) string {
	tb.Helper()
	g, err := fe.m.Login(context.Background(), email, fuzzPassword)
	if err != nil {
		tb.Fatalf("login %s: %v", email, err)
	}
	return g.AccessToken
}

// newRefresh logs the refresh user in again: its refresh token was
// exchanged by a request that did not answer the new one, or its session
// ended.
func (fe *fuzzEnv) newRefresh(tb testing.TB) {
	tb.Helper()
	g, err := fe.m.Login(context.Background(), "refresh@example.com", fuzzPassword)
	if err != nil {
		tb.Fatalf("login refresh user: %v", err)
	}
	fe.refresh = g.RefreshToken
}

// ensureMe makes sure the PATCH /users/me token still works: a fuzzed
// request cannot end its own session, but if one did, the next inputs
// would all be 401s.
func (fe *fuzzEnv) ensureMe(tb testing.TB) {
	tb.Helper()
	u, _, err := fe.m.UserFromToken(context.Background(), fe.meToken)
	if err == nil && u.IsActive {
		return
	}
	email := "me-" + uuid.NewString() + "@example.org" // no fuzzed registration took it
	fe.me = fe.user(tb, email, false)
	fe.meToken = fe.login(tb, email)
}

// fill replaces the placeholders of a seed body.
func (fe *fuzzEnv) fill(body []byte) []byte {
	body = bytes.ReplaceAll(body, []byte(phRefresh), []byte(fe.refresh))
	body = bytes.ReplaceAll(body, []byte(phReset), []byte(fe.resetT))
	body = bytes.ReplaceAll(body, []byte(phVerify), []byte(fe.verifyT))
	// A large body is spelled small, so that the fuzzer does not spend its
	// time minimizing 65 KiB inputs.
	return bytes.ReplaceAll(body, []byte(phPad), bytes.Repeat([]byte(" "), 65<<10))
}

// serve runs one request through Echo in-process.
func (fe *fuzzEnv) serve(method, path, ctype, bearer string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	w := httptest.NewRecorder()
	fe.e.ServeHTTP(w, r)
	return w
}

// checkContract fails t unless the answer keeps the contract.
func checkContract(t *testing.T, what string, w *httptest.ResponseRecorder) {
	t.Helper()
	body := w.Body.Bytes()
	if !fuzzAllowed[w.Code] {
		t.Fatalf("%s: status %d not allowed; body %s", what, w.Code, body)
	}
	if w.Code == http.StatusNoContent {
		if len(body) != 0 {
			t.Fatalf("%s: 204 with a body %q", what, body)
		}
		return
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s: %d with Content-Type %q; body %q", what, w.Code, ct, body)
	}
	if !json.Valid(body) {
		t.Fatalf("%s: %d with a body that is not JSON: %q", what, w.Code, body)
	}
	if w.Code >= 400 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%s: %d with a body that is not an object: %q", what, w.Code, body)
		}
		if _, ok := m["detail"]; !ok {
			t.Fatalf("%s: %d without a detail: %q", what, w.Code, body)
		}
	}
}

// validHeaderValue reports whether s can travel as a header value: no
// control characters but tab (net/http refuses the others on the wire).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// multipartBody returns a multipart/form-data body of the fields.
func multipartBody(tb testing.TB, fields ...string) (ctype string, body []byte) {
	tb.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		if err := mw.WriteField(fields[i], fields[i+1]); err != nil {
			tb.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		tb.Fatal(err)
	}
	return mw.FormDataContentType(), buf.Bytes()
}

// FuzzLoginForm posts arbitrary bodies with arbitrary content types to the
// bearer and the cookie login (the OAuth2 password form).
func FuzzLoginForm(f *testing.F) {
	fe := newFuzzEnv(f)
	const form = "application/x-www-form-urlencoded"
	good := url.Values{"username": {"me@example.com"}, "password": {fuzzPassword}}.Encode()
	mpType, mpBody := multipartBody(f, "username", "me@example.com", "password", fuzzPassword, "grant_type", "password")
	for _, s := range []struct {
		ctype, body string
	}{
		{form, good},
		{form, good + "&grant_type=password&scope=read+write&client_id=x&client_secret=y"},
		{form, good + "&grant_type=client_credentials"},
		{form, "username=ME%40EXAMPLE.COM&password=wrong+password"},
		{form, "username=nobody%40example.com&password=" + url.QueryEscape(fuzzPassword)},
		{form, "username=&password="},
		{form, "username=a&username=b&password=%zz&password=x"},
		{form, "username=%E2%82%AC%40example.com&password=%00%FF"},
		{form + "; charset=utf-8", good},
		{"application/x-www-form-urlencoded; charset", good},
		{"", good},
		{"text/plain", good},
		{"application/json", `{"username":"me@example.com","password":"` + fuzzPassword + `"}`},
		{mpType, string(mpBody)},
		{"multipart/form-data; boundary=x", "garbage"},
		{"multipart/form-data", string(mpBody)},
		{"multipart/form-data; boundary=\"" + strings.Repeat("b", 80) + "\"", "--" + strings.Repeat("b", 80) + "--\r\n"},
		{form, good + "&scope=" + phPad}, // over the 64 KiB limit
	} {
		f.Add(false, s.ctype, []byte(s.body))
		f.Add(true, s.ctype, []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, cookie bool, ctype string, body []byte) {
		if !validHeaderValue(ctype) {
			t.Skip("not a header value")
		}
		path := "/auth/jwt/login"
		if cookie {
			path = "/auth/cookie/login"
		}
		checkContract(t, "POST "+path, fe.serve(http.MethodPost, path, ctype, "", fe.fill(body)))
	})
}

// fuzzRoutes are the JSON routes FuzzJSONBody drives, chosen by the
// input's first argument.
var fuzzRoutes = []struct {
	method, path string
	auth         string // "", "me" (the user's token) or "super"
}{
	{http.MethodPost, "/auth/register", ""},
	{http.MethodPatch, "/users/me", "me"},
	{http.MethodPost, "/auth/jwt/refresh", ""},
	{http.MethodPost, "/auth/forgot-password", ""},
	{http.MethodPost, "/auth/reset-password", ""},
	{http.MethodPost, "/auth/request-verify-token", ""},
	{http.MethodPost, "/auth/verify", ""},
	{http.MethodPatch, "/users/{target}", "super"},
}

// FuzzJSONBody posts arbitrary bodies with arbitrary content types to the
// JSON routes: register, PATCH /users/me with a valid token, refresh (JSON
// or form), forgot/reset password, request-verify/verify, and a
// superuser's PATCH /users/{id}.
func FuzzJSONBody(f *testing.F) {
	fe := newFuzzEnv(f)
	const js = "application/json"
	seeds := []struct {
		route       int
		ctype, body string
	}{
		{0, js, `{"email":"new@example.com","password":"` + fuzzPassword + `","full_name":"Ada"}`},
		{0, js, `{"email":"Me@Example.com","password":"` + fuzzPassword + `","is_superuser":true,"is_active":false}`},
		{0, js, `{"email":"x@example.com","password":"short"}`},
		{0, js, `{"email":"not an email","password":1,"full_name":null,"is_verified":"yes"}`},
		{0, js, `{"email":"\u0000@example.com","password":"` + fuzzPassword + `","full_name":"` + strings.Repeat("é", 300) + `"}`},
		{0, "application/vnd.api+json; charset=utf-8", `{"email":"v@example.com","password":"` + fuzzPassword + `"}`},
		{0, "", `{"email":"e@example.com","password":"` + fuzzPassword + `"}`},
		{0, "text/plain", `{}`},
		{0, js, `[]`},
		{0, js, `"x"`},
		{0, js, `null`},
		{0, js, ``},
		{0, js, `{"email":`},
		{0, js, `{"email":"a@example.com","email":"b@example.com"}`},
		{0, js, "\xef\xbb\xbf{}"},
		{1, js, `{"full_name":"Grace"}`},
		{1, js, `{"full_name":null,"password":null,"email":null}`},
		{1, js, `{"password":"another fine passphrase"}`},
		{1, js, `{"email":"me2@example.com"}`},
		{1, js, `{"email":"root@example.com"}`},
		{1, js, `{"is_superuser":true,"is_active":false,"id":"00000000-0000-0000-0000-000000000000"}`},
		{1, js, `{"password":"pw","current_password":7}`},
		{1, js, `{}`},
		{2, js, `{"refresh_token":"` + phRefresh + `"}`},
		{2, js, `{"refresh_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`},
		{2, js, `{"refresh_token":null}`},
		{2, js, `{"refresh_token":123}`},
		{2, "application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=" + phRefresh},
		{2, "application/x-www-form-urlencoded", "grant_type=password&refresh_token="},
		{3, js, `{"email":"target@example.com"}`},
		{3, js, `{"email":"nobody@example.com"}`},
		{4, js, `{"token":"` + phReset + `","password":"a brand new passphrase"}`},
		{4, js, `{"token":"` + phReset + `","password":"x"}`},
		{4, js, `{"token":"a.b.c","password":"a brand new passphrase"}`},
		{5, js, `{"email":"target@example.com"}`},
		{6, js, `{"token":"` + phVerify + `"}`},
		{6, js, `{"token":""}`},
		{7, js, `{"is_verified":true,"is_superuser":false,"full_name":"T"}`},
		{7, js, `{"is_active":false}`},
		{7, js, `{"email":"me@example.com"}`},
		{7, js, `{"password":"a superuser's choice"}`},
	}
	for _, s := range seeds {
		f.Add(uint8(s.route), s.ctype, []byte(s.body))
	}
	for i := range fuzzRoutes {
		f.Add(uint8(i), js, []byte(`{"email":"a@example.com"}`+phPad)) // over 64 KiB
	}

	f.Fuzz(func(t *testing.T, route uint8, ctype string, body []byte) {
		if !validHeaderValue(ctype) {
			t.Skip("not a header value")
		}
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(rt.path, "{target}", fe.target.ID.String())
		var bearer string
		switch rt.auth {
		case "me":
			fe.ensureMe(t)
			bearer = fe.meToken
		case "super":
			bearer = fe.super
		}
		usedRefresh := bytes.Contains(body, []byte(phRefresh))
		w := fe.serve(rt.method, path, ctype, bearer, fe.fill(body))
		checkContract(t, rt.method+" "+rt.path, w)
		if rt.path == "/auth/jwt/refresh" && usedRefresh {
			var g struct {
				RefreshToken string `json:"refresh_token"`
			}
			if w.Code == http.StatusOK && json.Unmarshal(w.Body.Bytes(), &g) == nil && g.RefreshToken != "" {
				fe.refresh = g.RefreshToken
			} else {
				fe.newRefresh(t)
			}
		}
	})
}
