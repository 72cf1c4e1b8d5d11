// Package authtest holds the fixtures tests of several packages share:
// test secrets, a cheap hasher, the token issuer built from them, hooks
// that catch the verify and reset tokens, and a log sink safe for
// concurrent use.
package authtest

import (
	"bytes"
	"context"
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

// TokenHooks are hooks that keep the last verify and reset tokens the
// flows hand out, as a mail hook would send them.
type TokenHooks struct {
	authn.NopHooks
	mu            sync.Mutex
	verify, reset string
}

// AfterRequestVerify keeps the verify token.
func (h *TokenHooks) AfterRequestVerify(_ context.Context, _ *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verify = tok
	return nil
}

// AfterForgotPassword keeps the reset token.
func (h *TokenHooks) AfterForgotPassword(_ context.Context, _ *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reset = tok
	return nil
}

// Last returns the last verify and reset tokens.
func (h *TokenHooks) Last() (verify, reset string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.verify, h.reset
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
