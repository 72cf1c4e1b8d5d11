package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/keylin/keylin/internal/dbtest"
)

// TestLoginUserAgentNotUTF8: a User-Agent that is not UTF-8 (Latin-1, as
// old clients and some proxies send) does not break login. The session
// stores it with the invalid bytes replaced: PostgreSQL's text refuses
// them, and the login used to fail with a 500.
func TestLoginUserAgentNotUTF8(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		e.user("ua@example.com", false, false)
		form := url.Values{"username": {"ua@example.com"}, "password": {testPassword}}.Encode()
		r := e.do(req{method: http.MethodPost, path: "/auth/jwt/login", ctype: "application/x-www-form-urlencoded",
			body: strings.NewReader(form), header: map[string]string{"User-Agent": "Navigateur/1.0 (caf\xe9)"}})
		r.expectStatus(t, http.StatusOK)
		var b struct {
			AccessToken string `json:"access_token"`
		}
		r.decode(t, &b)
		var sessions []struct {
			UserAgent string `json:"user_agent"`
		}
		e.get("/users/me/sessions", b.AccessToken).decode(t, &sessions)
		if len(sessions) != 1 || sessions[0].UserAgent != "Navigateur/1.0 (caf\uFFFD)" {
			t.Fatalf("sessions %+v", sessions)
		}
	})
}
