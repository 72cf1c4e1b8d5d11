package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Session is one login: every access token a login or a refresh issues
// carries its id (the sid claim), and checking such a token checks the
// session too. A session ends at logout, when the user or a superuser ends
// it, and when the user's credentials change (see
// [UserChanges.BumpCredentials]).
type Session struct {
	ID     uuid.UUID
	UserID uuid.UUID
	// CreatedAt is the login.
	CreatedAt time.Time
	// LastUsedAt is the last time the session issued tokens: the login or
	// the last refresh.
	LastUsedAt time.Time
	// ExpiresAt is when the session ends by itself: the access token's
	// expiry without refresh tokens, the refresh token's with them.
	ExpiresAt time.Time
	// UserAgent and IP describe the client that logged in (truncated to
	// MaxUserAgentLength and MaxIPLength).
	UserAgent string
	IP        string
	// CredentialVersion is the user's credential version at login.
	CredentialVersion int64
}

// Limits of the stored session fields.
const (
	// MaxUserAgentLength bounds Session.UserAgent, in bytes.
	MaxUserAgentLength = 512
	// MaxIPLength bounds Session.IP, in bytes.
	MaxIPLength = 64
)

// RefreshToken is the stored form of a refresh token: only its hash.
type RefreshToken struct {
	// Hash is the hex SHA-256 of the token (see [HashRefreshToken]).
	Hash      string
	SessionID uuid.UUID
	CreatedAt time.Time
	ExpiresAt time.Time
	// UsedAt is when the token was exchanged; nil while it is unused.
	UsedAt *time.Time
}

// Grant is what a login or a refresh hands to the client.
type Grant struct {
	// AccessToken is the signed JWT.
	AccessToken string
	// Claims are the access token's claims.
	Claims AccessClaims
	// RefreshToken is the new refresh token, "" when refresh tokens are
	// off. It is shown to the client once; the store keeps its hash.
	RefreshToken string
	// RefreshExpiresAt is when RefreshToken expires.
	RefreshExpiresAt time.Time
	// User is the user, as stored now.
	User *User
	// Session is the session the tokens belong to.
	Session *Session
}

// ExpiresIn is the access token's lifetime from now, in whole seconds
// rounded up (the OAuth 2.0 expires_in): right after issue, the lifetime
// it was issued with.
func (g *Grant) ExpiresIn(now time.Time) int64 {
	return max(0, int64((g.Claims.ExpiresAt.Sub(now)+time.Second-1)/time.Second))
}

// RefreshExpiresIn is the refresh token's lifetime from now, in whole
// seconds rounded up.
func (g *Grant) RefreshExpiresIn(now time.Time) int64 {
	return max(0, int64((g.RefreshExpiresAt.Sub(now)+time.Second-1)/time.Second))
}

// refreshTokenBytes is the entropy of a refresh token.
const refreshTokenBytes = 32

// RefreshTokenLength is the length of a refresh token: 256 random bits,
// base64url without padding.
const RefreshTokenLength = 43

// newRefreshToken returns a fresh opaque refresh token and its hash.
func newRefreshToken() (token, hash string) {
	var b [refreshTokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand, Go ≥ 1.24)
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, hashRefreshBytes(b[:])
}

// HashRefreshToken checks the form of a refresh token as a client sent it
// and returns the hash it is stored under. A token that is not 43
// base64url characters encoding 256 bits is ErrRefreshTokenInvalid; no
// database is asked about it.
func HashRefreshToken(token string) (string, error) {
	if len(token) != RefreshTokenLength {
		return "", fmt.Errorf("%w: length %d", ErrRefreshTokenInvalid, len(token))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != refreshTokenBytes {
		return "", fmt.Errorf("%w: not base64url", ErrRefreshTokenInvalid)
	}
	return hashRefreshBytes(b), nil
}

// hashRefreshBytes is the stored form of a refresh token. A plain SHA-256
// suffices: the token has 256 bits of entropy, so its hash cannot be
// reversed by guessing.
func hashRefreshBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
