package httpapi_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/internal/dbtest"
)

// pyjwtPython is the interpreter of Debian's python3-jwt (PyJWT 2.6 on
// bookworm), the PyJWT fastapi-users runs on in the Python keylin's
// images.
const pyjwtPython = "/usr/bin/python3"

// pyjwtScript decodes each access token read from stdin as fastapi-users'
// JWTStrategy does — jwt.decode(token, secret, audience=[…],
// algorithms=["HS256"]) — and answers one JSON line per token: the outcome,
// the sub, whether iat and exp are Python ints, and the clock before and
// after the decode.
const pyjwtScript = `
import json, os, sys, time
import jwt
secret = os.environ["KEYLIN_PYJWT_SECRET"]
print(json.dumps({"version": jwt.__version__}), flush=True)
for line in sys.stdin:
    before = time.time()
    try:
        p = jwt.decode(line.strip(), secret, audience=["fastapi-users:auth"], algorithms=["HS256"])
        r = {"ok": True, "sub": p.get("sub"),
             "iat_int": type(p.get("iat")) is int, "exp_int": type(p.get("exp")) is int}
    except Exception as e:
        r = {"ok": False, "error": type(e).__name__, "message": str(e)}
    r["before"], r["after"] = before, time.time()
    print(json.dumps(r), flush=True)
`

// pyjwt is a running PyJWT decoder: one process for the whole test, so
// that a token reaches jwt.decode milliseconds after keylin issued it,
// without an interpreter start in between.
type pyjwt struct {
	version string
	in      io.WriteCloser
	lines   chan string
}

// pyjwtResult is one decode's outcome.
type pyjwtResult struct {
	OK      bool    `json:"ok"`
	Sub     string  `json:"sub"`
	IatInt  bool    `json:"iat_int"`
	ExpInt  bool    `json:"exp_int"`
	Error   string  `json:"error"`
	Message string  `json:"message"`
	Before  float64 `json:"before"`
	After   float64 `json:"after"`
}

// startPyJWT starts the decoder with the access secret, or skips the test
// when /usr/bin/python3 cannot import jwt.
func startPyJWT(t *testing.T, secret string) *pyjwt {
	t.Helper()
	if out, err := exec.Command(pyjwtPython, "-c", "import jwt").CombinedOutput(); err != nil {
		t.Skipf("%s cannot import jwt (install Debian's python3-jwt): %v %s", pyjwtPython, err, out)
	}
	cmd := exec.Command(pyjwtPython, "-c", pyjwtScript)
	cmd.Env = append(os.Environ(), "KEYLIN_PYJWT_SECRET="+secret)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &pyjwt{in: stdin, lines: make(chan string)}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = p.in.Close()
		for range p.lines {
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("python: %v", err)
		}
	})
	var hello struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal([]byte(p.next(t)), &hello); err != nil || hello.Version == "" {
		t.Fatalf("python did not report PyJWT's version: %v", err)
	}
	p.version = hello.Version
	return p
}

func (p *pyjwt) next(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatal("python exited")
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatal("python did not answer")
	}
	return ""
}

// decode hands token to PyJWT and returns its verdict.
func (p *pyjwt) decode(t *testing.T, token string) pyjwtResult {
	t.Helper()
	if _, err := fmt.Fprintln(p.in, token); err != nil {
		t.Fatal(err)
	}
	var r pyjwtResult
	if l := p.next(t); json.Unmarshal([]byte(l), &r) != nil {
		t.Fatalf("python answered %q", l)
	}
	return r
}

// sameSecond reports whether PyJWT's whole decode ran within the second
// that iat (a Unix time, possibly fractional) falls in: the window in which
// PyJWT 2.6, comparing iat with its clock truncated to whole seconds,
// refuses a fractional iat.
func (r pyjwtResult) sameSecond(iat float64) bool {
	s := math.Floor(iat)
	return math.Floor(r.Before) == s && math.Floor(r.After) == s
}

// tokenIat reads the iat claim of a JWT without checking it.
func tokenIat(t *testing.T, token string) float64 {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Iat json.Number `json:"iat"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	f, err := c.Iat.Float64()
	if err != nil {
		t.Fatalf("iat %q: %v", c.Iat, err)
	}
	return f
}

// pyjwtBefore28 reports whether version is a PyJWT that truncates its
// clock when checking iat (before 2.8; see NOTES.md).
func pyjwtBefore28(version string) bool {
	major, rest, _ := strings.Cut(version, ".")
	minor, _, _ := strings.Cut(rest, ".")
	ma, err1 := strconv.Atoi(major)
	mi, err2 := strconv.Atoi(minor)
	return err1 == nil && err2 == nil && (ma < 2 || ma == 2 && mi < 8)
}

// TestPyJWTInterop: access tokens keylin issues over its HTTP API, at login
// and at refresh, are accepted by PyJWT as fastapi-users decodes them, at
// once — within the second of issue, where PyJWT 2.6 refused keylin's old
// fractional iat — with the same sub and integer iat and exp.
func TestPyJWTInterop(t *testing.T) {
	py := startPyJWT(t, testAccessSecret)
	t.Logf("PyJWT %s (%s)", py.version, pyjwtPython)

	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{managerOpts: []authn.Option{authn.WithRefreshTokens(time.Hour)}})
		u := e.user("pyjwt@example.com", false, false)
		login := func() (access, refresh string) {
			t.Helper()
			r := e.loginResp("pyjwt@example.com", testPassword)
			r.expectStatus(t, http.StatusOK)
			var b struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			r.decode(t, &b)
			return b.AccessToken, b.RefreshToken
		}
		check := func(what, token string) bool {
			t.Helper()
			r := py.decode(t, token)
			if !r.OK {
				t.Fatalf("%s: PyJWT refused keylin's token: %s: %s", what, r.Error, r.Message)
			}
			if r.Sub != u.ID.String() {
				t.Fatalf("%s: PyJWT read sub %q, want %s", what, r.Sub, u.ID)
			}
			if !r.IatInt || !r.ExpInt {
				t.Fatalf("%s: iat or exp is not a Python int (iat int: %v, exp int: %v)", what, r.IatInt, r.ExpInt)
			}
			return r.sameSecond(tokenIat(t, token))
		}

		// Log in until at least a few tokens were decoded in their second
		// of issue (nearly all are: a login takes milliseconds here).
		const minTokens, minSame, maxTokens = 8, 3, 60
		var refresh string
		n, same := 0, 0
		for n < minTokens || same < minSame && n < maxTokens {
			access, rt := login()
			refresh = rt
			n++
			if check(fmt.Sprintf("login %d", n), access) {
				same++
			}
		}
		t.Logf("%s: %d of %d login tokens decoded by PyJWT within the second of issue", d, same, n)
		if same == 0 {
			t.Fatalf("no token was decoded within its second of issue in %d tries: the machine is too slow for this test", n)
		}

		// A refreshed access token, decoded at once too.
		sameRefresh := 0
		for i := range 3 {
			r := e.postJSON("/auth/jwt/refresh", "", map[string]string{"refresh_token": refresh})
			r.expectStatus(t, http.StatusOK)
			var b struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			r.decode(t, &b)
			refresh = b.RefreshToken
			if check(fmt.Sprintf("refresh %d", i+1), b.AccessToken) {
				sameRefresh++
			}
		}
		t.Logf("%s: %d of 3 refreshed tokens decoded within the second of issue", d, sameRefresh)
	})

	// FractionalIatRefused documents the defect keylin had: a token whose
	// iat carries a fraction of a second is refused by PyJWT 2.6 for the
	// rest of that second (ImmatureSignatureError), then accepted.
	t.Run("FractionalIatRefused", func(t *testing.T) {
		if !pyjwtBefore28(py.version) {
			t.Skipf("PyJWT %s compares iat with the exact time; the defect shows with PyJWT < 2.8 only", py.version)
		}
		sub := "8c7f4d00-0d8b-49cd-ae55-da44cdde2311"
		for try := 1; ; try++ {
			// Issue early in a second, so that the decode surely falls in it.
			now := time.Now()
			if frac := now.Sub(now.Truncate(time.Second)); frac < 50*time.Millisecond || frac > 500*time.Millisecond {
				time.Sleep(time.Second - frac + 100*time.Millisecond)
				now = time.Now()
			}
			iat := float64(now.UnixNano()) / 1e9
			token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": sub, "aud": []string{authn.AccessAudience},
				"iat": iat, "exp": iat + 3600,
			}).SignedString([]byte(testAccessSecret))
			if err != nil {
				t.Fatal(err)
			}
			if got := tokenIat(t, token); got == math.Floor(got) {
				t.Fatalf("iat %v has no fraction", got)
			}
			r := py.decode(t, token)
			if !r.sameSecond(iat) {
				if try < 3 {
					continue
				}
				t.Fatalf("the decode never fell within the second of issue (last: iat %.3f, decoded %.3f–%.3f)", iat, r.Before, r.After)
			}
			if r.OK || r.Error != "ImmatureSignatureError" {
				t.Fatalf("PyJWT %s within the second of issue: ok %v, %s %s; want ImmatureSignatureError", py.version, r.OK, r.Error, r.Message)
			}
			t.Logf("fractional iat %.6f, decoded at %.6f: PyJWT %s refused it: %s: %s", iat, r.Before, py.version, r.Error, r.Message)

			// The same claims with the iat truncated, as keylin now writes
			// it, pass in that same second.
			intToken, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"sub": sub, "aud": []string{authn.AccessAudience},
				"iat": int64(iat), "exp": int64(iat) + 3600,
			}).SignedString([]byte(testAccessSecret))
			if err != nil {
				t.Fatal(err)
			}
			if ri := py.decode(t, intToken); !ri.OK || !ri.IatInt || !ri.sameSecond(iat) {
				t.Fatalf("integer iat in the same second: %+v", ri)
			}

			// Once the second is over, the fractional token passes: the
			// refusal lasts for the first second after issue only.
			time.Sleep(time.Until(time.Unix(int64(iat)+1, 0)) + 20*time.Millisecond)
			if r := py.decode(t, token); !r.OK || r.Sub != sub {
				t.Fatalf("fractional iat after its second: %+v", r)
			}
			return
		}
	})
}
