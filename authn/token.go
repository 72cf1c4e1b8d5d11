package authn

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Audiences of the three fastapi-users token kinds. A token is accepted only
// by the parser of its own kind.
const (
	// AccessAudience is the aud of access tokens (fastapi-users JWTStrategy).
	AccessAudience = "fastapi-users:auth"
	// VerifyAudience is the aud of email verification tokens.
	VerifyAudience = "fastapi-users:verify"
	// ResetAudience is the aud of reset password tokens.
	ResetAudience = "fastapi-users:reset"
)

// MaxTokenLength is the longest token, in bytes, that the Parse methods look
// at; a longer one is refused before any decoding.
const MaxTokenLength = 8192

// DefaultTokenLifetime is the lifetime of each token kind when
// [TokenConfig] leaves it zero (fastapi-users' 3600 s).
const DefaultTokenLifetime = time.Hour

// iatLeeway is how far in the future an iat may lie before a token is
// refused: clock skew between keylin instances sharing a secret. exp and nbf
// get no leeway, like PyJWT as fastapi-users calls it.
const iatLeeway = 5 * time.Second

// maxNumericDate bounds the exp and iat accepted (9999-12-31T23:59:59Z), so
// that a float converts to a time without overflow.
const maxNumericDate = 253402300799

// TokenConfig configures [NewTokens]. Secrets are copied.
type TokenConfig struct {
	// AccessSecret signs access tokens (fastapi-users JWT_SECRET).
	AccessSecret []byte
	// VerifySecret signs verify tokens (VERIFICATION_SECRET).
	VerifySecret []byte
	// ResetSecret signs reset tokens (RESET_PASSWORD_SECRET).
	ResetSecret []byte

	// AccessLifetime, VerifyLifetime and ResetLifetime are how long each
	// kind of token is valid; zero means [DefaultTokenLifetime].
	AccessLifetime, VerifyLifetime, ResetLifetime time.Duration

	// Algorithm signs every token and is the only one accepted: "HS256"
	// (the default when empty), "HS384" or "HS512".
	Algorithm string

	// Now returns the current time; nil means time.Now. For tests.
	Now func() time.Time
}

// Tokens issues and parses the access, verify and reset JWTs of the
// fastapi-users contract. It is safe for concurrent use.
type Tokens struct {
	method jwt.SigningMethod
	header string // base64url of the JOSE header, same for every token
	now    func() time.Time
	access tokenKind
	verify tokenKind
	reset  tokenKind
}

// tokenKind is what differs between access, verify and reset tokens.
type tokenKind struct {
	secret   []byte
	lifetime time.Duration
	parser   *jwt.Parser
	keyFunc  jwt.Keyfunc
}

// NewTokens checks cfg and returns a [Tokens]. It fails when a secret is
// empty, a lifetime is negative, or the algorithm is not HS256, HS384 or
// HS512.
func NewTokens(cfg TokenConfig) (*Tokens, error) {
	alg := cfg.Algorithm
	if alg == "" {
		alg = "HS256"
	}
	var method jwt.SigningMethod
	switch alg {
	case "HS256":
		method = jwt.SigningMethodHS256
	case "HS384":
		method = jwt.SigningMethodHS384
	case "HS512":
		method = jwt.SigningMethodHS512
	default:
		return nil, fmt.Errorf("authn: token algorithm %q not allowed (HS256, HS384, HS512)", alg)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	t := &Tokens{
		method: method,
		header: base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"` + alg + `","typ":"JWT"}`)),
		now:    now,
	}
	kinds := []struct {
		name     string
		dst      *tokenKind
		aud      string
		secret   []byte
		lifetime time.Duration
	}{
		{"access", &t.access, AccessAudience, cfg.AccessSecret, cfg.AccessLifetime},
		{"verify", &t.verify, VerifyAudience, cfg.VerifySecret, cfg.VerifyLifetime},
		{"reset", &t.reset, ResetAudience, cfg.ResetSecret, cfg.ResetLifetime},
	}
	for _, k := range kinds {
		if len(k.secret) == 0 {
			return nil, fmt.Errorf("authn: %s token secret is empty", k.name)
		}
		if k.lifetime == 0 {
			k.lifetime = DefaultTokenLifetime
		}
		if k.lifetime < 0 {
			return nil, fmt.Errorf("authn: %s token lifetime %v is negative", k.name, k.lifetime)
		}
		secret := bytes.Clone(k.secret)
		*k.dst = tokenKind{
			secret:   secret,
			lifetime: k.lifetime,
			parser: jwt.NewParser(
				jwt.WithValidMethods([]string{alg}),
				jwt.WithAudience(k.aud),
				jwt.WithExpirationRequired(),
				jwt.WithTimeFunc(now),
			),
			keyFunc: func(*jwt.Token) (any, error) { return secret, nil },
		}
	}
	return t, nil
}

// AccessClaims are the claims of a parsed or issued access token.
type AccessClaims struct {
	// UserID is the sub claim.
	UserID uuid.UUID
	// ID is the jti claim; "" for tokens made by fastapi-users.
	ID string
	// IssuedAt is the iat claim, with millisecond precision; zero when the
	// token has no iat (fastapi-users tokens).
	IssuedAt time.Time
	// ExpiresAt is the exp claim (whole seconds).
	ExpiresAt time.Time
}

// VerifyClaims are the claims of a parsed verify token.
type VerifyClaims struct {
	// UserID is the sub claim.
	UserID uuid.UUID
	// Email is the email the token was issued for; the caller checks that
	// it is still the user's.
	Email string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// ResetClaims are the claims of a parsed reset token.
type ResetClaims struct {
	// UserID is the sub claim.
	UserID uuid.UUID
	// PasswordFingerprint is the password_fgpt claim: a hash of the
	// user's hashed password at issue time; the caller checks it still
	// matches, which makes reset tokens single use.
	PasswordFingerprint string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// IssueAccess returns a signed access token for userID with the claims sub,
// aud (an array, as fastapi-users writes it), exp, iat (seconds with a
// millisecond fraction) and jti (128 random bits, base64url), and the claims
// it holds.
func (t *Tokens) IssueAccess(userID uuid.UUID) (token string, claims AccessClaims, err error) {
	now := t.now()
	var id [16]byte
	_, _ = rand.Read(id[:]) // never fails (crypto/rand, Go ≥ 1.24)
	claims = AccessClaims{
		UserID:    userID,
		ID:        base64.RawURLEncoding.EncodeToString(id[:]),
		IssuedAt:  time.UnixMilli(now.UnixMilli()).UTC(),
		ExpiresAt: time.Unix(now.Add(t.access.lifetime).Unix(), 0).UTC(),
	}
	token, err = t.sign(accessPayload{
		Subject:   userID.String(),
		Audience:  []string{AccessAudience},
		ExpiresAt: claims.ExpiresAt.Unix(),
		IssuedAt:  millisDate(claims.IssuedAt),
		ID:        claims.ID,
	}, t.access.secret)
	if err != nil {
		return "", AccessClaims{}, err
	}
	return token, claims, nil
}

// ParseAccess checks an access token and returns its claims. The token
// must be signed with the configured algorithm and access secret, have aud
// [AccessAudience] (a string or an array holding it), an exp in the future,
// no nbf in the future, a sub that is a UUID, and no iat more than a few
// seconds in the future; iat and jti are optional. Every failure wraps
// [ErrInvalidToken], joined with the reason (for logs only).
func (t *Tokens) ParseAccess(token string) (AccessClaims, error) {
	c, err := t.parse(token, &t.access)
	if err != nil {
		return AccessClaims{}, err
	}
	return AccessClaims{UserID: c.userID, ID: c.ID, IssuedAt: c.issuedAt(), ExpiresAt: c.ExpiresAt.UTC()}, nil
}

// IssueVerify returns a signed verify token for the user and email, shaped
// as fastapi-users makes it: sub, email, aud (a string), exp.
func (t *Tokens) IssueVerify(userID uuid.UUID, email string) (string, error) {
	return t.sign(verifyPayload{
		Subject:   userID.String(),
		Email:     email,
		Audience:  VerifyAudience,
		ExpiresAt: t.now().Add(t.verify.lifetime).Unix(),
	}, t.verify.secret)
}

// ParseVerify checks a verify token as [Tokens.ParseAccess] checks an
// access token, with aud [VerifyAudience] and the verify secret, and
// requires a non-empty email claim. Every failure wraps [ErrInvalidToken].
func (t *Tokens) ParseVerify(token string) (VerifyClaims, error) {
	c, err := t.parse(token, &t.verify)
	if err != nil {
		return VerifyClaims{}, err
	}
	if c.Email == nil || *c.Email == "" {
		return VerifyClaims{}, invalidToken(errors.New("email claim missing"))
	}
	return VerifyClaims{UserID: c.userID, Email: *c.Email, ExpiresAt: c.ExpiresAt.UTC()}, nil
}

// IssueReset returns a signed reset token for the user, shaped as
// fastapi-users makes it: sub, password_fgpt, aud (a string), exp.
func (t *Tokens) IssueReset(userID uuid.UUID, passwordFingerprint string) (string, error) {
	return t.sign(resetPayload{
		Subject:             userID.String(),
		PasswordFingerprint: passwordFingerprint,
		Audience:            ResetAudience,
		ExpiresAt:           t.now().Add(t.reset.lifetime).Unix(),
	}, t.reset.secret)
}

// ParseReset checks a reset token as [Tokens.ParseAccess] checks an access
// token, with aud [ResetAudience] and the reset secret, and requires a
// non-empty password_fgpt claim. Every failure wraps [ErrInvalidToken].
func (t *Tokens) ParseReset(token string) (ResetClaims, error) {
	c, err := t.parse(token, &t.reset)
	if err != nil {
		return ResetClaims{}, err
	}
	if c.PasswordFingerprint == nil || *c.PasswordFingerprint == "" {
		return ResetClaims{}, invalidToken(errors.New("password_fgpt claim missing"))
	}
	return ResetClaims{UserID: c.userID, PasswordFingerprint: *c.PasswordFingerprint, ExpiresAt: c.ExpiresAt.UTC()}, nil
}

// The payloads keylin signs; field order is the claim order in the JSON.
type (
	accessPayload struct {
		Subject   string     `json:"sub"`
		Audience  []string   `json:"aud"`
		ExpiresAt int64      `json:"exp"`
		IssuedAt  millisDate `json:"iat"`
		ID        string     `json:"jti"`
	}
	verifyPayload struct {
		Subject   string `json:"sub"`
		Email     string `json:"email"`
		Audience  string `json:"aud"`
		ExpiresAt int64  `json:"exp"`
	}
	resetPayload struct {
		Subject             string `json:"sub"`
		PasswordFingerprint string `json:"password_fgpt"`
		Audience            string `json:"aud"`
		ExpiresAt           int64  `json:"exp"`
	}
)

// millisDate is a NumericDate written in seconds with a millisecond
// fraction (1732675200.123), so that tokens issued within one second of a
// revocation can be told apart. jwt.TimePrecision is global state, so it
// is left alone.
type millisDate time.Time

// MarshalJSON writes the time as seconds with three decimals.
func (d millisDate) MarshalJSON() ([]byte, error) {
	ms := time.Time(d).UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', 3, 64), nil
}

// UnmarshalJSON reads a JSON number of seconds, keeping milliseconds.
func (d *millisDate) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return errors.New("iat is not a valid NumericDate")
	}
	*d = millisDate(time.UnixMilli(int64(math.Round(f * 1000))).UTC())
	return nil
}

// parsedClaims receives the payload of any of the three kinds.
type parsedClaims struct {
	Subject             string           `json:"sub"`
	Audience            jwt.ClaimStrings `json:"aud"`
	ExpiresAt           *jwt.NumericDate `json:"exp"`
	NotBefore           *jwt.NumericDate `json:"nbf"`
	IssuedAt            *millisDate      `json:"iat"`
	ID                  string           `json:"jti"`
	Email               *string          `json:"email"`
	PasswordFingerprint *string          `json:"password_fgpt"`

	userID uuid.UUID
}

var _ jwt.Claims = (*parsedClaims)(nil)

func (c *parsedClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *parsedClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *parsedClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *parsedClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *parsedClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }
func (c *parsedClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	if c.IssuedAt == nil {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Time(*c.IssuedAt)), nil
}

func (c *parsedClaims) issuedAt() time.Time {
	if c.IssuedAt == nil {
		return time.Time{}
	}
	return time.Time(*c.IssuedAt)
}

// parse runs every check shared by the three kinds.
func (t *Tokens) parse(token string, k *tokenKind) (*parsedClaims, error) {
	if len(token) > MaxTokenLength {
		return nil, invalidToken(fmt.Errorf("token longer than %d bytes", MaxTokenLength))
	}
	if strings.Count(token, ".") != 2 {
		return nil, invalidToken(jwt.ErrTokenMalformed)
	}
	c := new(parsedClaims)
	if _, err := k.parser.ParseWithClaims(token, c, k.keyFunc); err != nil {
		return nil, invalidToken(err)
	}
	if c.ExpiresAt.Unix() > maxNumericDate {
		return nil, invalidToken(errors.New("exp claim out of range"))
	}
	if c.IssuedAt != nil && time.Time(*c.IssuedAt).After(t.now().Add(iatLeeway)) {
		return nil, invalidToken(jwt.ErrTokenUsedBeforeIssued)
	}
	if c.Subject == "" {
		return nil, invalidToken(errors.New("sub claim missing"))
	}
	id, err := uuid.Parse(c.Subject)
	if err != nil || len(c.Subject) != 36 || id == uuid.Nil {
		return nil, invalidToken(errors.New("sub claim is not a UUID"))
	}
	c.userID = id
	return c, nil
}

// sign returns the compact JWS of payload.
func (t *Tokens) sign(payload any, secret []byte) (string, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return "", fmt.Errorf("authn: encode token claims: %w", err)
	}
	signing := t.header + "." + base64.RawURLEncoding.EncodeToString(body)
	sig, err := t.method.Sign(signing, secret)
	if err != nil {
		return "", fmt.Errorf("authn: sign token: %w", err)
	}
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func invalidToken(reason error) error {
	return fmt.Errorf("%w: %w", ErrInvalidToken, reason)
}
