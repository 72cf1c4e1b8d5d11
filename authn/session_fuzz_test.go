package authn_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/authn"
)

// base64url is the alphabet of refresh tokens (RFC 4648 §5), spelled out
// so that the oracle below does not lean on encoding/base64.
const base64url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// wellFormedRefresh is the specification of a refresh token, written
// independently of HashRefreshToken: 43 base64url characters, no padding,
// and — 43·6 = 258 bits carrying 256 — the last character's two low bits
// zero, so that each 32-byte value has exactly one spelling.
func wellFormedRefresh(s string) bool {
	if len(s) != authn.RefreshTokenLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(base64url, s[i]) < 0 {
			return false
		}
	}
	return strings.IndexByte(base64url, s[len(s)-1])&3 == 0
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !('0' <= s[i] && s[i] <= '9' || 'a' <= s[i] && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// FuzzHashRefreshToken checks the parser of client-sent refresh tokens: it
// never panics; it accepts exactly the well-formed tokens (every refusal
// wraps ErrRefreshTokenInvalid); the hash of an accepted token is 64
// lower-case hex characters, the same on every call, and differs for a
// token one character away. The seeds include tokens issued by a real
// login, which must round-trip: accepted here, and exchanged by
// Manager.Refresh, which finds them by this hash.
func FuzzHashRefreshToken(f *testing.F) {
	e := newEnv(f, dialect.SQLite, authn.WithRefreshTokens(time.Hour))
	e.register(f, "fuzz@example.com")
	ctx := context.Background()
	for range 3 {
		g, err := e.m.Login(ctx, "fuzz@example.com", testPassword)
		if err != nil {
			f.Fatal(err)
		}
		if !wellFormedRefresh(g.RefreshToken) {
			f.Fatalf("issued refresh token %q is not well formed", g.RefreshToken)
		}
		if _, err := authn.HashRefreshToken(g.RefreshToken); err != nil {
			f.Fatalf("issued refresh token refused: %v", err)
		}
		f.Add(g.RefreshToken)
		next, err := e.m.Refresh(ctx, g.RefreshToken)
		if err != nil {
			f.Fatalf("issued refresh token does not round-trip through Refresh: %v", err)
		}
		f.Add(next.RefreshToken)
	}
	zero := base64.RawURLEncoding.EncodeToString(make([]byte, 32))
	for _, s := range []string{
		"", zero, zero[:42], zero + "A", zero[:42] + "B", zero[:42] + "E", zero[:42] + "=",
		base64.URLEncoding.EncodeToString(make([]byte, 32)),                          // padded: 44 characters
		base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("\xfb\xff", 16))), // + and /
		strings.Repeat("_", 42) + "w", strings.Repeat("-", 43), strings.Repeat("é", 21) + "A",
		strings.Repeat("A", 41) + "\nA", strings.Repeat("A", 42) + "\x00",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, token string) {
		hash, err := authn.HashRefreshToken(token)
		want := wellFormedRefresh(token)
		if err != nil {
			if want {
				t.Fatalf("well-formed %q refused: %v", token, err)
			}
			if !errors.Is(err, authn.ErrRefreshTokenInvalid) {
				t.Fatalf("error does not wrap ErrRefreshTokenInvalid: %v", err)
			}
			if hash != "" {
				t.Fatalf("refused token has a hash %q", hash)
			}
			return
		}
		if !want {
			t.Fatalf("malformed %q accepted", token)
		}
		if len(hash) != 64 || !isLowerHex(hash) {
			t.Fatalf("hash %q is not 64 lower-case hex characters", hash)
		}
		if again, err := authn.HashRefreshToken(token); err != nil || again != hash {
			t.Fatalf("hash not stable: %q then %q, %v", hash, again, err)
		}
		// The same 256 bits spelled with another first character: another
		// token, so another hash.
		i := strings.IndexByte(base64url, token[0])
		other := string(base64url[(i+1)%64]) + token[1:]
		if h2, err := authn.HashRefreshToken(other); err != nil || h2 == hash {
			t.Fatalf("tokens %q and %q: hashes %q and %q, %v", token, other, hash, h2, err)
		}
	})
}
