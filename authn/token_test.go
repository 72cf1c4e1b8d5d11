package authn_test

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

var (
	accessSecret = []byte("access-secret-for-tests")
	verifySecret = []byte("verify-secret-for-tests")
	resetSecret  = []byte("reset-secret-for-tests")
	// testNow has sub-millisecond digits so that truncation is visible.
	testNow     = time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)
	testUser    = uuid.MustParse("8c7f4d00-0d8b-49cd-ae55-da44cdde2311")
	testSession = uuid.MustParse("51d7c0de-2c4a-4f0e-8a9b-3d6e1f2a4b5c")
)

// newTokens returns Tokens with distinct test secrets and time pinned at
// testNow; edit changes the config first.
func newTokens(tb testing.TB, edit func(*authn.TokenConfig)) *authn.Tokens {
	tb.Helper()
	cfg := authn.TokenConfig{
		AccessSecret: accessSecret,
		VerifySecret: verifySecret,
		ResetSecret:  resetSecret,
		Now:          func() time.Time { return testNow },
	}
	if edit != nil {
		edit(&cfg)
	}
	tokens, err := authn.NewTokens(cfg)
	if err != nil {
		tb.Fatalf("NewTokens: %v", err)
	}
	return tokens
}

// sign makes a token with arbitrary claims, as another issuer would.
func sign(tb testing.TB, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	tb.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		tb.Fatalf("sign: %v", err)
	}
	return s
}

// signWithHeader makes an HS256 token with the access secret under a
// JOSE header written by hand.
func signWithHeader(tb testing.TB, header string, claims jwt.MapClaims) string {
	tb.Helper()
	body, err := json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	return signRaw(tb, header, string(body))
}

// signRaw makes an HS256 token with the access secret over a header and a
// payload written by hand, byte for byte.
func signRaw(tb testing.TB, header, payload string) string {
	tb.Helper()
	s := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	sig, err := jwt.SigningMethodHS256.Sign(s, accessSecret)
	if err != nil {
		tb.Fatal(err)
	}
	return s + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// decodePart base64url-decodes part i of a compact JWS.
func decodePart(tb testing.TB, token string, i int) []byte {
	tb.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		tb.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		tb.Fatalf("decode part %d: %v", i, err)
	}
	return b
}

// payload decodes a token's claims keeping numbers as written.
func payload(tb testing.TB, token string) map[string]json.RawMessage {
	tb.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(decodePart(tb, token, 1), &m); err != nil {
		tb.Fatalf("payload: %v", err)
	}
	return m
}

func keys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type interopVectors struct {
	JWTSecret string `json:"jwt_secret"`
	UserID    string `json:"user_id"`
	Tokens    []struct {
		Name   string `json:"name"`
		Token  string `json:"token"`
		Accept bool   `json:"accept"`
		Sub    string `json:"sub"`
	} `json:"tokens"`
}

func loadVectors(tb testing.TB) interopVectors {
	tb.Helper()
	b, err := os.ReadFile("testdata/fastapi-users-interop.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v interopVectors
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatal(err)
	}
	if len(v.Tokens) == 0 || v.JWTSecret == "" {
		tb.Fatal("no token vectors in testdata/fastapi-users-interop.json")
	}
	return v
}

// TestTokenInterop checks every PyJWT/fastapi-users token vector. The file
// has no fixed "now": accepted vectors expire in 2100 and the expired one in
// 2001, so time is pinned at testNow (2026).
func TestTokenInterop(t *testing.T) {
	v := loadVectors(t)
	tokens := newTokens(t, func(c *authn.TokenConfig) { c.AccessSecret = []byte(v.JWTSecret) })
	var accepted, rejected int
	for _, vec := range v.Tokens {
		t.Run(vec.Name, func(t *testing.T) {
			claims, err := tokens.ParseAccess(vec.Token)
			if !vec.Accept {
				rejected++
				if !errors.Is(err, authn.ErrInvalidToken) {
					t.Fatalf("ParseAccess: err = %v, claims = %+v; want ErrInvalidToken", err, claims)
				}
				return
			}
			accepted++
			if err != nil {
				t.Fatalf("ParseAccess: %v", err)
			}
			want := authn.AccessClaims{
				UserID:    uuid.MustParse(vec.Sub),
				ExpiresAt: time.Unix(4102444800, 0).UTC(),
			}
			if claims != want {
				t.Errorf("claims = %+v, want %+v", claims, want)
			}
			if !claims.IssuedAt.IsZero() || claims.SessionID != uuid.Nil {
				t.Errorf("fastapi-users token has no iat/sid, got IssuedAt %v sid %v", claims.IssuedAt, claims.SessionID)
			}
		})
	}
	if accepted == 0 || rejected == 0 {
		t.Errorf("vectors: %d accepted, %d rejected; want some of each", accepted, rejected)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	tokens := newTokens(t, nil)
	wantExp := testNow.Add(time.Hour).Unix()

	t.Run("Access", func(t *testing.T) {
		tok, issued, err := tokens.IssueAccess(testUser, testSession)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(decodePart(t, tok, 0)); got != `{"alg":"HS256","typ":"JWT"}` {
			t.Errorf("header = %s", got)
		}
		p := payload(t, tok)
		if got, want := keys(p), []string{"aud", "exp", "iat", "sid", "sub"}; !slices.Equal(got, want) {
			t.Fatalf("claims = %v, want exactly %v", got, want)
		}
		if got, want := string(p["sub"]), `"`+testUser.String()+`"`; got != want {
			t.Errorf("sub = %s, want %s", got, want)
		}
		if got, want := string(p["sid"]), `"`+testSession.String()+`"`; got != want {
			t.Errorf("sid = %s, want %s", got, want)
		}
		if got := string(p["aud"]); got != `["fastapi-users:auth"]` {
			t.Errorf("aud = %s, want an array as fastapi-users writes it", got)
		}
		if got, want := string(p["exp"]), "1772370000"; got != want || wantExp != 1772370000 {
			t.Errorf("exp = %s, want integer seconds %s", got, want)
		}
		if got := string(p["iat"]); got != "1772366400" {
			t.Errorf("iat = %s, want integer seconds 1772366400 (testNow truncated)", got)
		}

		wantClaims := authn.AccessClaims{
			UserID:    testUser,
			SessionID: testSession,
			IssuedAt:  testNow.Truncate(time.Second),
			ExpiresAt: time.Unix(wantExp, 0).UTC(),
		}
		if issued != wantClaims {
			t.Errorf("issued claims = %+v, want %+v", issued, wantClaims)
		}
		parsed, err := tokens.ParseAccess(tok)
		if err != nil {
			t.Fatalf("ParseAccess: %v", err)
		}
		if parsed != wantClaims {
			t.Errorf("parsed claims = %+v, want %+v", parsed, wantClaims)
		}
	})

	t.Run("AccessWithoutSession", func(t *testing.T) {
		tok, _, err := tokens.IssueAccess(testUser, uuid.Nil)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := keys(payload(t, tok)), []string{"aud", "exp", "iat", "sub"}; !slices.Equal(got, want) {
			t.Fatalf("claims = %v, want exactly %v (no sid)", got, want)
		}
	})

	t.Run("Verify", func(t *testing.T) {
		tok, err := tokens.IssueVerify(testUser, "a@example.com")
		if err != nil {
			t.Fatal(err)
		}
		p := payload(t, tok)
		if got, want := keys(p), []string{"aud", "email", "exp", "sub"}; !slices.Equal(got, want) {
			t.Fatalf("claims = %v, want exactly %v", got, want)
		}
		if got := string(p["aud"]); got != `"fastapi-users:verify"` {
			t.Errorf("aud = %s, want a string as fastapi-users writes it", got)
		}
		got, err := tokens.ParseVerify(tok)
		if err != nil {
			t.Fatalf("ParseVerify: %v", err)
		}
		want := authn.VerifyClaims{UserID: testUser, Email: "a@example.com", ExpiresAt: time.Unix(wantExp, 0).UTC()}
		if got != want {
			t.Errorf("claims = %+v, want %+v", got, want)
		}
	})

	t.Run("Reset", func(t *testing.T) {
		const fgpt = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
		tok, err := tokens.IssueReset(testUser, fgpt, "A@Example.com")
		if err != nil {
			t.Fatal(err)
		}
		p := payload(t, tok)
		if got, want := keys(p), []string{"aud", "email_fgpt", "exp", "password_fgpt", "sub"}; !slices.Equal(got, want) {
			t.Fatalf("claims = %v, want exactly %v", got, want)
		}
		if got := string(p["aud"]); got != `"fastapi-users:reset"` {
			t.Errorf("aud = %s, want a string as fastapi-users writes it", got)
		}
		got, err := tokens.ParseReset(tok)
		if err != nil {
			t.Fatalf("ParseReset: %v", err)
		}
		want := authn.ResetClaims{UserID: testUser, PasswordFingerprint: fgpt,
			EmailFingerprint: tokens.EmailFingerprint("a@example.com"), ExpiresAt: time.Unix(wantExp, 0).UTC()}
		if got != want {
			t.Errorf("claims = %+v, want %+v", got, want)
		}
		if strings.Contains(string(decodePart(t, tok, 1)), "xample") {
			t.Error("the reset token shows the email in clear")
		}
		if tokens.EmailFingerprint("a@example.com") == tokens.EmailFingerprint("b@example.com") {
			t.Error("two emails share a fingerprint")
		}
	})

	for _, alg := range []string{"HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			tokens := newTokens(t, func(c *authn.TokenConfig) { c.Algorithm = alg })
			tok, _, err := tokens.IssueAccess(testUser, testSession)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(decodePart(t, tok, 0)), `{"alg":"`+alg+`","typ":"JWT"}`; got != want {
				t.Errorf("header = %s, want %s", got, want)
			}
			if _, err := tokens.ParseAccess(tok); err != nil {
				t.Errorf("ParseAccess: %v", err)
			}
			if _, err := newTokens(t, nil).ParseAccess(tok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Errorf("HS256 Tokens accepted an %s token: %v", alg, err)
			}
		})
	}

	t.Run("Lifetimes", func(t *testing.T) {
		tokens := newTokens(t, func(c *authn.TokenConfig) {
			c.AccessLifetime = 15 * time.Minute
			c.VerifyLifetime = 2 * time.Hour
			c.ResetLifetime = 30 * time.Minute
		})
		_, ac, _ := tokens.IssueAccess(testUser, testSession)
		vt, _ := tokens.IssueVerify(testUser, "a@example.com")
		rt, _ := tokens.IssueReset(testUser, "fgpt", "a@example.com")
		vc, err1 := tokens.ParseVerify(vt)
		rc, err2 := tokens.ParseReset(rt)
		if err := errors.Join(err1, err2); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			got  time.Time
			want time.Duration
		}{{"access", ac.ExpiresAt, 15 * time.Minute}, {"verify", vc.ExpiresAt, 2 * time.Hour}, {"reset", rc.ExpiresAt, 30 * time.Minute}} {
			if want := time.Unix(testNow.Add(c.want).Unix(), 0); !c.got.Equal(want) {
				t.Errorf("%s exp = %v, want %v", c.name, c.got, want)
			}
		}
	})

	t.Run("SecretCopied", func(t *testing.T) {
		secret := []byte("mutable-secret")
		tokens := newTokens(t, func(c *authn.TokenConfig) { c.AccessSecret = secret })
		tok, _, _ := tokens.IssueAccess(testUser, testSession)
		copy(secret, "XXXXXXX")
		if _, err := tokens.ParseAccess(tok); err != nil {
			t.Errorf("changing the caller's secret slice changed Tokens: %v", err)
		}
	})
}

// TestParseAccessToken is the matrix of tokens ParseAccess must accept or
// refuse. Tokens other than keylin's are signed with golang-jwt directly.
func TestParseAccessToken(t *testing.T) {
	tokens := newTokens(t, nil)
	// shared uses one secret for all kinds, so only aud tells kinds apart.
	shared := newTokens(t, func(c *authn.TokenConfig) {
		c.AccessSecret, c.VerifySecret, c.ResetSecret = accessSecret, accessSecret, accessSecret
	})
	now := testNow.Unix()
	exp := now + 3600
	sub := testUser.String()
	hs256 := func(claims jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, accessSecret, claims) }
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": sub, "aud": []string{authn.AccessAudience}, "exp": exp}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		c[k] = v
		return c
	}
	without := func(k string) jwt.MapClaims {
		c := good()
		delete(c, k)
		return c
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	valid, _, err := tokens.IssueAccess(testUser, testSession)
	if err != nil {
		t.Fatal(err)
	}
	verifyTok, _ := shared.IssueVerify(testUser, "a@example.com")
	resetTok, _ := shared.IssueReset(testUser, "fgpt", "a@example.com")
	// Correctly signed tokens padded to just within and just over the limit.
	var atLimit, overLimit string
	for pad := authn.MaxTokenLength*3/4 - 300; overLimit == ""; pad++ {
		tok := hs256(with("pad", strings.Repeat("x", pad)))
		if len(tok) <= authn.MaxTokenLength {
			atLimit = tok
		} else {
			overLimit = tok
		}
	}
	if len(atLimit) < authn.MaxTokenLength-2 {
		t.Fatalf("padding helper: token of %d bytes, want about %d", len(atLimit), authn.MaxTokenLength)
	}
	tamper := func(tok string, part int) string {
		parts := strings.Split(tok, ".")
		b, _ := base64.RawURLEncoding.DecodeString(parts[part])
		b[len(b)/2] ^= 1
		parts[part] = base64.RawURLEncoding.EncodeToString(b)
		return strings.Join(parts, ".")
	}

	accept := []struct {
		name  string
		token string
	}{
		{"KeylinToken", valid},
		{"AudString", hs256(with("aud", authn.AccessAudience))},
		{"AudArrayContainingIt", hs256(with("aud", []string{"other", authn.AccessAudience}))},
		{"OnlySubAudExp", hs256(good())},
		{"IatPastIntegerSeconds", hs256(with("iat", now-60))},
		{"IatWithinLeeway", hs256(with("iat", float64(now)+2.5))},
		{"IatFractionalFromOlderKeylin", hs256(with("iat", float64(now)-0.877))},
		{"WithSid", hs256(with("sid", testSession.String()))},
		{"NbfInThePast", hs256(with("nbf", now-1))},
		{"ExtraClaims", hs256(with("scope", "x"))},
		{"AtMaxTokenLength", atLimit},
	}
	for _, c := range accept {
		t.Run("Accept/"+c.name, func(t *testing.T) {
			claims, err := tokens.ParseAccess(c.token)
			if err != nil {
				t.Fatalf("ParseAccess: %v", err)
			}
			if claims.UserID != testUser || !claims.ExpiresAt.After(testNow) {
				t.Errorf("claims = %+v", claims)
			}
		})
	}

	reject := []struct {
		name   string
		tokens *authn.Tokens
		token  string
	}{
		{"AlgNone", tokens, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())},
		{"HS512WhenHS256", tokens, sign(t, jwt.SigningMethodHS512, accessSecret, good())},
		{"HS256WhenHS512", newTokens(t, func(c *authn.TokenConfig) { c.Algorithm = "HS512" }), hs256(good())},
		{"RS256Header", tokens, sign(t, jwt.SigningMethodRS256, rsaKey, good())},
		{"WrongKey", tokens, sign(t, jwt.SigningMethodHS256, []byte("wrong"), good())},
		{"VerifySecret", tokens, sign(t, jwt.SigningMethodHS256, verifySecret, good())},
		{"TamperedPayload", tokens, tamper(valid, 1)},
		{"TamperedSignature", tokens, tamper(valid, 2)},
		{"SignatureStripped", tokens, valid[:strings.LastIndexByte(valid, '.')+1]},
		{"WrongAud", tokens, hs256(with("aud", "fastapi-users:other"))},
		{"WrongAudArray", tokens, hs256(with("aud", []string{"a", "b"}))},
		{"AudEmptyArray", tokens, hs256(with("aud", []string{}))},
		{"AudNotString", tokens, hs256(with("aud", 1))},
		{"MissingAud", tokens, hs256(without("aud"))},
		{"Expired", tokens, hs256(with("exp", now-1))},
		{"ExpiresNow", tokens, hs256(with("exp", now))},
		{"ExpOutOfRange", tokens, hs256(with("exp", 1e300))},
		{"MissingExp", tokens, hs256(without("exp"))},
		{"NbfInTheFuture", tokens, hs256(with("nbf", now+60))},
		{"IatInTheFuture", tokens, hs256(with("iat", now+60))},
		{"IatNotNumber", tokens, hs256(with("iat", "yesterday"))},
		{"IatNegative", tokens, hs256(with("iat", -1))},
		{"ResetTokenAsAccess", shared, resetTok},
		{"VerifyTokenAsAccess", shared, verifyTok},
		{"SubNotUUID", tokens, hs256(with("sub", "not-a-uuid"))},
		{"SubUUIDWithoutDashes", tokens, hs256(with("sub", strings.ReplaceAll(sub, "-", "")))},
		{"SubURN", tokens, hs256(with("sub", "urn:uuid:"+sub))},
		{"SubNilUUID", tokens, hs256(with("sub", uuid.Nil.String()))},
		{"SubNumber", tokens, hs256(with("sub", 42))},
		{"SubEmpty", tokens, hs256(with("sub", ""))},
		{"MissingSub", tokens, hs256(without("sub"))},
		{"MiBOfDots", tokens, strings.Repeat(".", 1<<20)},
		{"DotsWithinLength", tokens, strings.Repeat(".", authn.MaxTokenLength)},
		{"LongerThanMaxTokenLength", tokens, overLimit},
		{"FourParts", tokens, valid + ".e30"},
		{"TwoParts", tokens, valid[:strings.LastIndexByte(valid, '.')]},
		{"Garbage", tokens, "this is not a token"},
		{"GarbageThreeParts", tokens, "a.b.c"},
		{"PayloadNotJSON", tokens, "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"},
		{"Empty", tokens, ""},
		{"SidNotUUID", tokens, hs256(with("sid", "session-1"))},
		{"SidNumber", tokens, hs256(with("sid", 7))},
		{"SidNil", tokens, hs256(with("sid", uuid.Nil.String()))},
		{"CritHeader", tokens, signWithHeader(t, `{"alg":"HS256","typ":"JWT","crit":["exp"]}`, good())},
		{"CritUnknownExtension", tokens, signWithHeader(t, `{"alg":"HS256","crit":["http://example.com/ext"],"http://example.com/ext":true}`, good())},
		{"CritEmpty", tokens, signWithHeader(t, `{"alg":"HS256","crit":[]}`, good())},
	}
	for _, c := range reject {
		t.Run("Reject/"+c.name, func(t *testing.T) {
			claims, err := c.tokens.ParseAccess(c.token)
			if !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("ParseAccess: err = %v, claims = %+v; want ErrInvalidToken", err, claims)
			}
			if claims != (authn.AccessClaims{}) {
				t.Errorf("claims = %+v on error, want zero", claims)
			}
			if err.Error() == authn.ErrInvalidToken.Error() {
				t.Error("error carries no reason")
			}
		})
	}
}

// TestClaimNamesAreCaseSensitive: PyJWT reads only the exact claim name;
// so must keylin, whichever spelling comes last in the JSON (encoding/json
// alone would let "SUB" or "Sub" stand for "sub").
func TestClaimNamesAreCaseSensitive(t *testing.T) {
	tokens := newTokens(t, nil)
	other := uuid.MustParse("00000000-0000-4000-8000-0000000000bb")
	exp := testNow.Add(time.Hour).Unix()
	for name, body := range map[string]string{
		"ExactFirst":  fmt.Sprintf(`{"sub":%q,"SUB":%q,"aud":["fastapi-users:auth"],"exp":%d}`, testUser, other, exp),
		"ExactLast":   fmt.Sprintf(`{"SUB":%q,"Sub":%q,"aud":["fastapi-users:auth"],"exp":%d,"sub":%q}`, other, other, exp, testUser),
		"OtherCaseOf": fmt.Sprintf(`{"sub":%q,"aud":["fastapi-users:auth"],"exp":%d,"SID":%q,"Sid":"junk"}`, testUser, exp, other),
		// A name written with escapes is the same name, as json.loads reads it.
		"EscapedName": fmt.Sprintf(`{"s\u0075b":%q,"aud":["fastapi-users:auth"],"exp":%d}`, testUser, exp),
		// Members of nested values are not claims.
		"Nested": fmt.Sprintf(` { "x" : {"sub":%q,"a":[{"sub":1},"}"]} , "sub" : %q , "aud":"fastapi-users:auth","exp":%d } `, other, testUser, exp),
	} {
		t.Run(name, func(t *testing.T) {
			claims, err := tokens.ParseAccess(signRaw(t, `{"alg":"HS256","typ":"JWT"}`, body))
			if err != nil {
				t.Fatalf("ParseAccess: %v", err)
			}
			if claims.UserID != testUser || claims.SessionID != uuid.Nil {
				t.Fatalf("claims = %+v: read a claim under another case", claims)
			}
		})
	}
	t.Run("OnlyOtherCase", func(t *testing.T) {
		body := fmt.Sprintf(`{"SUB":%q,"AUD":["fastapi-users:auth"],"EXP":%d}`, testUser, exp)
		if _, err := tokens.ParseAccess(signRaw(t, `{"alg":"HS256","typ":"JWT"}`, body)); !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("a token with only upper-case claim names: err = %v, want ErrInvalidToken", err)
		}
	})
}

// TestNumericDatesAreIntegers: every NumericDate of every kind of token
// keylin issues is a JSON integer, as strict consumers (PyJWT 2.6's iat
// check, Java libraries) expect.
func TestNumericDatesAreIntegers(t *testing.T) {
	tokens := newTokens(t, nil)
	access, _, err := tokens.IssueAccess(testUser, testSession)
	if err != nil {
		t.Fatal(err)
	}
	verify, _ := tokens.IssueVerify(testUser, "a@example.com")
	reset, _ := tokens.IssueReset(testUser, "fgpt", "a@example.com")
	for name, tok := range map[string]string{"Access": access, "Verify": verify, "Reset": reset} {
		t.Run(name, func(t *testing.T) {
			p := payload(t, tok)
			seen := 0
			for _, claim := range []string{"exp", "iat", "nbf"} {
				raw, ok := p[claim]
				if !ok {
					continue
				}
				seen++
				if _, err := strconv.ParseInt(string(raw), 10, 64); err != nil {
					t.Errorf("%s = %s: not a JSON integer", claim, raw)
				}
			}
			if seen == 0 {
				t.Fatal("no NumericDate at all")
			}
		})
	}
}

func TestParseVerifyToken(t *testing.T) {
	tokens := newTokens(t, nil)
	shared := newTokens(t, func(c *authn.TokenConfig) {
		c.AccessSecret, c.VerifySecret, c.ResetSecret = accessSecret, accessSecret, accessSecret
	})
	exp := testNow.Unix() + 3600
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": testUser.String(), "email": "a@example.com", "aud": authn.VerifyAudience, "exp": exp}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hs256 := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, verifySecret, c) }
	access, _, _ := shared.IssueAccess(testUser, testSession)
	reset, _ := shared.IssueReset(testUser, "fgpt", "a@example.com")

	t.Run("Accept/FastAPIUsersShape", func(t *testing.T) {
		got, err := tokens.ParseVerify(hs256(claims(nil)))
		if err != nil || got.Email != "a@example.com" || got.UserID != testUser {
			t.Fatalf("ParseVerify = %+v, %v", got, err)
		}
	})
	t.Run("Accept/AudArray", func(t *testing.T) {
		if _, err := tokens.ParseVerify(hs256(claims(jwt.MapClaims{"aud": []string{authn.VerifyAudience}}))); err != nil {
			t.Fatal(err)
		}
	})
	reject := []struct {
		name   string
		tokens *authn.Tokens
		token  string
	}{
		{"MissingEmail", tokens, hs256(claims(jwt.MapClaims{"email": nil}))},
		{"EmptyEmail", tokens, hs256(claims(jwt.MapClaims{"email": ""}))},
		{"EmailNotString", tokens, hs256(claims(jwt.MapClaims{"email": 1}))},
		{"Expired", tokens, hs256(claims(jwt.MapClaims{"exp": testNow.Unix() - 1}))},
		{"MissingExp", tokens, hs256(claims(jwt.MapClaims{"exp": nil}))},
		{"MissingSub", tokens, hs256(claims(jwt.MapClaims{"sub": nil}))},
		{"WrongSecret", tokens, sign(t, jwt.SigningMethodHS256, resetSecret, claims(nil))},
		{"AccessTokenAsVerify", shared, access},
		{"ResetTokenAsVerify", shared, reset},
		{"AlgNone", tokens, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil))},
		{"Empty", tokens, ""},
	}
	for _, c := range reject {
		t.Run("Reject/"+c.name, func(t *testing.T) {
			got, err := c.tokens.ParseVerify(c.token)
			if !errors.Is(err, authn.ErrInvalidToken) || got != (authn.VerifyClaims{}) {
				t.Fatalf("ParseVerify = %+v, %v; want ErrInvalidToken", got, err)
			}
		})
	}
}

func TestParseResetToken(t *testing.T) {
	tokens := newTokens(t, nil)
	shared := newTokens(t, func(c *authn.TokenConfig) {
		c.AccessSecret, c.VerifySecret, c.ResetSecret = accessSecret, accessSecret, accessSecret
	})
	exp := testNow.Unix() + 3600
	claims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": testUser.String(), "password_fgpt": "fgpt", "aud": authn.ResetAudience, "exp": exp}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	hs256 := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, resetSecret, c) }
	access, _, _ := shared.IssueAccess(testUser, testSession)
	verify, _ := shared.IssueVerify(testUser, "a@example.com")

	t.Run("Accept/FastAPIUsersShape", func(t *testing.T) {
		got, err := tokens.ParseReset(hs256(claims(nil)))
		if err != nil || got.PasswordFingerprint != "fgpt" || got.UserID != testUser {
			t.Fatalf("ParseReset = %+v, %v", got, err)
		}
	})
	reject := []struct {
		name   string
		tokens *authn.Tokens
		token  string
	}{
		{"MissingPasswordFgpt", tokens, hs256(claims(jwt.MapClaims{"password_fgpt": nil}))},
		{"EmptyPasswordFgpt", tokens, hs256(claims(jwt.MapClaims{"password_fgpt": ""}))},
		{"Expired", tokens, hs256(claims(jwt.MapClaims{"exp": testNow.Unix() - 1}))},
		{"NbfInTheFuture", tokens, hs256(claims(jwt.MapClaims{"nbf": testNow.Unix() + 60}))},
		{"SubNotUUID", tokens, hs256(claims(jwt.MapClaims{"sub": "1"}))},
		{"WrongSecret", tokens, sign(t, jwt.SigningMethodHS256, verifySecret, claims(nil))},
		{"AccessTokenAsReset", shared, access},
		{"VerifyTokenAsReset", shared, verify},
		{"HS512WhenHS256", tokens, sign(t, jwt.SigningMethodHS512, resetSecret, claims(nil))},
		{"Garbage", tokens, "x.y.z"},
	}
	for _, c := range reject {
		t.Run("Reject/"+c.name, func(t *testing.T) {
			got, err := c.tokens.ParseReset(c.token)
			if !errors.Is(err, authn.ErrInvalidToken) || got != (authn.ResetClaims{}) {
				t.Fatalf("ParseReset = %+v, %v; want ErrInvalidToken", got, err)
			}
		})
	}
}

func TestNewTokens(t *testing.T) {
	cases := []struct {
		name string
		edit func(*authn.TokenConfig)
		ok   bool
	}{
		{"Defaults", func(*authn.TokenConfig) {}, true},
		{"HS384", func(c *authn.TokenConfig) { c.Algorithm = "HS384" }, true},
		{"HS512", func(c *authn.TokenConfig) { c.Algorithm = "HS512" }, true},
		{"NilNow", func(c *authn.TokenConfig) { c.Now = nil }, true},
		{"EmptyAccessSecret", func(c *authn.TokenConfig) { c.AccessSecret = []byte{} }, false},
		{"NilVerifySecret", func(c *authn.TokenConfig) { c.VerifySecret = nil }, false},
		{"NilResetSecret", func(c *authn.TokenConfig) { c.ResetSecret = nil }, false},
		{"AlgorithmNone", func(c *authn.TokenConfig) { c.Algorithm = "none" }, false},
		{"AlgorithmRS256", func(c *authn.TokenConfig) { c.Algorithm = "RS256" }, false},
		{"AlgorithmLowercase", func(c *authn.TokenConfig) { c.Algorithm = "hs256" }, false},
		{"NegativeAccessLifetime", func(c *authn.TokenConfig) { c.AccessLifetime = -time.Second }, false},
		{"NegativeVerifyLifetime", func(c *authn.TokenConfig) { c.VerifyLifetime = -time.Hour }, false},
		{"NegativeResetLifetime", func(c *authn.TokenConfig) { c.ResetLifetime = -1 }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := authn.TokenConfig{AccessSecret: accessSecret, VerifySecret: verifySecret, ResetSecret: resetSecret}
			c.edit(&cfg)
			tokens, err := authn.NewTokens(cfg)
			if c.ok != (err == nil) || c.ok != (tokens != nil) {
				t.Fatalf("NewTokens = %v, %v; want ok %v", tokens, err, c.ok)
			}
			if !c.ok {
				return
			}
			tok, claims, err := tokens.IssueAccess(testUser, testSession)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.ParseAccess(tok); err != nil {
				t.Errorf("ParseAccess of own token: %v", err)
			}
			if d := claims.ExpiresAt.Sub(claims.IssuedAt); c.name == "Defaults" && (d <= 59*time.Minute || d > time.Hour) {
				t.Errorf("default lifetime: exp - iat = %v, want about 1h", d)
			}
		})
	}
}

// TestTokensConcurrent lets the race detector see Tokens shared by goroutines.
func TestTokensConcurrent(t *testing.T) {
	tokens := newTokens(t, func(c *authn.TokenConfig) { c.Now = nil })
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				tok, _, err := tokens.IssueAccess(testUser, testSession)
				if err == nil {
					_, err = tokens.ParseAccess(tok)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestTokenErrorReason checks the reason is kept for logs, and no token text
// leaks into it.
func TestTokenErrorReason(t *testing.T) {
	tokens := newTokens(t, nil)
	tok := sign(t, jwt.SigningMethodHS256, accessSecret, jwt.MapClaims{"sub": testUser.String(), "aud": authn.AccessAudience, "exp": testNow.Unix() - 1})
	_, err := tokens.ParseAccess(tok)
	if !errors.Is(err, authn.ErrInvalidToken) || !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("err = %v; want ErrInvalidToken and jwt.ErrTokenExpired", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte(tok[:20])) {
		t.Errorf("error %q contains the token", err)
	}
}
