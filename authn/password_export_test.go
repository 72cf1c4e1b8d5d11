package authn

import (
	"sync"
	"time"
)

// Test hooks for the password hasher, visible only to this package's tests.

// NewHasherUnchecked returns a Hasher with params that skip Validate, so
// property tests can use cheap argon2 parameters (e.g. m=64, t=1).
func NewHasherUnchecked(p HashParams, slots int, wait time.Duration) *Hasher {
	return newHasher(hasherConfig{params: p, maxConcurrent: slots, maxWait: wait})
}

// HoldSlot takes one of h's hashing slots, as a long-running hash would,
// blocking until one is free. The returned func gives it back (once).
func HoldSlot(h *Hasher) (release func()) {
	h.slots <- struct{}{}
	var once sync.Once
	return func() { once.Do(func() { <-h.slots }) }
}

// ParsedHash is what ParseHash found in a stored hash.
type ParsedHash struct {
	Bcrypt     bool
	BcryptCost int
	Params     HashParams // argon2id only
	Salt, Key  []byte     // argon2id only
}

// ParseHash runs the stored-hash parser (format and sanity checks only,
// nothing is computed).
func ParseHash(encoded string) (ParsedHash, error) {
	ph, err := parseHash(encoded)
	if err != nil {
		return ParsedHash{}, err
	}
	return ParsedHash{
		Bcrypt:     ph.bcrypt,
		BcryptCost: ph.bcryptCost,
		Params:     ph.argon2.params,
		Salt:       ph.argon2.salt,
		Key:        ph.argon2.key,
	}, nil
}

// EncodeArgon2id writes an argon2id PHC string as Hash does.
func EncodeArgon2id(p HashParams, salt, key []byte) string {
	a := argon2Hash{params: p, salt: salt, key: key}
	return a.encode()
}

// Sanity bounds, for tests that probe them.
const (
	MaxHashMemory      = maxMemory
	MaxHashIterations  = maxIterations
	MaxHashParallelism = maxParallelism
	MaxBcryptCost      = maxBcryptCost
)

// HoldFingerprintSlots takes every slot of m's reset-fingerprint hasher and
// makes it wait at most wait for one; the returned func gives them back.
func HoldFingerprintSlots(m *Manager, wait time.Duration) (release func()) {
	h := m.fingerprints
	h.maxWait = wait
	n := cap(h.slots)
	for range n {
		h.slots <- struct{}{}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			for range n {
				<-h.slots
			}
		})
	}
}

// SetAvgHash sets h's measured time of one hash, as if measured.
func SetAvgHash(h *Hasher, d time.Duration) { h.avgNanos.Store(int64(d)) }
