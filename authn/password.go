package authn

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnsupportedHash is returned (wrapped) by [Hasher.Verify] for a stored
// hash it will not run: an unknown or garbled format, an argon2 variant other
// than argon2id, or parameters outside the sanity bounds (argon2 memory above
// 1 GiB, more than 10 passes, parallelism above 16, odd salt or key lengths;
// bcrypt cost above 15). Such a hash is refused without being computed, so a
// tampered row cannot make a login burn gigabytes or minutes.
var ErrUnsupportedHash = errors.New("authn: unsupported or unsafe password hash")

// Bounds on argon2id parameters. The lower bounds of a [Hasher]'s own
// parameters are OWASP's minimum (m=19456 KiB, t=2); the upper bounds apply
// both to a Hasher's parameters and to any hash [Hasher.Verify] accepts.
const (
	minMemory      = 19456   // KiB, OWASP minimum for argon2id with t=2
	minIterations  = 2       // OWASP minimum with m=19456
	maxMemory      = 1 << 20 // KiB (1 GiB)
	maxIterations  = 10
	maxParallelism = 16
	minSaltLen     = 16 // for new hashes
	minVerifySalt  = 8  // argon2's own minimum, for stored hashes
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 128
	maxBcryptCost  = 15
	// maxEncodedLen bounds any stored hash we parse; the hashed_password
	// column holds at most 1024 characters.
	maxEncodedLen = 1024
	// bcryptMaxPassword is the number of password bytes bcrypt uses.
	bcryptMaxPassword = 72
)

// HashParams are argon2id parameters. Memory in KiB.
type HashParams struct {
	Memory      uint32 // KiB
	Iterations  uint32 // passes over memory (argon2's t)
	Parallelism uint8  // lanes (argon2's p)
	SaltLen     uint32 // bytes
	KeyLen      uint32 // bytes of derived key
}

// DefaultHashParams returns pwdlib's (and argon2-cffi's current) defaults:
// m=65536 KiB, t=3, p=4, a 16-byte salt and a 32-byte key. Hashes made with
// them are not rehashed by a pwdlib service sharing the user table.
func DefaultHashParams() HashParams {
	return HashParams{Memory: 65536, Iterations: 3, Parallelism: 4, SaltLen: 16, KeyLen: 32}
}

// Validate refuses parameters below OWASP's minimum for argon2id
// (Memory >= 19456 KiB and Iterations >= 2), Parallelism 0, salts or keys
// shorter than 16 bytes, and values above the sanity bounds (Memory 1 GiB,
// Iterations 10, Parallelism 16, SaltLen 64, KeyLen 128). Every refused
// parameter is a *HashParamError, joined.
func (p HashParams) Validate() error {
	var errs []error
	check := func(param string, v, lo, hi uint64, unit string) {
		switch {
		case v < lo:
			errs = append(errs, &HashParamError{Param: param, Value: v, Unit: unit, Reason: fmt.Sprintf("is below the minimum of %d%s", lo, unit)})
		case v > hi:
			errs = append(errs, &HashParamError{Param: param, Value: v, Unit: unit, Reason: fmt.Sprintf("is above the maximum of %d%s", hi, unit)})
		}
	}
	check("Memory", uint64(p.Memory), minMemory, maxMemory, " KiB")
	check("Iterations", uint64(p.Iterations), minIterations, maxIterations, "")
	check("Parallelism", uint64(p.Parallelism), 1, maxParallelism, "")
	check("SaltLen", uint64(p.SaltLen), minSaltLen, maxSaltLen, " bytes")
	check("KeyLen", uint64(p.KeyLen), minKeyLen, maxKeyLen, " bytes")
	return errors.Join(errs...)
}

// HashParamError is a hash parameter [HashParams.Validate] refuses.
type HashParamError struct {
	Param  string // "Memory", "Iterations", "Parallelism", "SaltLen" or "KeyLen"
	Value  uint64
	Unit   string // " KiB", " bytes" or ""
	Reason string // e.g. "is below the minimum of 19456 KiB"
}

// Error names the parameter, its value and the bound.
func (e *HashParamError) Error() string {
	return fmt.Sprintf("authn: hash params: %s %d%s %s", e.Param, e.Value, e.Unit, e.Reason)
}

// hasherConfig collects the options of [NewHasher].
type hasherConfig struct {
	params        HashParams
	maxConcurrent int
	maxWait       time.Duration
}

// HasherOption configures [NewHasher]. Options check their own values: a bad
// one makes NewHasher fail.
type HasherOption interface {
	apply(*hasherConfig) error
}

type hasherOptionFunc func(*hasherConfig) error

func (f hasherOptionFunc) apply(c *hasherConfig) error { return f(c) }

// WithHashParams sets the argon2id parameters of new hashes (default
// [DefaultHashParams]). They must pass [HashParams.Validate]. Other values
// than pwdlib's make a pwdlib service sharing the users rehash every login.
func WithHashParams(p HashParams) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if err := p.Validate(); err != nil {
			return err
		}
		c.params = p
		return nil
	})
}

// WithMaxConcurrentHashes sets how many hashes or verifications may run at
// once (default runtime.NumCPU()). Peak memory of hashing is about n times
// the Memory parameter. n must be at least 1.
func WithMaxConcurrentHashes(n int) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if n < 1 {
			return fmt.Errorf("authn: max concurrent hashes %d is below the minimum of 1", n)
		}
		c.maxConcurrent = n
		return nil
	})
}

// WithMaxHashWait sets how long a caller may wait for a hashing slot before
// getting [ErrOverloaded] (default 5s). d must be positive.
func WithMaxHashWait(d time.Duration) HasherOption {
	return hasherOptionFunc(func(c *hasherConfig) error {
		if d <= 0 {
			return fmt.Errorf("authn: max hash wait %v must be positive", d)
		}
		c.maxWait = d
		return nil
	})
}

// Hasher hashes and verifies passwords. New hashes are argon2id PHC strings
// exactly as argon2-cffi/pwdlib write them; argon2id hashes with any sane
// parameters and bcrypt hashes are verified. At most a fixed number of
// hashes run at once, so a flood of logins costs bounded memory; callers
// beyond that wait for a slot, up to a maximum wait. A caller whose
// expected wait — the callers queued ahead of it, at the measured time of
// one hash — is longer than the maximum is refused at once with an
// *OverloadedError, rather than after waiting in vain.
//
// A Hasher is safe for concurrent use.
type Hasher struct {
	params  HashParams
	slots   chan struct{}
	maxWait time.Duration
	// dummy is a hash with the current params used by VerifyDummy; its key
	// is random, which costs the same to check as a real one.
	dummy argon2Hash
	// waiting counts the callers queued for a slot.
	waiting atomic.Int64
	// avgNanos is a moving average of how long a slot is held (one hash),
	// 0 until the first one is measured.
	avgNanos atomic.Int64
	// waits, waitNanos and refused count the callers that waited for a
	// slot, their total wait, and the callers refused.
	waits, waitNanos, refused atomic.Int64
}

// OverloadedError is a hash refused because the slots are busy and the
// wait would be longer than the Hasher allows. It wraps [ErrOverloaded].
type OverloadedError struct {
	// RetryAfter is the expected wait for a slot when it was refused.
	RetryAfter time.Duration
	// Queued is how many callers were waiting for a slot.
	Queued int64
}

// Error says how long the wait would have been.
func (e *OverloadedError) Error() string {
	return fmt.Sprintf("%v: %d waiting for a hashing slot, expected wait %v", ErrOverloaded, e.Queued, e.RetryAfter.Round(time.Millisecond))
}

// Unwrap makes errors.Is(err, ErrOverloaded) true.
func (e *OverloadedError) Unwrap() error { return ErrOverloaded }

// HasherStats are a Hasher's live figures, for metrics.
type HasherStats struct {
	Slots   int           // how many hashes may run at once
	InUse   int           // how many run now
	Waiting int64         // callers queued for a slot
	AvgHash time.Duration // moving average of one hash; 0 until measured
	// Waits, WaitTotal and Refused count, since the Hasher was made, the
	// callers that waited for a slot, their total wait, and the callers
	// refused with an *OverloadedError.
	Waits     int64
	WaitTotal time.Duration
	Refused   int64
}

// Stats returns the Hasher's live figures.
func (h *Hasher) Stats() HasherStats {
	return HasherStats{
		Slots: cap(h.slots), InUse: len(h.slots), Waiting: h.waiting.Load(), AvgHash: time.Duration(h.avgNanos.Load()),
		Waits: h.waits.Load(), WaitTotal: time.Duration(h.waitNanos.Load()), Refused: h.refused.Load(),
	}
}

// NewHasher returns a Hasher with pwdlib's default parameters, one slot per
// CPU and a 5-second wait, changed by opts. It returns the first option's
// error.
func NewHasher(opts ...HasherOption) (*Hasher, error) {
	c := hasherConfig{
		params:        DefaultHashParams(),
		maxConcurrent: runtime.NumCPU(),
		maxWait:       5 * time.Second,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("authn: nil HasherOption")
		}
		if err := o.apply(&c); err != nil {
			return nil, err
		}
	}
	if err := c.params.Validate(); err != nil {
		return nil, err
	}
	return newHasher(c), nil
}

// newHasher builds a Hasher from a config without validating it (tests use
// it for cheap parameters).
func newHasher(c hasherConfig) *Hasher {
	h := &Hasher{
		params:  c.params,
		slots:   make(chan struct{}, c.maxConcurrent),
		maxWait: c.maxWait,
	}
	h.dummy = argon2Hash{
		params: c.params,
		salt:   randomBytes(c.params.SaltLen),
		key:    randomBytes(c.params.KeyLen),
	}
	return h
}

// Params returns the argon2id parameters of new hashes.
func (h *Hasher) Params() HashParams { return h.params }

// Hash returns a new argon2id PHC string of password,
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<key> with the base64 fields in the
// standard alphabet without padding, as argon2-cffi/pwdlib write it.
// It waits for a hashing slot: if ctx ends first the error wraps ctx.Err();
// if the Hasher's maximum wait passes first it wraps [ErrOverloaded].
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release(time.Now())
	ah := argon2Hash{params: h.params, salt: randomBytes(h.params.SaltLen)}
	ah.key = ah.derive(password)
	return ah.encode(), nil
}

// Verify checks password against an encoded hash: argon2id in PHC form
// (version 19, any sane parameters and salt/key lengths) or bcrypt ($2a$,
// $2b$, $2y$). A wrong password is ok=false with a nil error. needsRehash is
// true when ok and the hash is not argon2id with h's current parameters
// (bcrypt, other parameters, other salt or key lengths).
//
// The hash's parameters are checked before anything runs; an unknown or
// garbled hash, or one outside the sanity bounds, is an error wrapping
// [ErrUnsupportedHash]. A password longer than 72 bytes never matches a
// bcrypt hash (bcrypt would silently ignore the rest). Verify takes a
// hashing slot like [Hasher.Hash] and returns the same ctx and
// [ErrOverloaded] errors.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (ok, needsRehash bool, err error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	if ph.bcrypt && len(password) > bcryptMaxPassword {
		// Refused without comparing, but after the same work, so the answer's
		// timing says nothing.
		return false, false, h.VerifyDummy(ctx, password)
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release(time.Now())
	if ph.bcrypt {
		err := bcrypt.CompareHashAndPassword([]byte(encoded), []byte(password))
		switch {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, fmt.Errorf("%w: bcrypt: %v", ErrUnsupportedHash, err)
		}
	}
	key := ph.argon2.derive(password)
	if subtle.ConstantTimeCompare(key, ph.argon2.key) != 1 {
		return false, false, nil
	}
	return true, ph.argon2.params != h.params, nil
}

// VerifyDummy spends the work of verifying a wrong password against a hash
// with h's current parameters, and throws the result away. Call it for a
// login with an unknown email so that timing does not reveal which accounts
// exist. It returns only the ctx and [ErrOverloaded] errors of
// [Hasher.Hash].
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	if err := h.acquire(ctx); err != nil {
		return err
	}
	defer h.release(time.Now())
	key := h.dummy.derive(password)
	_ = subtle.ConstantTimeCompare(key, h.dummy.key)
	return nil
}

// Calibrate measures one hash with the Hasher's parameters (in a hashing
// slot, like any hash) unless a hash has already been measured. Until the
// first hash completes the Hasher cannot tell how long a queue will take,
// and admits every caller up to the maximum wait: a burst that meets a
// fresh process waits in vain. Call it once at start-up, in the
// background; keylin's Service.Start does. It returns ctx's error or
// ErrOverloaded when it could not get a slot, nil otherwise.
func (h *Hasher) Calibrate(ctx context.Context) error {
	if h.avgNanos.Load() != 0 {
		return nil
	}
	if err := h.acquire(ctx); err != nil {
		return err
	}
	if h.avgNanos.Load() != 0 { // measured while this call waited
		<-h.slots
		return nil
	}
	defer h.release(time.Now())
	_ = h.dummy.derive("keylin calibration")
	return nil
}

// Admit reports at once, without taking a slot, whether a hash asked for
// now would be refused: nil, or the *OverloadedError that [Hasher.Hash]
// would return. Call it before the work that leads to a hash (a database
// lookup, a rate-limit write) so that a request refused under a flood
// costs next to nothing. A nil answer is no reservation: the hash itself
// may still be refused.
func (h *Hasher) Admit() error {
	if len(h.slots) < cap(h.slots) {
		return nil
	}
	ahead := h.waiting.Load() + 1
	if wait := h.expectedWait(ahead); wait > h.maxWait {
		h.refused.Add(1)
		return &OverloadedError{RetryAfter: wait, Queued: ahead}
	}
	return nil
}

// acquire takes a hashing slot, waiting at most h.maxWait; a caller that
// would wait longer is refused at once.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("authn: waiting for a hashing slot: %w", err)
	}
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	ahead := h.waiting.Add(1)
	defer h.waiting.Add(-1)
	if wait := h.expectedWait(ahead); wait > h.maxWait {
		h.refused.Add(1)
		return &OverloadedError{RetryAfter: wait, Queued: ahead}
	}
	start := time.Now()
	defer func() {
		h.waits.Add(1)
		h.waitNanos.Add(int64(time.Since(start)))
	}()
	t := time.NewTimer(h.maxWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("authn: waiting for a hashing slot: %w", ctx.Err())
	case <-t.C:
		h.refused.Add(1)
		return &OverloadedError{RetryAfter: max(h.expectedWait(h.waiting.Load()), time.Second), Queued: h.waiting.Load()}
	}
}

// expectedWait is how long the n-th caller in the queue waits for a slot:
// the slots serve one caller each per hash.
func (h *Hasher) expectedWait(n int64) time.Duration {
	slots := int64(cap(h.slots))
	rounds := (n + slots - 1) / slots
	return time.Duration(rounds * h.avgNanos.Load())
}

// release gives back a slot taken by acquire at start, and adds how long
// it was held to the moving average (weight 1/8).
func (h *Hasher) release(start time.Time) {
	d := int64(time.Since(start))
	for {
		old := h.avgNanos.Load()
		avg := d
		if old != 0 {
			avg = old + (d-old)/8
		}
		if h.avgNanos.CompareAndSwap(old, avg) {
			break
		}
	}
	<-h.slots
}

// randomBytes returns n bytes from crypto/rand (which never fails).
func randomBytes(n uint32) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// argon2Hash is a parsed argon2id (version 19) PHC hash.
type argon2Hash struct {
	params HashParams
	salt   []byte
	key    []byte
}

// derive computes the argon2id key of password with the hash's salt and
// parameters.
func (a *argon2Hash) derive(password string) []byte {
	p := a.params
	return argon2.IDKey([]byte(password), a.salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}

// encode writes the PHC string as argon2-cffi does.
func (a *argon2Hash) encode() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, a.params.Memory, a.params.Iterations, a.params.Parallelism,
		base64.RawStdEncoding.EncodeToString(a.salt), base64.RawStdEncoding.EncodeToString(a.key))
}

// parsedHash is a stored hash that passed the format and sanity checks.
type parsedHash struct {
	bcrypt     bool
	bcryptCost int
	argon2     argon2Hash
}

// parseHash identifies and checks a stored hash without computing anything.
// Every error wraps ErrUnsupportedHash. It never panics.
func parseHash(encoded string) (parsedHash, error) {
	if len(encoded) > maxEncodedLen {
		return parsedHash{}, fmt.Errorf("%w: longer than %d characters", ErrUnsupportedHash, maxEncodedLen)
	}
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		a, err := parseArgon2id(encoded)
		if err != nil {
			return parsedHash{}, fmt.Errorf("%w: argon2id: %s", ErrUnsupportedHash, err)
		}
		return parsedHash{argon2: a}, nil
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := parseBcrypt(encoded)
		if err != nil {
			return parsedHash{}, fmt.Errorf("%w: bcrypt: %s", ErrUnsupportedHash, err)
		}
		return parsedHash{bcrypt: true, bcryptCost: cost}, nil
	case strings.HasPrefix(encoded, "$argon2i$"), strings.HasPrefix(encoded, "$argon2d$"):
		return parsedHash{}, fmt.Errorf("%w: only argon2id is accepted", ErrUnsupportedHash)
	default:
		return parsedHash{}, fmt.Errorf("%w: unknown format", ErrUnsupportedHash)
	}
}

// parseArgon2id parses $argon2id$v=19$m=M,t=T,p=P$SALT$KEY strictly and
// checks the sanity bounds.
func parseArgon2id(s string) (argon2Hash, error) {
	var a argon2Hash
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" {
		return a, errors.New("not $argon2id$v=19$m=M,t=T,p=P$salt$hash")
	}
	if f[2] != "v=19" {
		return a, errors.New("version is not v=19")
	}
	ps := strings.Split(f[3], ",")
	if len(ps) != 3 {
		return a, errors.New("parameters are not m=M,t=T,p=P")
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(ps[i], name)
		if !ok {
			return a, errors.New("parameters are not m=M,t=T,p=P")
		}
		n, err := parseDecimal(v)
		if err != nil {
			return a, fmt.Errorf("parameter %s%s", name, err)
		}
		vals[i] = n
	}
	m, t, p := vals[0], vals[1], vals[2]
	switch {
	case t < 1 || t > maxIterations:
		return a, fmt.Errorf("t=%d outside 1..%d", t, maxIterations)
	case p < 1 || p > maxParallelism:
		return a, fmt.Errorf("p=%d outside 1..%d", p, maxParallelism)
	case m < 8*p || m > maxMemory:
		return a, fmt.Errorf("m=%d outside %d..%d", m, 8*p, maxMemory)
	}
	salt, err := decodeB64(f[4])
	if err != nil {
		return a, fmt.Errorf("salt: %s", err)
	}
	key, err := decodeB64(f[5])
	if err != nil {
		return a, fmt.Errorf("hash: %s", err)
	}
	if len(salt) < minVerifySalt || len(salt) > maxSaltLen {
		return a, fmt.Errorf("salt length %d outside %d..%d", len(salt), minVerifySalt, maxSaltLen)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return a, fmt.Errorf("hash length %d outside %d..%d", len(key), minKeyLen, maxKeyLen)
	}
	a.params = HashParams{
		Memory:      uint32(m),
		Iterations:  uint32(t),
		Parallelism: uint8(p),
		SaltLen:     uint32(len(salt)),
		KeyLen:      uint32(len(key)),
	}
	a.salt, a.key = salt, key
	return a, nil
}

// parseDecimal reads a PHC decimal: digits only, no sign, no leading zero,
// at most 10 digits.
func parseDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("is not a decimal number")
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("is not a decimal number")
		}
	}
	return strconv.ParseUint(s, 10, 64)
}

// decodeB64 decodes standard-alphabet base64, with or without padding,
// refusing any other character (Go's decoder would skip newlines) and
// non-canonical trailing bits.
func decodeB64(s string) ([]byte, error) {
	body := strings.TrimRight(s, "=")
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return nil, errors.New("not base64")
		}
	}
	enc := base64.RawStdEncoding
	if len(body) != len(s) {
		enc = base64.StdEncoding
	}
	b, err := enc.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not base64")
	}
	return b, nil
}

// parseBcrypt checks a $2a$/$2b$/$2y$ hash's shape and returns its cost,
// refusing costs outside 4..15.
func parseBcrypt(s string) (int, error) {
	// $2b$12$ + 22 salt characters + 31 hash characters.
	if len(s) != 60 || s[6] != '$' {
		return 0, errors.New("not $2b$NN$ followed by 53 characters")
	}
	if s[4] < '0' || s[4] > '9' || s[5] < '0' || s[5] > '9' {
		return 0, errors.New("cost is not two digits")
	}
	cost := int(s[4]-'0')*10 + int(s[5]-'0')
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return 0, fmt.Errorf("cost %d outside %d..%d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	for i := 7; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return 0, errors.New("not bcrypt base64")
		}
	}
	return cost, nil
}
