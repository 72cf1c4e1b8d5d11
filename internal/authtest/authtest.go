// Package authtest holds the fixtures tests of several packages share:
// test secrets, a cheap hasher, the token issuer built from them, and a
// log sink safe for concurrent use.
package authtest

import (
	"bytes"
	"sync"
	"testing"

	"github.com/keylin/keylin/authn"
)

// Secrets and a password that passes keylin's policy.
const (
	AccessSecret = "access-secret-0123456789abcdef0123456789"
	VerifySecret = "verify-secret-0123456789abcdef0123456789"
	ResetSecret  = "reset-secret-0123456789abcdef01234567890"
	Password     = "correct horse battery"
)

// CheapParams are OWASP's minimum argon2id parameters: tests stay fast;
// the defaults are exercised by the hasher's own tests and benchmarks.
var CheapParams = authn.HashParams{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// Tokens returns a token issuer on the test secrets.
func Tokens(tb testing.TB) *authn.Tokens {
	tb.Helper()
	t, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte(AccessSecret),
		VerifySecret: []byte(VerifySecret),
		ResetSecret:  []byte(ResetSecret),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// Hasher returns a hasher with CheapParams and the given options.
func Hasher(tb testing.TB, opts ...authn.HasherOption) *authn.Hasher {
	tb.Helper()
	h, err := authn.NewHasher(append([]authn.HasherOption{authn.WithHashParams(CheapParams)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// LogBuffer is a log sink safe for the concurrent writers of a server
// under test.
type LogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
