package authn_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

// FuzzParseAccess feeds arbitrary strings to the three parsers: they must
// never panic, every error must wrap ErrInvalidToken, and an accepted access
// token must name a real user id and expire after now.
func FuzzParseAccess(f *testing.F) {
	v := loadVectors(f)
	tokens := newTokens(f, func(c *authn.TokenConfig) {
		c.AccessSecret = []byte(v.JWTSecret)
		c.VerifySecret = []byte(v.JWTSecret)
		c.ResetSecret = []byte(v.JWTSecret)
	})
	for _, vec := range v.Tokens {
		f.Add(vec.Token)
	}
	access, _, err := tokens.IssueAccess(testUser, testSession)
	if err != nil {
		f.Fatal(err)
	}
	verify, _ := tokens.IssueVerify(testUser, "a@example.com")
	reset, _ := tokens.IssueReset(testUser, "fgpt", "a@example.com")
	for _, s := range []string{
		access, verify, reset,
		"", ".", "..", "...", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30.",
		strings.Repeat(".", 100), "\x00\xff.\xfe.", "not a token",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := tokens.ParseAccess(token)
		if err != nil {
			if !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("error does not wrap ErrInvalidToken: %v", err)
			}
		} else {
			if claims.UserID == uuid.Nil || claims.UserID.String() == "" {
				t.Fatalf("accepted token with no user id: %+v", claims)
			}
			if !claims.ExpiresAt.After(testNow) {
				t.Fatalf("accepted token expired at %v (now %v)", claims.ExpiresAt, testNow)
			}
			if !claims.IssuedAt.IsZero() && claims.IssuedAt.After(testNow.Add(time.Minute)) {
				t.Fatalf("accepted token issued in the future: %v", claims.IssuedAt)
			}
		}
		if _, err := tokens.ParseVerify(token); err != nil && !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("ParseVerify error does not wrap ErrInvalidToken: %v", err)
		}
		if _, err := tokens.ParseReset(token); err != nil && !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("ParseReset error does not wrap ErrInvalidToken: %v", err)
		}
	})
}
