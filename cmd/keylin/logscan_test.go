package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/database"
)

// logscanUA is the User-Agent of every request of TestServeLogScan, so
// that the audit lines can be checked to carry it.
const logscanUA = "keylin-logscan/1.0"

// secretSet collects every secret value a flow shows, under a name that
// says what it is.
type secretSet map[string]string

func (s secretSet) add(name, v string) {
	if v == "" {
		return
	}
	s[name] = v
}

// jwt adds a token and its signature part, which is secret on its own.
func (s secretSet) jwt(t *testing.T, name, tok string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] == "" {
		t.Fatalf("%s is not a JWT: %q", name, tok)
	}
	s.add(name, tok)
	s.add(name+" signature", parts[2])
}

// refresh adds a refresh token, its first 20 characters and its stored
// hash.
func (s secretSet) refresh(t *testing.T, name, tok string) {
	t.Helper()
	hash, err := authn.HashRefreshToken(tok)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	s.add(name, tok)
	s.add(name+" prefix", tok[:20])
	s.add(name+" hash", hash)
}

// passwordHash adds a stored password hash and its salt and digest, each
// secret on its own.
func (s secretSet) passwordHash(name, h string) {
	s.add(name, h)
	parts := strings.Split(h, "$")
	if len(parts) >= 2 {
		s.add(name+" digest", parts[len(parts)-1])
		s.add(name+" salt", parts[len(parts)-2])
	}
}

// TestServeLogScan runs `keylin serve` on SQLite with LOG_LEVEL=debug and
// drives every account flow over HTTP — bearer and cookie transports,
// refresh, password and email change, verify and reset by mailed token,
// failed and throttled logins, sessions, logout, a superuser's update and
// delete — collecting every secret that appeared on the way: passwords,
// access, refresh, verify and reset tokens, cookie values, the signing
// secrets and the stored password hashes. No log line may hold any of them
// (nor a token's signature, nor a refresh token's first 20 characters), and
// every audit event of the flow must be there with ip, user_agent,
// request_id and, when known, user_id.
func TestServeLogScan(t *testing.T) {
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("COOKIE_TRANSPORT", "true")
	t.Setenv("COOKIE_SECURE", "false")
	t.Setenv("RATE_LIMIT_LOGIN_FAILURES_ACCOUNT", "2/1h")
	t.Setenv("VERIFICATION_SECRET", "logscan-verification-secret-0123456789")
	t.Setenv("RESET_PASSWORD_SECRET", "logscan-reset-password-secret-01234567")
	dbURL := "sqlite:///" + filepath.Join(t.TempDir(), "logscan.db")
	s := startServe(t, dbURL)
	const cookieName, refreshCookie = "fastapiusersauth", "fastapiusersauth_refresh"

	sec := secretSet{}
	for _, k := range []string{"JWT_SECRET", "VERIFICATION_SECRET", "RESET_PASSWORD_SECRET"} {
		sec.add(k, os.Getenv(k))
	}
	const (
		pwAlice1 = "alice first passphrase"
		pwAlice2 = "alice second passphrase"
		pwAlice3 = "alice reset passphrase"
		pwWrong  = "a mistyped alice passphrase"
		pwBob1   = "bob original passphrase"
		pwBob2   = "bob superuser set passphrase"
		pwBobBad = "bob wrong guess passphrase"
		pwRoot   = "root admin passphrase"
	)
	for i, pw := range []string{pwAlice1, pwAlice2, pwAlice3, pwWrong, pwBob1, pwBob2, pwBobBad, pwRoot} {
		sec.add(fmt.Sprintf("password %d", i+1), pw)
	}

	db, err := database.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// snapshotHashes adds every stored password hash as it is now.
	snapshotHashes := func(when string) {
		t.Helper()
		rows, err := db.QueryContext(context.Background(), "SELECT email, hashed_password FROM users")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			var email, hash string
			if err := rows.Scan(&email, &hash); err != nil {
				t.Fatal(err)
			}
			sec.passwordHash("hash of "+email+" "+when, hash)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}

	call := func(method, path, ctype, body string, hdr ...string) (*http.Response, string) {
		t.Helper()
		return do(t, method, s.base+path, ctype, body, append([]string{"User-Agent", logscanUA}, hdr...)...)
	}
	expect := func(what string, resp *http.Response, body string, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d, want %d: %s", what, resp.StatusCode, status, body)
		}
	}
	form := func(user, pw string) string {
		return url.Values{"username": {user}, "password": {pw}}.Encode()
	}
	const formType, jsonType = "application/x-www-form-urlencoded", "application/json"
	type grant struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	bearerLogin := func(name, user, pw string) grant {
		t.Helper()
		resp, body := call("POST", "/auth/jwt/login", formType, form(user, pw))
		expect(name, resp, body, 200)
		var g grant
		if err := json.Unmarshal([]byte(body), &g); err != nil || g.AccessToken == "" || g.RefreshToken == "" {
			t.Fatalf("%s: %s", name, body)
		}
		sec.jwt(t, name+" access token", g.AccessToken)
		sec.refresh(t, name+" refresh token", g.RefreshToken)
		return g
	}
	// cookies returns the transport's cookies a response set, adding their
	// values to the secrets.
	cookies := func(name string, resp *http.Response) (access, refresh string) {
		t.Helper()
		for _, c := range resp.Cookies() {
			switch c.Name {
			case cookieName:
				access = c.Value
			case refreshCookie:
				refresh = c.Value
			}
		}
		if access == "" || refresh == "" {
			t.Fatalf("%s: cookies %v", name, resp.Header["Set-Cookie"])
		}
		sec.jwt(t, name+" access cookie", access)
		sec.refresh(t, name+" refresh cookie", refresh)
		return access, refresh
	}
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	mailToken := func(kind string) string {
		t.Helper()
		tok, _ := lastMail(t, s.mail, kind)["token"].(string)
		if tok == "" {
			t.Fatalf("no token in the %s mail", kind)
		}
		sec.jwt(t, kind+" token", tok)
		return tok
	}
	userID := func(what, body string) string {
		t.Helper()
		var u struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(body), &u); err != nil || u.ID == "" {
			t.Fatalf("%s: no user id in %s", what, body)
		}
		return u.ID
	}

	// Registration, with a full name.
	resp, body := call("POST", "/auth/register", jsonType,
		`{"email":"alice@example.com","password":"`+pwAlice1+`","full_name":"Alice Liddell"}`)
	expect("register alice", resp, body, 201)
	alice := userID("register alice", body)
	snapshotHashes("after registration")

	// Bearer and cookie logins; GET /users/me with each.
	g1 := bearerLogin("alice login", "alice@example.com", pwAlice1)
	resp, body = call("POST", "/auth/cookie/login", formType, form("alice@example.com", pwAlice1))
	expect("cookie login", resp, body, 204)
	ckAccess, ckRefresh := cookies("alice cookie login", resp)
	resp, body = call("GET", "/users/me", "", "", bearer(g1.AccessToken)...)
	expect("me (bearer)", resp, body, 200)
	resp, body = call("GET", "/users/me", "", "", "Cookie", cookieName+"="+ckAccess)
	expect("me (cookie)", resp, body, 200)

	// Refresh, bearer and cookie.
	resp, body = call("POST", "/auth/jwt/refresh", jsonType, `{"refresh_token":"`+g1.RefreshToken+`"}`)
	expect("refresh", resp, body, 200)
	var g2 grant
	_ = json.Unmarshal([]byte(body), &g2)
	sec.jwt(t, "refreshed access token", g2.AccessToken)
	sec.refresh(t, "rotated refresh token", g2.RefreshToken)
	resp, body = call("POST", "/auth/cookie/refresh", "", "", "Cookie", refreshCookie+"="+ckRefresh)
	expect("cookie refresh", resp, body, 204)
	cookies("alice cookie refresh", resp)

	// PATCH /users/me: a new password, then a new email.
	resp, body = call("PATCH", "/users/me", jsonType, `{"password":"`+pwAlice2+`"}`, bearer(g2.AccessToken)...)
	expect("password change", resp, body, 200)
	snapshotHashes("after the password change")
	resp, body = call("PATCH", "/users/me", jsonType, `{"email":"alice.new@example.com"}`, bearer(g2.AccessToken)...)
	expect("email change", resp, body, 200)

	// Verify, then reset, with the mailed tokens.
	resp, body = call("POST", "/auth/request-verify-token", jsonType, `{"email":"alice.new@example.com"}`)
	expect("request verify", resp, body, 202)
	resp, body = call("POST", "/auth/verify", jsonType, `{"token":"`+mailToken("verify")+`"}`)
	expect("verify", resp, body, 200)
	resp, body = call("POST", "/auth/forgot-password", jsonType, `{"email":"alice.new@example.com"}`)
	expect("forgot password", resp, body, 202)
	resp, body = call("POST", "/auth/reset-password", jsonType, `{"token":"`+mailToken("reset")+`","password":"`+pwAlice3+`"}`)
	expect("reset password", resp, body, 200)
	snapshotHashes("after the reset")

	// Failed logins: a wrong password, an unknown account.
	resp, body = call("POST", "/auth/jwt/login", formType, form("alice.new@example.com", pwWrong))
	expect("wrong password", resp, body, 400)
	resp, body = call("POST", "/auth/jwt/login", formType, form("nobody@example.com", pwWrong))
	expect("unknown user", resp, body, 400)

	// Throttled: bob's account allows two failed logins an hour.
	resp, body = call("POST", "/auth/register", jsonType, `{"email":"bob@example.com","password":"`+pwBob1+`"}`)
	expect("register bob", resp, body, 201)
	bob := userID("register bob", body)
	for i := range 2 {
		resp, body = call("POST", "/auth/jwt/login", formType, form("bob@example.com", pwBobBad))
		expect(fmt.Sprintf("bob failure %d", i+1), resp, body, 400)
	}
	resp, body = call("POST", "/auth/jwt/login", formType, form("bob@example.com", pwBob1))
	expect("bob throttled", resp, body, 429)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}

	// Sessions: list them, end one, log out of another.
	g3 := bearerLogin("alice second login", "alice.new@example.com", pwAlice3)
	g4 := bearerLogin("alice third login", "alice.new@example.com", pwAlice3)
	resp, body = call("GET", "/users/me/sessions", "", "", bearer(g3.AccessToken)...)
	expect("list sessions", resp, body, 200)
	var sessions []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(body), &sessions); err != nil || len(sessions) != 2 {
		t.Fatalf("sessions: %s", body)
	}
	other := sessions[0].ID
	if sessions[0].Current {
		other = sessions[1].ID
	}
	resp, body = call("DELETE", "/users/me/sessions/"+other, "", "", bearer(g3.AccessToken)...)
	expect("end session", resp, body, 204)
	resp, body = call("GET", "/users/me", "", "", bearer(g4.AccessToken)...)
	expect("me with the ended session", resp, body, 401)
	resp, body = call("POST", "/auth/jwt/logout", "", "", bearer(g3.AccessToken)...)
	expect("logout", resp, body, 204)
	resp, body = call("POST", "/auth/cookie/login", formType, form("alice.new@example.com", pwAlice3))
	expect("cookie login again", resp, body, 204)
	ckAccess, _ = cookies("alice second cookie login", resp)
	resp, body = call("POST", "/auth/cookie/logout", "", "", "Cookie", cookieName+"="+ckAccess)
	expect("cookie logout", resp, body, 204)

	// A superuser made with the CLI updates bob (new password) and deletes him.
	code, out, errOut := runWithStdin(t, pwRoot+"\n", "users", "create", "--email", "root@example.com", "--superuser", "--verified")
	if code != 0 {
		t.Fatalf("users create: %d %s%s", code, out, errOut)
	}
	cliOutput := out + errOut
	root := bearerLogin("root login", "root@example.com", pwRoot)
	resp, body = call("PATCH", "/users/"+bob, jsonType, `{"full_name":"Robert","is_verified":true,"password":"`+pwBob2+`"}`, bearer(root.AccessToken)...)
	expect("superuser update", resp, body, 200)
	snapshotHashes("after the superuser's update")
	resp, body = call("DELETE", "/users/"+bob, "", "", bearer(root.AccessToken)...)
	expect("superuser delete", resp, body, 204)
	snapshotHashes("at the end")
	rootID := ""
	if err := db.QueryRowContext(context.Background(), "SELECT id FROM users WHERE email = 'root@example.com'").Scan(&rootID); err != nil {
		t.Fatal(err)
	}

	s.stop(t) // every line written, the mail queue drained
	logs := s.logs.String()
	records := scanLogLines(t, logs, sec)
	for name, v := range sec {
		if strings.Contains(cliOutput, v) {
			t.Errorf("the users command's output holds the %s", name)
		}
	}
	t.Logf("%d log lines scanned for %d secret values", len(records), len(sec))

	checkAuditEvents(t, records, alice, bob, rootID)
}

// scanLogLines parses every line of serve's stderr as a JSON object and
// fails t for a line that is not one, or that holds any secret, raw or in
// any of its decoded string values.
func scanLogLines(t *testing.T, logs string, sec secretSet) []map[string]any {
	t.Helper()
	names := make([]string, 0, len(sec))
	for name := range sec {
		names = append(names, name)
	}
	sort.Strings(names)
	var records []map[string]any
	for i, line := range strings.Split(logs, "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line %d is not a JSON object: %q", i+1, line)
			continue
		}
		records = append(records, rec)
		values := []string{line}
		collectStrings(rec, &values)
		for _, name := range names {
			for _, v := range values {
				if strings.Contains(v, sec[name]) {
					t.Errorf("log line %d holds the %s: %s", i+1, name, line)
					break
				}
			}
		}
	}
	return records
}

// collectStrings appends every string in a decoded JSON value, keys too.
func collectStrings(v any, out *[]string) {
	switch v := v.(type) {
	case string:
		*out = append(*out, v)
	case []any:
		for _, e := range v {
			collectStrings(e, out)
		}
	case map[string]any:
		for k, e := range v {
			*out = append(*out, k)
			collectStrings(e, out)
		}
	}
}

// checkAuditEvents checks that each audit event of the flow was logged
// with the client's ip, user agent and request id (the id of a request the
// request log shows), and the user and reason it concerns.
func checkAuditEvents(t *testing.T, records []map[string]any, alice, bob, root string) {
	t.Helper()
	str := func(r map[string]any, k string) string { s, _ := r[k].(string); return s }
	requestIDs := map[string]bool{}
	var audits []map[string]any
	for _, r := range records {
		switch str(r, "msg") {
		case "request":
			requestIDs[str(r, "request_id")] = true
		case "audit":
			audits = append(audits, r)
		}
	}
	for _, a := range audits {
		if str(a, "ip") != "127.0.0.1" || str(a, "user_agent") != logscanUA || str(a, "request_id") == "" {
			t.Errorf("audit line without the client's ip, user agent or request id: %v", a)
		}
		if !requestIDs[str(a, "request_id")] {
			t.Errorf("audit line whose request id no request line has: %v", a)
		}
	}
	want := []struct {
		event, user, reason, actor string
	}{
		{authn.EventRegistered, alice, "", ""},
		{authn.EventLoginSucceeded, alice, "", ""},
		{authn.EventRefreshed, alice, "", ""},
		{authn.EventPasswordChanged, alice, "", ""},
		{authn.EventEmailChanged, alice, "", ""},
		{authn.EventVerifyRequested, alice, "", ""},
		{authn.EventVerified, alice, "", ""},
		{authn.EventResetRequested, alice, "", ""},
		{authn.EventReset, alice, "", ""},
		{authn.EventLoginFailed, alice, authn.ReasonBadPassword, ""},
		{authn.EventLoginFailed, "", authn.ReasonUnknownUser, ""},
		{authn.EventThrottled, bob, authn.RuleLoginFailuresAccount, ""},
		{authn.EventSessionEnded, alice, "one", ""},
		{authn.EventLogout, alice, "", ""},
		{authn.EventUserUpdated, bob, "", root},
		{authn.EventPasswordChanged, bob, "", root},
		{authn.EventUserDeleted, bob, "", root},
	}
	for _, w := range want {
		found := slices.ContainsFunc(audits, func(a map[string]any) bool {
			return str(a, "event") == w.event && str(a, "user_id") == w.user &&
				(w.reason == "" || str(a, "reason") == w.reason) && (w.actor == "" || str(a, "actor_id") == w.actor)
		})
		if !found {
			t.Errorf("no audit line %s (user %q, reason %q, actor %q)", w.event, w.user, w.reason, w.actor)
		}
	}
	if t.Failed() {
		for _, a := range audits {
			t.Logf("audit: %v", a)
		}
	}
}
