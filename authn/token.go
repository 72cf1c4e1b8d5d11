package authn

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
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
//
// Every NumericDate keylin writes (exp, iat) is a JSON integer, as strict
// consumers expect: PyJWT 2.6, for one, compares iat with a clock truncated
// to whole seconds and would refuse a fractional iat for up to a second.
// Parsing is as strict as PyJWT's: claim names match exactly (encoding/json
// alone would match "SUB" for "sub"), and a token with a crit header is
// refused, since keylin implements no JWS extension.
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

// AccessLifetime is how long the access tokens t issues are valid.
func (t *Tokens) AccessLifetime() time.Duration { return t.access.lifetime }

// AccessClaims are the claims of a parsed or issued access token.
type AccessClaims struct {
	// UserID is the sub claim.
	UserID uuid.UUID
	// SessionID is the sid claim: the session the token belongs to.
	// uuid.Nil for tokens without one (made by fastapi-users).
	SessionID uuid.UUID
	// IssuedAt is the iat claim; zero when the token has none
	// (fastapi-users tokens).
	IssuedAt time.Time
	// ExpiresAt is the exp claim.
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
	// EmailFingerprint is the email_fgpt claim keylin adds (see
	// [Tokens.EmailFingerprint]); "" for tokens made by fastapi-users.
	EmailFingerprint string
	// ExpiresAt is the exp claim.
	ExpiresAt time.Time
}

// IssueAccess returns a signed access token for userID in session
// sessionID, with the claims sub, aud (an array, as fastapi-users writes
// it), exp, iat (integer seconds) and sid, and the claims it holds.
func (t *Tokens) IssueAccess(userID, sessionID uuid.UUID) (token string, claims AccessClaims, err error) {
	now := t.now()
	claims = AccessClaims{
		UserID:    userID,
		SessionID: sessionID,
		IssuedAt:  time.Unix(now.Unix(), 0).UTC(),
		ExpiresAt: time.Unix(now.Add(t.access.lifetime).Unix(), 0).UTC(),
	}
	p := accessPayload{
		Subject:   userID.String(),
		Audience:  []string{AccessAudience},
		ExpiresAt: claims.ExpiresAt.Unix(),
		IssuedAt:  claims.IssuedAt.Unix(),
	}
	if sessionID != uuid.Nil {
		p.SessionID = sessionID.String()
	}
	token, err = t.sign(p, t.access.secret)
	if err != nil {
		return "", AccessClaims{}, err
	}
	return token, claims, nil
}

// ParseAccess checks an access token and returns its claims. The token
// must be signed with the configured algorithm and access secret, have aud
// [AccessAudience] (a string or an array holding it), an exp in the future,
// no nbf in the future, a sub that is a UUID, no iat more than a few
// seconds in the future, a sid that is a UUID when present, and no crit
// header; iat and sid are optional. Every failure wraps [ErrInvalidToken],
// joined with the reason (for logs only).
func (t *Tokens) ParseAccess(token string) (AccessClaims, error) {
	c, err := t.parse(token, &t.access)
	if err != nil {
		return AccessClaims{}, err
	}
	ac := AccessClaims{UserID: c.userID, IssuedAt: c.issuedAt(), ExpiresAt: c.ExpiresAt.UTC()}
	if c.SessionID != nil {
		sid, err := uuid.Parse(*c.SessionID)
		if err != nil || len(*c.SessionID) != 36 || sid == uuid.Nil {
			return AccessClaims{}, invalidToken(errors.New("sid claim is not a UUID"))
		}
		ac.SessionID = sid
	}
	return ac, nil
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
// fastapi-users makes it — sub, password_fgpt, aud (a string), exp — plus
// email_fgpt, the [Tokens.EmailFingerprint] of the user's email, which
// binds the token to the address it was mailed to.
func (t *Tokens) IssueReset(userID uuid.UUID, passwordFingerprint, email string) (string, error) {
	return t.sign(resetPayload{
		Subject:             userID.String(),
		PasswordFingerprint: passwordFingerprint,
		EmailFingerprint:    t.EmailFingerprint(email),
		Audience:            ResetAudience,
		ExpiresAt:           t.now().Add(t.reset.lifetime).Unix(),
	}, t.reset.secret)
}

// EmailFingerprint is the email_fgpt claim of reset tokens: 128 bits of an
// HMAC-SHA256, keyed with the reset secret, of the email in lower case. It
// binds a reset token to the address without revealing it to whoever reads
// the token, and is cheap to check.
func (t *Tokens) EmailFingerprint(email string) string {
	mac := hmac.New(sha256.New, t.reset.secret)
	mac.Write([]byte("keylin reset email\x00"))
	mac.Write([]byte(strings.ToLower(email)))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
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
	rc := ResetClaims{UserID: c.userID, PasswordFingerprint: *c.PasswordFingerprint, ExpiresAt: c.ExpiresAt.UTC()}
	if c.EmailFingerprint != nil {
		rc.EmailFingerprint = *c.EmailFingerprint
	}
	return rc, nil
}

// The payloads keylin signs; field order is the claim order in the JSON.
// Every NumericDate is an integer.
type (
	accessPayload struct {
		Subject   string   `json:"sub"`
		Audience  []string `json:"aud"`
		ExpiresAt int64    `json:"exp"`
		IssuedAt  int64    `json:"iat"`
		SessionID string   `json:"sid,omitempty"`
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
		EmailFingerprint    string `json:"email_fgpt"`
		Audience            string `json:"aud"`
		ExpiresAt           int64  `json:"exp"`
	}
)

// parsedClaims receives the payload of any of the three kinds.
type parsedClaims struct {
	Subject             string
	Audience            jwt.ClaimStrings
	ExpiresAt           *jwt.NumericDate
	NotBefore           *jwt.NumericDate
	IssuedAt            *jwt.NumericDate
	SessionID           *string
	Email               *string
	PasswordFingerprint *string
	EmailFingerprint    *string

	userID uuid.UUID
}

// UnmarshalJSON reads the claims by their exact names. encoding/json would
// also take "SUB" or "Exp" for a field, and the last of several spellings
// would win; PyJWT reads only the exact name, and so does keylin (of
// duplicates of one name, the last, as Python's json module keeps).
func (c *parsedClaims) UnmarshalJSON(b []byte) error {
	if !json.Valid(b) {
		return errors.New("claims are not valid JSON")
	}
	return eachMember(b, func(name, raw []byte) error {
		var err error
		switch string(name) {
		case "sub":
			err = decodeString(raw, &c.Subject)
		case "aud":
			err = c.Audience.UnmarshalJSON(raw)
		case "exp":
			c.ExpiresAt, err = decodeDate(raw)
		case "nbf":
			c.NotBefore, err = decodeDate(raw)
		case "iat":
			c.IssuedAt, err = decodeDate(raw)
		case "sid":
			c.SessionID, err = decodeOptString(raw)
		case "email":
			c.Email, err = decodeOptString(raw)
		case "password_fgpt":
			c.PasswordFingerprint, err = decodeOptString(raw)
		case "email_fgpt":
			c.EmailFingerprint, err = decodeOptString(raw)
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim %s: %w", name, err)
		}
		return nil
	})
}

// decodeString reads a JSON string; a plain one without a copy of the
// decoder's machinery.
func decodeString(raw []byte, dst *string) error {
	if len(raw) < 2 || raw[0] != '"' {
		if string(raw) == "null" {
			*dst = ""
			return nil
		}
		return errors.New("not a string")
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c == '\\' || c < 0x20 {
			return json.Unmarshal(raw, dst)
		}
	}
	*dst = string(inner)
	return nil
}

// decodeOptString reads a JSON string or null.
func decodeOptString(raw []byte) (*string, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := decodeString(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// decodeDate reads a NumericDate: a JSON number of seconds (a fraction is
// kept to jwt.TimePrecision), or null.
func decodeDate(raw []byte) (*jwt.NumericDate, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	if len(raw) == 0 || raw[0] == '"' || raw[0] == '{' || raw[0] == '[' || raw[0] == 't' || raw[0] == 'f' {
		return nil, errors.New("not a number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New("not a number")
	}
	if f > maxNumericDate || f < -maxNumericDate {
		return nil, errors.New("out of range")
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

var _ jwt.Claims = (*parsedClaims)(nil)

func (c *parsedClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt, nil }
func (c *parsedClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore, nil }
func (c *parsedClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt, nil }
func (c *parsedClaims) GetIssuer() (string, error)                   { return "", nil }
func (c *parsedClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *parsedClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

func (c *parsedClaims) issuedAt() time.Time {
	if c.IssuedAt == nil {
		return time.Time{}
	}
	return c.IssuedAt.UTC()
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
	tok, err := k.parser.ParseWithClaims(token, c, k.keyFunc)
	if err != nil {
		return nil, invalidToken(err)
	}
	if _, ok := tok.Header["crit"]; ok {
		// RFC 7515 §4.1.11: a recipient must refuse extensions it does
		// not understand, and keylin understands none.
		return nil, invalidToken(errors.New("crit header names an unsupported extension"))
	}
	if c.ExpiresAt.Unix() > maxNumericDate || (c.IssuedAt != nil && (c.IssuedAt.Unix() > maxNumericDate || c.IssuedAt.Unix() < 0)) {
		return nil, invalidToken(errors.New("exp or iat claim out of range"))
	}
	if c.IssuedAt != nil && c.IssuedAt.After(t.now().Add(iatLeeway)) {
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
