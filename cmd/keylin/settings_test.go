package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
)

// settingsPassword is the password of the users settingsCase registers.
const settingsPassword = "settings test passphrase"

// settingsCase sets some variables on `keylin serve` and checks, over HTTP,
// the database or the mail file, that they took effect.
type settingsCase struct {
	vars  map[string]string
	check func(t *testing.T, s *served, db string)
}

// elsewhere names the tests that prove the settings this file does not.
var settingsElsewhere = map[string]string{
	"DATABASE_TIMEOUT": "TestServePostgresFaults (faults_test.go): DATABASE_TIMEOUT=1s bounds every request while the database is down or frozen",
	"SHUTDOWN_DELAY":   "TestServeShutdownDelay (serve_test.go): /readyz fails during the delay while other routes still answer",
}

// TestEverySettingReachesTheService starts `keylin serve` once per
// setting, with the setting away from its default, and observes its
// effect. A setting of config.Settings with no case here (nor in
// settingsElsewhere) fails the test: adding a setting means proving it
// reaches the running service.
func TestEverySettingReachesTheService(t *testing.T) {
	cases := settingsCases()
	for _, name := range settingNames() {
		if _, ok := settingsElsewhere[name]; ok {
			continue
		}
		covered := false
		for _, c := range cases {
			_, covered = c.vars[name]
			if covered {
				break
			}
		}
		if !covered {
			t.Errorf("setting %s: no test shows it reaches the running service", name)
		}
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dbPath := filepath.Join(t.TempDir(), "settings.db")
			s := startServeEnv(t, "sqlite:///"+dbPath, c.vars)
			c.check(t, s, dbPath)
		})
	}
}

// settingNames are the variables of config.Settings.
func settingNames() []string {
	var names []string
	t := reflect.TypeFor[config.Settings]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		names = append(names, name)
	}
	return names
}

// startServeEnv is startServe with rate limits off unless vars say
// otherwise, and the variables set ("{tmp}" stands for a temporary
// directory).
func startServeEnv(t *testing.T, dbURL string, vars map[string]string) *served {
	t.Helper()
	all := map[string]string{"RATE_LIMIT_STORE": "off"}
	tmp := t.TempDir()
	for k, v := range vars {
		all[k] = strings.ReplaceAll(v, "{tmp}", tmp)
	}
	return startServeVars(t, dbURL, all)
}

// api is a little JSON client of a served keylin.
type api struct {
	t    *testing.T
	base string
	hdr  []string
}

func (a api) call(method, path, ctype, body string, hdr ...string) (*http.Response, string) {
	a.t.Helper()
	return do(a.t, method, a.base+path, ctype, body, append(append([]string(nil), a.hdr...), hdr...)...)
}

func (a api) register(email string, extra ...string) {
	a.t.Helper()
	body := `{"email":"` + email + `","password":"` + settingsPassword + `"` + strings.Join(extra, "") + `}`
	if r, b := a.call("POST", "/auth/register", "application/json", body); r.StatusCode != 201 {
		a.t.Fatalf("register %s: %d %s", email, r.StatusCode, b)
	}
}

func (a api) loginResp(email, password string) (*http.Response, map[string]any) {
	a.t.Helper()
	r, b := a.call("POST", "/auth/jwt/login", "application/x-www-form-urlencoded",
		url.Values{"username": {email}, "password": {password}}.Encode())
	var m map[string]any
	_ = json.Unmarshal([]byte(b), &m)
	return r, m
}

func (a api) login(email string) map[string]any {
	a.t.Helper()
	r, m := a.loginResp(email, settingsPassword)
	if r.StatusCode != 200 {
		a.t.Fatalf("login %s: %d %v", email, r.StatusCode, m)
	}
	return m
}

func claimsOf(t *testing.T, tok, secret string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tok, c, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("token does not verify with the configured secret: %v", err)
	}
	return c
}

func lifetime(t *testing.T, c jwt.MapClaims) time.Duration {
	t.Helper()
	exp, err := c.GetExpirationTime()
	if err != nil || exp == nil {
		t.Fatal("no exp")
	}
	return time.Until(exp.Time).Round(time.Minute)
}

func dbQuery(t *testing.T, path, q string, dst ...any) {
	t.Helper()
	db, err := database.Open(context.Background(), "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRowContext(context.Background(), q).Scan(dst...); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
}

const (
	secretA = "settings-access-secret-0123456789abcdef0000"
	secretR = "settings-reset-secret-0123456789abcdef00000"
	secretV = "settings-verify-secret-0123456789abcdef0000"
)

// limitCase: the flow answers 429 on its second request with the limit at
// 1/1h (the other limits at their defaults).
func limitCase(name string, second func(a api, s *served)) settingsCase {
	return settingsCase{vars: map[string]string{"RATE_LIMIT_STORE": "database", name: "1/1h"}, check: func(t *testing.T, s *served, _ string) {
		a := api{t: t, base: s.base}
		a.register("limits@example.com")
		second(a, s)
	}}
}

func want429(a api, r *http.Response, body string) {
	a.t.Helper()
	if r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		a.t.Fatalf("%d %s, want 429 with Retry-After", r.StatusCode, body)
	}
}

func settingsCases() map[string]settingsCase {
	jsonPost := func(a api, path, body string) (*http.Response, string) {
		return a.call("POST", path, "application/json", body)
	}
	twice := func(path, body string) func(a api, s *served) {
		return func(a api, _ *served) {
			jsonPost(a, path, body)
			r, b := jsonPost(a, path, body)
			want429(a, r, b)
		}
	}
	mailTemplates, err := filepath.Abs(filepath.Join("testdata", "mailtemplates")) // serve runs elsewhere
	if err != nil {
		panic(err)
	}
	return map[string]settingsCase{
		"Secrets": {vars: map[string]string{"JWT_SECRET": secretA, "RESET_PASSWORD_SECRET": secretR, "VERIFICATION_SECRET": secretV,
			"ACCESS_TOKEN_LIFETIME": "17m", "VERIFY_TOKEN_LIFETIME": "2h", "RESET_TOKEN_LIFETIME": "45m"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("sec@example.com")
				if d := lifetime(t, claimsOf(t, a.login("sec@example.com")["access_token"].(string), secretA)); d != 17*time.Minute {
					t.Errorf("access lifetime %v", d)
				}
				if d := lifetime(t, claimsOf(t, mailedToken(a, s, "/auth/forgot-password", "sec@example.com", "reset"), secretR)); d != 45*time.Minute {
					t.Errorf("reset lifetime %v", d)
				}
				if d := lifetime(t, claimsOf(t, mailedToken(a, s, "/auth/request-verify-token", "sec@example.com", "verify"), secretV)); d != 2*time.Hour {
					t.Errorf("verify lifetime %v", d)
				}
			}},
		"DatabaseURL": {vars: map[string]string{"DATABASE_URL": ""}, check: func(t *testing.T, s *served, _ string) {
			// startServeEnv's own URL is overridden by the empty value, which
			// means the default file keylin.db in the working directory.
			api{t: t, base: s.base}.register("db@example.com")
			var n int
			dbQuery(t, "keylin.db", "SELECT count(*) FROM users WHERE email = 'db@example.com'", &n)
			if n != 1 {
				t.Fatalf("the user is not in the default database file")
			}
		}},
		"Hashing": {vars: map[string]string{"HASH_MEMORY_KIB": "20480", "HASH_ITERATIONS": "3", "HASH_PARALLELISM": "2"},
			check: func(t *testing.T, s *served, db string) {
				api{t: t, base: s.base}.register("hash@example.com")
				var h string
				dbQuery(t, db, "SELECT hashed_password FROM users", &h)
				if !strings.HasPrefix(h, "$argon2id$v=19$m=20480,t=3,p=2$") {
					t.Fatalf("stored hash %q does not have the configured parameters", h)
				}
				if r, _ := (api{t: t, base: s.base}).call("GET", "/metrics", "", ""); r.StatusCode != 404 {
					t.Fatalf("/metrics without METRICS=true: %d, want 404", r.StatusCode)
				}
			}},
		"HashSlots": {vars: map[string]string{"HASH_MAX_CONCURRENT": "1", "HASH_MAX_WAIT": "1ms", "HASH_MEMORY_KIB": "131072"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("slots@example.com")
				var wg sync.WaitGroup
				var mu sync.Mutex
				codes := map[int]int{}
				for range 6 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, _ := a.loginResp("slots@example.com", settingsPassword)
						mu.Lock()
						codes[r.StatusCode]++
						mu.Unlock()
					}()
				}
				wg.Wait()
				if codes[503] == 0 {
					t.Fatalf("one hashing slot, 1ms wait, 6 concurrent logins: %v, want some 503", codes)
				}
			}},
		"RequireVerification": {vars: map[string]string{"REQUIRE_VERIFICATION": "true"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base}
			a.register("unverified@example.com")
			if r, m := a.loginResp("unverified@example.com", settingsPassword); r.StatusCode != 400 || m["detail"] != "LOGIN_USER_NOT_VERIFIED" {
				t.Fatalf("%d %v", r.StatusCode, m)
			}
		}},
		"Mail": {vars: map[string]string{"MAIL_FROM": "Shop <no-reply@shop.example>", "MAIL_APP_NAME": "Shop", "VERIFY_URL": "https://shop.example/v?t={token}",
			"RESET_PASSWORD_URL": "https://shop.example/r/{token}", "SEND_VERIFY_ON_REGISTER": "true"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("mail@example.com")
				v := lastMail(t, s.mail, "verify")
				if !strings.HasPrefix(v["link"].(string), "https://shop.example/v?t=") || !strings.Contains(v["from"].(string), "no-reply@shop.example") ||
					v["subject"] != "Verify your e-mail address for Shop" {
					t.Fatalf("verify mail on register %v", v)
				}
				jsonPost(a, "/auth/forgot-password", `{"email":"mail@example.com"}`)
				if r := lastMail(t, s.mail, "reset"); !strings.HasPrefix(r["link"].(string), "https://shop.example/r/") {
					t.Fatalf("reset mail %v", r)
				}
			}},
		"MailTemplates": {vars: map[string]string{"MAIL_TEMPLATES": mailTemplates},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("tmpl@example.com")
				jsonPost(a, "/auth/forgot-password", `{"email":"tmpl@example.com"}`)
				m := lastMail(t, s.mail, "reset")
				link, _ := m["link"].(string)
				if m["subject"] != "keylin password reset for tmpl@example.com" || m["body"] != "Choose a new password: "+link+"\n" ||
					m["html"] != `<p><a href="`+strings.ReplaceAll(link, "&", "&amp;")+`">Choose a new password</a></p>`+"\n" {
					t.Fatalf("reset mail from testdata/mailtemplates: %v", m)
				}
			}},
		"MailURL": {vars: map[string]string{"MAIL_URL": "file:{tmp}/elsewhere.jsonl"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("url@example.com")
				jsonPost(a, "/auth/forgot-password", `{"email":"url@example.com"}`)
				if m := lastMail(t, s.mail, "reset"); m["to"] != "url@example.com" {
					t.Fatalf("mail %v", m)
				}
			}},
		"CORSAndTrustedOriginsAndCookies": {vars: map[string]string{"ALLOWED_ORIGINS": "https://app.example", "COOKIE_TRANSPORT": "true",
			"COOKIE_NAME": "shopauth", "COOKIE_SECURE": "false"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("cookie@example.com")
				r, _ := a.call("OPTIONS", "/auth/jwt/login", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST")
				if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || r.Header.Get("Access-Control-Allow-Credentials") != "true" {
					t.Fatalf("CORS preflight headers %v", r.Header)
				}
				form := url.Values{"username": {"cookie@example.com"}, "password": {settingsPassword}}.Encode()
				r, b := a.call("POST", "/auth/cookie/login", "application/x-www-form-urlencoded", form, "Origin", "https://app.example")
				set := r.Header.Get("Set-Cookie")
				if r.StatusCode != 204 || !strings.HasPrefix(set, "shopauth=") || strings.Contains(set, "Secure") {
					t.Fatalf("cookie login from a trusted origin: %d %s %q", r.StatusCode, b, set)
				}
				if r, _ := a.call("POST", "/auth/cookie/login", "application/x-www-form-urlencoded", form, "Origin", "https://evil.example"); r.StatusCode != 403 {
					t.Fatalf("cookie login from another origin: %d", r.StatusCode)
				}
			}},
		"TrustedProxies": {vars: map[string]string{"TRUSTED_PROXIES": "127.0.0.1"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base, hdr: []string{"X-Forwarded-For", "203.0.113.77"}}
			a.register("proxy@example.com")
			tok := a.login("proxy@example.com")["access_token"].(string)
			_, b := a.call("GET", "/users/me/sessions", "", "", "Authorization", "Bearer "+tok)
			if !strings.Contains(b, `"ip_address":"203.0.113.77"`) {
				t.Fatalf("sessions %s: the forwarded address from a trusted proxy was not used", b)
			}
		}},
		"Pool": {vars: map[string]string{"DATABASE_MAX_OPEN_CONNS": "3", "DATABASE_MAX_IDLE_CONNS": "2",
			"DATABASE_CONN_MAX_LIFETIME": "10m", "DATABASE_CONN_MAX_IDLE_TIME": "1m"},
			check: func(t *testing.T, s *served, _ string) {
				if !strings.Contains(s.logs.String(), `"db_max_open_conns":3`) {
					t.Fatalf("the pool is not sized by the settings: %s", s.logs.String())
				}
			}},
		"Metrics": {vars: map[string]string{"METRICS": "true"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base}
			a.register("metrics@example.com")
			a.login("metrics@example.com")
			a.call("GET", "/users/me", "", "")
			_, b := a.call("GET", "/metrics", "", "")
			for _, want := range []string{
				`keylin_http_requests_total{method="POST",route="/auth/register",status="201"} 1`,
				`keylin_http_requests_total{method="GET",route="/users/me",status="401"} 1`,
				`keylin_http_request_duration_seconds_bucket{method="POST",route="/auth/jwt/login",status="200",le="+Inf"} 1`,
				"keylin_hash_slots ", "keylin_hash_slots_in_use ", "keylin_hash_waiting ", "keylin_hash_refused_total ",
				"keylin_hash_duration_seconds ", "go_sql_max_open_connections{db_name=\"keylin\"}",
			} {
				if !strings.Contains(b, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
		}},
		"OpenAPIOff": {vars: map[string]string{"OPENAPI": "false"}, check: func(t *testing.T, s *served, _ string) {
			for _, p := range []string{"/openapi.json", "/docs", "/docs/swagger-ui-bundle.js"} {
				if r, _ := (api{t: t, base: s.base}).call("GET", p, "", ""); r.StatusCode != 404 {
					t.Errorf("GET %s with OPENAPI=false: %d, want 404", p, r.StatusCode)
				}
			}
		}},
		"LogLevel": {vars: map[string]string{"LOG_LEVEL": "warn"}, check: func(t *testing.T, s *served, _ string) {
			api{t: t, base: s.base}.register("log@example.com")
			if strings.Contains(s.logs.String(), `"msg":"request"`) {
				t.Fatal("info lines logged at LOG_LEVEL=warn")
			}
		}},
		"RefreshOff": {vars: map[string]string{"REFRESH_TOKENS": "false"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base}
			a.register("norefresh@example.com")
			if m := a.login("norefresh@example.com"); m["refresh_token"] != nil || len(m) != 2 {
				t.Fatalf("login %v: want only the contract's keys", m)
			}
		}},
		"SessionLifetimes": {vars: map[string]string{"REFRESH_TOKEN_LIFETIME": "48h", "SESSION_MAX_LIFETIME": "24h"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("life@example.com")
				tok := a.login("life@example.com")["access_token"].(string)
				_, b := a.call("GET", "/users/me/sessions", "", "", "Authorization", "Bearer "+tok)
				var ss []struct {
					CreatedAt time.Time `json:"created_at"`
					ExpiresAt time.Time `json:"expires_at"`
				}
				if err := json.Unmarshal([]byte(b), &ss); err != nil || len(ss) != 1 {
					t.Fatalf("sessions %s", b)
				}
				if d := ss[0].ExpiresAt.Sub(ss[0].CreatedAt).Round(time.Minute); d != 24*time.Hour {
					t.Fatalf("session lasts %v, want the 24h maximum (shorter than the 48h refresh lifetime)", d)
				}
			}},
		"RequireCurrentPassword": {vars: map[string]string{"REQUIRE_CURRENT_PASSWORD": "true"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base}
			a.register("cur@example.com")
			tok := a.login("cur@example.com")["access_token"].(string)
			r, b := a.call("PATCH", "/users/me", "application/json", `{"password":"a different passphrase"}`, "Authorization", "Bearer "+tok)
			if r.StatusCode != 400 || !strings.Contains(b, "UPDATE_USER_BAD_CURRENT_PASSWORD") {
				t.Fatalf("%d %s", r.StatusCode, b)
			}
		}},
		"RegisterNoEnumeration": {vars: map[string]string{"REGISTER_NO_ENUMERATION": "true"}, check: func(t *testing.T, s *served, _ string) {
			a := api{t: t, base: s.base}
			a.register("taken@example.com")
			a.register("taken@example.com")
			if m := lastMail(t, s.mail, "account_exists"); m["to"] != "taken@example.com" {
				t.Fatalf("notice %v", m)
			}
		}},
		"RateLimitStoreMemory": {vars: map[string]string{"RATE_LIMIT_STORE": "memory", "RATE_LIMIT_LOGIN_IP": "1/1h"},
			check: func(t *testing.T, s *served, db string) {
				a := api{t: t, base: s.base}
				a.register("mem@example.com")
				a.login("mem@example.com")
				r, m := a.loginResp("mem@example.com", settingsPassword)
				if r.StatusCode != 429 {
					t.Fatalf("%d %v", r.StatusCode, m)
				}
				var n int
				dbQuery(t, db, "SELECT count(*) FROM keylin_rate_limits", &n)
				if n != 0 {
					t.Fatalf("%d counters in the database with RATE_LIMIT_STORE=memory", n)
				}
			}},
		"RateLimitLoginIP": limitCase("RATE_LIMIT_LOGIN_IP", func(a api, _ *served) {
			a.login("limits@example.com")
			r, m := a.loginResp("limits@example.com", settingsPassword)
			want429(a, r, m["detail"].(string))
		}),
		"RateLimitLoginFailuresAccountIP": limitCase("RATE_LIMIT_LOGIN_FAILURES_ACCOUNT_IP", func(a api, _ *served) {
			a.loginResp("limits@example.com", "wrong password")
			r, m := a.loginResp("limits@example.com", settingsPassword)
			want429(a, r, m["detail"].(string))
		}),
		"RateLimitLoginFailuresAccount": limitCase("RATE_LIMIT_LOGIN_FAILURES_ACCOUNT", func(a api, _ *served) {
			a.loginResp("limits@example.com", "wrong password")
			r, m := a.loginResp("limits@example.com", "another wrong one")
			want429(a, r, m["detail"].(string))
		}),
		"RateLimitRegisterIP": limitCase("RATE_LIMIT_REGISTER_IP", func(a api, _ *served) {
			r, b := jsonPost(a, "/auth/register", `{"email":"second@example.com","password":"`+settingsPassword+`"}`)
			want429(a, r, b)
		}),
		"RateLimitRegisterAccount": limitCase("RATE_LIMIT_REGISTER_ACCOUNT", func(a api, _ *served) {
			r, b := jsonPost(a, "/auth/register", `{"email":"LIMITS@example.com","password":"`+settingsPassword+`"}`)
			want429(a, r, b)
		}),
		"RateLimitForgotPasswordIP":      limitCase("RATE_LIMIT_FORGOT_PASSWORD_IP", twiceDifferent("/auth/forgot-password")),
		"RateLimitForgotPasswordAccount": limitCase("RATE_LIMIT_FORGOT_PASSWORD_ACCOUNT", twice("/auth/forgot-password", `{"email":"limits@example.com"}`)),
		"RateLimitRequestVerifyIP":       limitCase("RATE_LIMIT_REQUEST_VERIFY_IP", twiceDifferent("/auth/request-verify-token")),
		"RateLimitRequestVerifyAccount":  limitCase("RATE_LIMIT_REQUEST_VERIFY_ACCOUNT", twice("/auth/request-verify-token", `{"email":"limits@example.com"}`)),
		"RateLimitVerifyIP":              limitCase("RATE_LIMIT_VERIFY_IP", twice("/auth/verify", `{"token":"not.a.token"}`)),
		"RateLimitVerifyAccount": limitCase("RATE_LIMIT_VERIFY_ACCOUNT", func(a api, s *served) {
			tok := mailedToken(a, s, "/auth/request-verify-token", "limits@example.com", "verify")
			jsonPost(a, "/auth/verify", `{"token":"`+tok+`"}`)
			r, b := jsonPost(a, "/auth/verify", `{"token":"`+tok+`"}`)
			want429(a, r, b)
		}),
		"RateLimitResetPasswordIP": limitCase("RATE_LIMIT_RESET_PASSWORD_IP", twice("/auth/reset-password", `{"token":"x","password":"whatever passphrase"}`)),
		"RateLimitResetPasswordAccount": limitCase("RATE_LIMIT_RESET_PASSWORD_ACCOUNT", func(a api, s *served) {
			tok := mailedToken(a, s, "/auth/forgot-password", "limits@example.com", "reset")
			jsonPost(a, "/auth/reset-password", `{"token":"`+tok+`","password":"`+settingsPassword+`"}`)
			r, b := jsonPost(a, "/auth/reset-password", `{"token":"`+tok+`","password":"`+settingsPassword+`"}`)
			want429(a, r, b)
		}),
		"RateLimitRefreshIP": limitCase("RATE_LIMIT_REFRESH_IP", twice("/auth/jwt/refresh", `{"refresh_token":"x"}`)),
		"RateLimitRefreshAccount": limitCase("RATE_LIMIT_REFRESH_ACCOUNT", func(a api, _ *served) {
			rt := a.login("limits@example.com")["refresh_token"].(string)
			r, b := jsonPost(a, "/auth/jwt/refresh", `{"refresh_token":"`+rt+`"}`)
			var g map[string]any
			_ = json.Unmarshal([]byte(b), &g)
			if r.StatusCode != 200 {
				a.t.Fatalf("first refresh: %d %s", r.StatusCode, b)
			}
			r, b = jsonPost(a, "/auth/jwt/refresh", `{"refresh_token":"`+g["refresh_token"].(string)+`"}`)
			want429(a, r, b)
		}),
		"MailLimitPerAddress": {vars: map[string]string{"RATE_LIMIT_STORE": "database", "MAIL_LIMIT_PER_ADDRESS": "1/1h"},
			check: func(t *testing.T, s *served, _ string) {
				a := api{t: t, base: s.base}
				a.register("bomb@example.com")
				for range 3 {
					if r, b := jsonPost(a, "/auth/forgot-password", `{"email":"bomb@example.com"}`); r.StatusCode != 202 {
						t.Fatalf("%d %s", r.StatusCode, b)
					}
				}
				lastMail(t, s.mail, "reset")
				time.Sleep(200 * time.Millisecond) // the queue would have written more by now
				if n := countMails(t, s.mail, "reset"); n != 1 {
					t.Fatalf("%d reset mails, want 1", n)
				}
			}},
	}
}

// twiceDifferent posts two different emails to path from one address: the
// second is over a per-IP limit of 1.
func twiceDifferent(path string) func(a api, s *served) {
	return func(a api, _ *served) {
		a.call("POST", path, "application/json", `{"email":"one@example.com"}`)
		r, b := a.call("POST", path, "application/json", `{"email":"two@example.com"}`)
		want429(a, r, b)
	}
}

// mailedToken requests a mail of kind for email and returns its token.
func mailedToken(a api, s *served, path, email, kind string) string {
	a.t.Helper()
	if r, b := a.call("POST", path, "application/json", `{"email":"`+email+`"}`); r.StatusCode != 202 {
		a.t.Fatalf("%s: %d %s", path, r.StatusCode, b)
	}
	return lastMail(a.t, s.mail, kind)["token"].(string)
}

// countMails counts the messages of a kind in the file transport's file.
func countMails(t *testing.T, path, kind string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["kind"] == kind {
			n++
		}
	}
	return n
}
