package authn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/quick"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keylin/keylin/authn"
)

// hashVectorFile is the part of testdata/fastapi-users-interop.json this
// file tests (the JWT vectors are tested in token_test.go).
type hashVectorFile struct {
	MadeWith map[string]string `json:"made_with"`
	Hashes   []struct {
		Scheme   string `json:"scheme"`
		Params   string `json:"params"`
		Password string `json:"password"`
		Hash     string `json:"hash"`
		Valid    bool   `json:"valid"`
	} `json:"hashes"`
}

func loadHashVectors(tb testing.TB) hashVectorFile {
	tb.Helper()
	raw, err := os.ReadFile("testdata/fastapi-users-interop.json")
	if err != nil {
		tb.Fatal(err)
	}
	var v hashVectorFile
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&v); err != nil {
		tb.Fatal(err)
	}
	if len(v.Hashes) == 0 {
		tb.Fatal("no hash vectors in testdata/fastapi-users-interop.json")
	}
	return v
}

// pwCheapParams make argon2 fast enough for property tests. They are below
// OWASP's minimum, so only NewHasherUnchecked accepts them.
var pwCheapParams = authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// pwOWASPParams are the cheapest parameters NewHasher accepts.
var pwOWASPParams = authn.HashParams{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

func pwMustHasher(tb testing.TB, opts ...authn.HasherOption) *authn.Hasher {
	tb.Helper()
	h, err := authn.NewHasher(opts...)
	if err != nil {
		tb.Fatalf("NewHasher: %v", err)
	}
	return h
}

func pwMustHash(tb testing.TB, h *authn.Hasher, password string) string {
	tb.Helper()
	enc, err := h.Hash(context.Background(), password)
	if err != nil {
		tb.Fatalf("Hash: %v", err)
	}
	return enc
}

// pwCheckVerify verifies and compares with the expected outcome.
func pwCheckVerify(tb testing.TB, h *authn.Hasher, password, encoded string, wantOK, wantRehash bool) {
	tb.Helper()
	ok, rehash, err := h.Verify(context.Background(), password, encoded)
	if err != nil {
		tb.Fatalf("Verify(%q): %v", encoded, err)
	}
	if ok != wantOK || rehash != wantRehash {
		tb.Fatalf("Verify(%q) = ok %v, needsRehash %v; want %v, %v", encoded, ok, rehash, wantOK, wantRehash)
	}
}

// TestVerifyInterop checks every hash made by argon2-cffi and bcrypt (the
// libraries behind pwdlib and fastapi-users) against keylin's Verify.
func TestVerifyInterop(t *testing.T) {
	v := loadHashVectors(t)
	h := pwMustHasher(t)
	for i, vec := range v.Hashes {
		name := fmt.Sprintf("%02d/%s/%s/valid=%v", i, vec.Scheme, vec.Params, vec.Valid)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			switch vec.Scheme {
			case "argon2id":
				if !strings.HasPrefix(vec.Hash, "$argon2id$") {
					t.Fatalf("scheme %s but hash %q", vec.Scheme, vec.Hash)
				}
			case "bcrypt":
				if !strings.HasPrefix(vec.Hash, "$2") {
					t.Fatalf("scheme %s but hash %q", vec.Scheme, vec.Hash)
				}
			default:
				t.Fatalf("unknown scheme %q in vectors", vec.Scheme)
			}
			// pwdlib's defaults are keylin's: no rehash. bcrypt and any other
			// argon2 parameters are rehashed after a successful login.
			pwdlibDefault := strings.HasPrefix(vec.Params, "pwdlib-default")
			if ph, err := authn.ParseHash(vec.Hash); err != nil {
				t.Fatalf("ParseHash: %v", err)
			} else if got := !ph.Bcrypt && ph.Params == authn.DefaultHashParams(); got != pwdlibDefault {
				t.Fatalf("vector labelled %q but parses as bcrypt=%v %+v", vec.Params, ph.Bcrypt, ph.Params)
			}
			wantRehash := vec.Valid && !pwdlibDefault
			pwCheckVerify(t, h, vec.Password, vec.Hash, vec.Valid, wantRehash)
			if vec.Valid && vec.Scheme == "argon2id" {
				// Any change to the password must fail. (bcrypt's wrong
				// passwords are a vector of their own, and cost 12 is slow.)
				pwCheckVerify(t, h, vec.Password+"x", vec.Hash, false, false)
			}
		})
	}
}

// TestHashFormat checks that Hash writes what argon2-cffi/pwdlib write.
func TestHashFormat(t *testing.T) {
	h := pwMustHasher(t)
	if got, want := h.Params(), authn.DefaultHashParams(); got != want {
		t.Fatalf("Params() = %+v, want %+v", got, want)
	}
	want := authn.HashParams{Memory: 65536, Iterations: 3, Parallelism: 4, SaltLen: 16, KeyLen: 32}
	if got := authn.DefaultHashParams(); got != want {
		t.Fatalf("DefaultHashParams() = %+v, want pwdlib's %+v", got, want)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	password := "correct horse battery staple"
	enc := pwMustHash(t, h, password)
	if !phc.MatchString(enc) {
		t.Fatalf("Hash = %q, does not match %s", enc, phc)
	}
	enc2 := pwMustHash(t, h, password)
	if enc == enc2 {
		t.Fatalf("two hashes of one password are equal (salt not random): %q", enc)
	}
	pwCheckVerify(t, h, password, enc, true, false)
	pwCheckVerify(t, h, password+" ", enc, false, false)
}

// TestVerifyRoundTrip hashes and verifies passwords of the shapes keylin
// meets, including the password_fgpt of reset tokens (a hash of a hash).
func TestVerifyRoundTrip(t *testing.T) {
	h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams))
	tests := []struct {
		name     string
		password string
	}{
		{"Empty", ""},
		{"ASCII", "hunter2hunter2"},
		{"Multibyte", "bä\u00f6@ä1🔑YpFnI-&HF6"},
		{"NULByte", "abc\x00def"},
		{"Long1024", strings.Repeat("é", 512)},
		{"FingerprintOfBcrypt", "$2b$12$CUHkcHmnlifrP0joLnKY8OjiwKPaBhnLUtDF1R9JIkGgoKcwgtFDS"},
		{"FingerprintOfArgon2id", "$argon2id$v=19$m=65536,t=3,p=4$l0TIibBAahL4rczL/bjZRg$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := pwMustHash(t, h, tt.password)
			pwCheckVerify(t, h, tt.password, enc, true, false)
			pwCheckVerify(t, h, tt.password+"\x00", enc, false, false)
			if tt.password != "" {
				pwCheckVerify(t, h, tt.password[:len(tt.password)-1], enc, false, false)
			}
		})
	}
}

// TestVerifyNeedsRehash checks that a hash with any parameter other than the
// Hasher's is verified and flagged for rehash.
func TestVerifyNeedsRehash(t *testing.T) {
	cur := authn.NewHasherUnchecked(pwCheapParams, 1, time.Second)
	tests := []struct {
		name   string
		params authn.HashParams
		rehash bool
	}{
		{"Same", pwCheapParams, false},
		{"OtherMemory", authn.HashParams{Memory: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"OtherIterations", authn.HashParams{Memory: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}, true},
		{"OtherParallelism", authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 2, SaltLen: 16, KeyLen: 32}, true},
		{"OtherSaltLen", authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 8, KeyLen: 32}, true},
		{"OtherKeyLen", authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 16}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := authn.NewHasherUnchecked(tt.params, 1, time.Second)
			enc := pwMustHash(t, old, "some password")
			pwCheckVerify(t, cur, "some password", enc, true, tt.rehash)
			pwCheckVerify(t, cur, "some passwore", enc, false, false)
		})
	}
	t.Run("Bcrypt", func(t *testing.T) {
		enc, err := bcrypt.GenerateFromPassword([]byte("some password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pwCheckVerify(t, cur, "some password", string(enc), true, true)
		pwCheckVerify(t, cur, "some passwore", string(enc), false, false)
	})
}

// pwQuickConfig runs a property n times from a fixed seed.
func pwQuickConfig(n int) *quick.Config {
	return &quick.Config{MaxCount: n, Rand: rand.New(rand.NewSource(20240607))}
}

func TestHashPropertyRoundTrip(t *testing.T) {
	h := authn.NewHasherUnchecked(pwCheapParams, 2, time.Minute)
	ctx := context.Background()
	prop := func(pw []byte) bool {
		enc, err := h.Hash(ctx, string(pw))
		if err != nil {
			t.Logf("Hash: %v", err)
			return false
		}
		ok, rehash, err := h.Verify(ctx, string(pw), enc)
		return err == nil && ok && !rehash
	}
	if err := quick.Check(prop, pwQuickConfig(200)); err != nil {
		t.Fatal(err)
	}
	propString := func(pw string) bool { return prop([]byte(pw)) }
	if err := quick.Check(propString, pwQuickConfig(200)); err != nil {
		t.Fatal(err)
	}
}

func TestHashPropertyOtherPasswordFails(t *testing.T) {
	h := authn.NewHasherUnchecked(pwCheapParams, 2, time.Minute)
	ctx := context.Background()
	prop := func(a, b []byte) bool {
		if bytes.Equal(a, b) {
			return true
		}
		enc, err := h.Hash(ctx, string(a))
		if err != nil {
			return false
		}
		ok, _, err := h.Verify(ctx, string(b), enc)
		return err == nil && !ok
	}
	if err := quick.Check(prop, pwQuickConfig(300)); err != nil {
		t.Fatal(err)
	}
	// Near misses: one byte flipped.
	flip := func(a []byte, i uint16) bool {
		if len(a) == 0 {
			return true
		}
		b := bytes.Clone(a)
		b[int(i)%len(b)] ^= 1
		return prop(a, b)
	}
	if err := quick.Check(flip, pwQuickConfig(300)); err != nil {
		t.Fatal(err)
	}
}

// TestHashPropertyOWASPParams runs a few round trips with the cheapest
// parameters NewHasher accepts, through the real constructor.
func TestHashPropertyOWASPParams(t *testing.T) {
	h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams))
	r := rand.New(rand.NewSource(7))
	for i := range 3 {
		pw := make([]byte, 8+r.Intn(100))
		r.Read(pw)
		t.Run(fmt.Sprintf("seed7/%d", i), func(t *testing.T) {
			enc := pwMustHash(t, h, string(pw))
			pwCheckVerify(t, h, string(pw), enc, true, false)
			other := bytes.Clone(pw)
			other[r.Intn(len(other))] ^= 0x80
			pwCheckVerify(t, h, string(other), enc, false, false)
		})
	}
}

// TestVerifyBeyond72Bytes checks that bytes after the 72nd count: for
// argon2id naturally, and for bcrypt (which reads only 72 bytes) because a
// longer password never verifies.
func TestVerifyBeyond72Bytes(t *testing.T) {
	h := authn.NewHasherUnchecked(pwCheapParams, 2, time.Minute)
	ctx := context.Background()
	t.Run("Argon2id", func(t *testing.T) {
		prop := func(prefix [72]byte, s1, s2 []byte) bool {
			a := string(prefix[:]) + string(s1)
			b := string(prefix[:]) + string(s2)
			if a == b {
				return true
			}
			enc, err := h.Hash(ctx, a)
			if err != nil {
				return false
			}
			ok, _, err := h.Verify(ctx, b, enc)
			return err == nil && !ok
		}
		if err := quick.Check(prop, pwQuickConfig(200)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("Bcrypt", func(t *testing.T) {
		prop := func(prefix [72]byte, suffix []byte) bool {
			pw := prefix[:]
			enc, err := bcrypt.GenerateFromPassword(pw, bcrypt.MinCost)
			if err != nil {
				t.Logf("bcrypt: %v", err)
				return false
			}
			ok, rehash, err := h.Verify(ctx, string(pw), string(enc))
			if err != nil || !ok || !rehash {
				t.Logf("72-byte password: ok %v rehash %v err %v", ok, rehash, err)
				return false
			}
			long := string(pw) + "x" + string(suffix)
			ok, _, err = h.Verify(ctx, long, string(enc))
			if err != nil || ok {
				t.Logf("%d-byte password: ok %v err %v", len(long), ok, err)
				return false
			}
			return true
		}
		if err := quick.Check(prop, pwQuickConfig(20)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("BcryptVectorExtended", func(t *testing.T) {
		// A 72-byte ASCII password, its cost-4 bcrypt hash, and the
		// 73-byte password x/crypto/bcrypt would accept on its own.
		pw := strings.Repeat("k", 72)
		enc, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pwCheckVerify(t, h, pw, string(enc), true, true)
		pwCheckVerify(t, h, pw+"x", string(enc), false, false)
		pwCheckVerify(t, h, pw[:71], string(enc), false, false)
	})
}

// pwArgonHash builds an argon2id PHC string with the given parameter text and
// random-looking salt and key of the given lengths; it is only parsed.
func pwArgonHash(params string, saltLen, keyLen int) string {
	salt := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xa5}, saltLen))
	key := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, keyLen))
	return "$argon2id$v=19$" + params + "$" + salt + "$" + key
}

// TestVerifyUnsupportedHash checks that unknown, garbled and unsafe hashes
// are refused with ErrUnsupportedHash before anything runs: the only
// hashing slot is held, so a Verify that tried to hash would report
// ErrOverloaded instead.
func TestVerifyUnsupportedHash(t *testing.T) {
	const good = "$argon2id$v=19$m=65536,t=3,p=4$l0TIibBAahL4rczL/bjZRg$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA"
	const goodBcrypt = "$2b$12$CUHkcHmnlifrP0joLnKY8OjiwKPaBhnLUtDF1R9JIkGgoKcwgtFDS"
	tests := []struct {
		name string
		hash string
	}{
		{"Argon2Memory2GiB", pwArgonHash("m=2097152,t=3,p=4", 16, 32)},
		{"Argon2MemoryJustAbove1GiB", pwArgonHash("m=1048577,t=3,p=4", 16, 32)},
		{"Argon2MemoryHuge", pwArgonHash("m=4294967295,t=3,p=4", 16, 32)},
		{"Argon2MemoryOverflow", pwArgonHash("m=99999999999,t=3,p=4", 16, 32)},
		{"Argon2MemoryBelow8p", pwArgonHash("m=31,t=3,p=4", 16, 32)},
		{"Argon2Iterations11", pwArgonHash("m=65536,t=11,p=4", 16, 32)},
		{"Argon2Iterations0", pwArgonHash("m=65536,t=0,p=4", 16, 32)},
		{"Argon2Parallelism17", pwArgonHash("m=65536,t=3,p=17", 16, 32)},
		{"Argon2Parallelism0", pwArgonHash("m=65536,t=3,p=0", 16, 32)},
		{"Argon2Parallelism256", pwArgonHash("m=65536,t=3,p=256", 16, 32)},
		{"Argon2Salt7", pwArgonHash("m=65536,t=3,p=4", 7, 32)},
		{"Argon2Salt65", pwArgonHash("m=65536,t=3,p=4", 65, 32)},
		{"Argon2Key15", pwArgonHash("m=65536,t=3,p=4", 16, 15)},
		{"Argon2Key129", pwArgonHash("m=65536,t=3,p=4", 16, 129)},
		{"Argon2EmptyKey", pwArgonHash("m=65536,t=3,p=4", 16, 0)},
		{"Argon2LeadingZero", pwArgonHash("m=065536,t=3,p=4", 16, 32)},
		{"Argon2Sign", pwArgonHash("m=+65536,t=3,p=4", 16, 32)},
		{"Argon2ParamsReordered", pwArgonHash("t=3,m=65536,p=4", 16, 32)},
		{"Argon2ParamsMissing", pwArgonHash("m=65536,t=3", 16, 32)},
		{"Argon2ParamsExtra", pwArgonHash("m=65536,t=3,p=4,keyid=abc", 16, 32)},
		{"Argon2ParamsSpaces", pwArgonHash("m=65536, t=3, p=4", 16, 32)},
		{"Argon2Version16", strings.Replace(good, "v=19", "v=16", 1)},
		{"Argon2NoVersion", strings.Replace(good, "$v=19", "", 1)},
		{"Argon2i", strings.Replace(good, "argon2id", "argon2i", 1)},
		{"Argon2d", strings.Replace(good, "argon2id", "argon2d", 1)},
		{"Argon2UpperCase", strings.Replace(good, "argon2id", "ARGON2ID", 1)},
		{"Argon2SaltNewline", strings.Replace(good, "l0TIibBAahL4", "l0TIib\nBAahL4", 1)},
		{"Argon2SaltURLAlphabet", strings.Replace(good, "/bjZRg", "_bjZRg", 1)},
		{"Argon2SaltBadPadding", strings.Replace(good, "bjZRg$", "bjZRg=$", 1)},
		{"Argon2NonCanonicalTail", strings.Replace(good, "bjZRg$", "bjZRh$", 1)},
		{"Argon2TrailingDollar", good + "$"},
		{"Argon2MissingKey", strings.TrimSuffix(good, "$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA")},
		{"Argon2TooLong", pwArgonHash("m=65536,t=3,p=4", 16, 32) + strings.Repeat("A", 1024)},
		{"Bcrypt16", "$2b$16$" + goodBcrypt[7:]},
		{"Bcrypt31", "$2b$31$" + goodBcrypt[7:]},
		{"Bcrypt03", "$2b$03$" + goodBcrypt[7:]},
		{"BcryptCostNotDigits", "$2b$1a$" + goodBcrypt[7:]},
		{"Bcrypt2x", "$2x$" + goodBcrypt[4:]},
		{"Bcrypt2NoMinor", "$2$12$" + goodBcrypt[7:]},
		{"BcryptShort", goodBcrypt[:59]},
		{"BcryptLong", goodBcrypt + "A"},
		{"BcryptBadChar", goodBcrypt[:59] + "+"},
		{"Empty", ""},
		{"Plaintext", "hunter2"},
		{"Dollar", "$"},
		{"PBKDF2", "$pbkdf2-sha256$29000$N2bsnTOGsDaGcO5dK.U8Rw$TRnCmtJ8t/dfzOKyAT1TxYYQ8CmKbPhdSo1X9BwVHV8"},
		{"Scrypt", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E"},
		{"MD5Crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"},
	}
	h := authn.NewHasherUnchecked(pwCheapParams, 1, time.Millisecond)
	release := authn.HoldSlot(h)
	defer release()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(context.Background(), "password", tt.hash)
			if !errors.Is(err, authn.ErrUnsupportedHash) {
				t.Fatalf("Verify(%q) err = %v, want ErrUnsupportedHash", tt.hash, err)
			}
			if ok || rehash {
				t.Fatalf("Verify(%q) = ok %v, needsRehash %v with an error", tt.hash, ok, rehash)
			}
		})
	}
}

// TestVerifyAcceptedVariants checks hash spellings other writers use.
func TestVerifyAcceptedVariants(t *testing.T) {
	h := authn.NewHasherUnchecked(pwCheapParams, 2, time.Minute)
	const pw = "oB*hrsC*sdQ&"
	const vec = "$argon2id$v=19$m=65536,t=3,p=4$l0TIibBAahL4rczL/bjZRg$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA"
	tests := []struct {
		name string
		hash string
	}{
		{"Unpadded", vec},
		{"Padded", "$argon2id$v=19$m=65536,t=3,p=4$l0TIibBAahL4rczL/bjZRg==$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pwCheckVerify(t, h, pw, tt.hash, true, true)
			pwCheckVerify(t, h, pw+"!", tt.hash, false, false)
		})
	}
	t.Run("SanityBoundsThemselves", func(t *testing.T) {
		// The largest p and the smallest memory it allows, the smallest
		// salt, the largest key: accepted and parsed, not run.
		for _, enc := range []string{
			pwArgonHash(fmt.Sprintf("m=%d,t=%d,p=%d", 8*authn.MaxHashParallelism, authn.MaxHashIterations, authn.MaxHashParallelism), 8, 128),
			pwArgonHash(fmt.Sprintf("m=%d,t=1,p=1", authn.MaxHashMemory), 64, 16),
			fmt.Sprintf("$2a$%02d$", authn.MaxBcryptCost) + "CUHkcHmnlifrP0joLnKY8OjiwKPaBhnLUtDF1R9JIkGgoKcwgtFDS",
		} {
			if _, err := authn.ParseHash(enc); err != nil {
				t.Errorf("ParseHash(%q): %v", enc, err)
			}
		}
	})
}

func TestHashParamsValidate(t *testing.T) {
	with := func(f func(*authn.HashParams)) authn.HashParams {
		p := authn.DefaultHashParams()
		f(&p)
		return p
	}
	tests := []struct {
		name    string
		params  authn.HashParams
		wantErr string // a substring of the error; "" for valid
	}{
		{"Defaults", authn.DefaultHashParams(), ""},
		{"OWASPMinimum", pwOWASPParams, ""},
		{"UpperBounds", authn.HashParams{Memory: 1 << 20, Iterations: 10, Parallelism: 16, SaltLen: 64, KeyLen: 128}, ""},
		{"MemoryBelowOWASP", with(func(p *authn.HashParams) { p.Memory = 19455 }), "Memory 19455 KiB is below the minimum of 19456"},
		{"MemoryZero", with(func(p *authn.HashParams) { p.Memory = 0 }), "Memory"},
		{"MemoryAbove1GiB", with(func(p *authn.HashParams) { p.Memory = 1<<20 + 1 }), "Memory"},
		{"IterationsBelowOWASP", with(func(p *authn.HashParams) { p.Iterations = 1 }), "Iterations 1 is below the minimum of 2"},
		{"IterationsAbove10", with(func(p *authn.HashParams) { p.Iterations = 11 }), "Iterations"},
		{"ParallelismZero", with(func(p *authn.HashParams) { p.Parallelism = 0 }), "Parallelism 0 is below the minimum of 1"},
		{"ParallelismAbove16", with(func(p *authn.HashParams) { p.Parallelism = 17 }), "Parallelism"},
		{"SaltShort", with(func(p *authn.HashParams) { p.SaltLen = 15 }), "SaltLen 15 bytes is below the minimum of 16 bytes"},
		{"SaltLong", with(func(p *authn.HashParams) { p.SaltLen = 65 }), "SaltLen"},
		{"KeyShort", with(func(p *authn.HashParams) { p.KeyLen = 15 }), "KeyLen 15 bytes is below the minimum of 16 bytes"},
		{"KeyLong", with(func(p *authn.HashParams) { p.KeyLen = 129 }), "KeyLen"},
		{"Zero", authn.HashParams{}, "Memory"},
	}
	t.Run("EveryProblemTyped", func(t *testing.T) {
		err := authn.HashParams{}.Validate()
		var params []string
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			var pe *authn.HashParamError
			if !errors.As(e, &pe) {
				t.Fatalf("%v is not a *HashParamError", e)
			}
			params = append(params, pe.Param)
		}
		if want := []string{"Memory", "Iterations", "Parallelism", "SaltLen", "KeyLen"}; !slices.Equal(params, want) {
			t.Fatalf("problems %v, want %v", params, want)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.params.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate(%+v) = %v, want nil", tt.params, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate(%+v) = %v, want an error containing %q", tt.params, err, tt.wantErr)
			}
		})
	}
}

func TestNewHasherOptions(t *testing.T) {
	bad := []struct {
		name string
		opt  authn.HasherOption
	}{
		{"ParamsBelowOWASP", authn.WithHashParams(authn.HashParams{Memory: 4096, Iterations: 3, Parallelism: 1, SaltLen: 16, KeyLen: 32})},
		{"ParamsZero", authn.WithHashParams(authn.HashParams{})},
		{"MaxConcurrentZero", authn.WithMaxConcurrentHashes(0)},
		{"MaxConcurrentNegative", authn.WithMaxConcurrentHashes(-1)},
		{"MaxWaitZero", authn.WithMaxHashWait(0)},
		{"MaxWaitNegative", authn.WithMaxHashWait(-time.Second)},
		{"Nil", nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			h, err := authn.NewHasher(authn.WithMaxConcurrentHashes(2), tt.opt)
			if err == nil || h != nil {
				t.Fatalf("NewHasher = %v, %v; want an error", h, err)
			}
		})
	}
	t.Run("Good", func(t *testing.T) {
		h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams), authn.WithMaxConcurrentHashes(3), authn.WithMaxHashWait(time.Second))
		if h.Params() != pwOWASPParams {
			t.Fatalf("Params() = %+v, want %+v", h.Params(), pwOWASPParams)
		}
	})
}

// TestHashBound checks the hashing slots: callers wait for a slot at most
// the configured time, and give up when their context ends.
func TestHashBound(t *testing.T) {
	const enc = "$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	ops := []struct {
		name string
		run  func(ctx context.Context, h *authn.Hasher) error
	}{
		{"Hash", func(ctx context.Context, h *authn.Hasher) error {
			_, err := h.Hash(ctx, "password")
			return err
		}},
		{"Verify", func(ctx context.Context, h *authn.Hasher) error {
			_, _, err := h.Verify(ctx, "password", enc)
			return err
		}},
		{"VerifyDummy", func(ctx context.Context, h *authn.Hasher) error {
			return h.VerifyDummy(ctx, "password")
		}},
	}
	for _, op := range ops {
		t.Run(op.name+"/Overloaded", func(t *testing.T) {
			h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams), authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(50*time.Millisecond))
			release := authn.HoldSlot(h)
			defer release()
			if err := op.run(context.Background(), h); !errors.Is(err, authn.ErrOverloaded) {
				t.Fatalf("err = %v, want ErrOverloaded", err)
			}
		})
		t.Run(op.name+"/Canceled", func(t *testing.T) {
			h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams), authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(time.Hour))
			release := authn.HoldSlot(h)
			defer release()
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := op.run(ctx, h); !errors.Is(err, context.Canceled) || errors.Is(err, authn.ErrOverloaded) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
		t.Run(op.name+"/CanceledWithFreeSlot", func(t *testing.T) {
			h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams), authn.WithMaxConcurrentHashes(1))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := op.run(ctx, h); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
		t.Run(op.name+"/DeadlineWhileWaiting", func(t *testing.T) {
			h := pwMustHasher(t, authn.WithHashParams(pwOWASPParams), authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(time.Hour))
			release := authn.HoldSlot(h)
			defer release()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			if err := op.run(ctx, h); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
		})
		t.Run(op.name+"/WaitsForSlot", func(t *testing.T) {
			h := authn.NewHasherUnchecked(pwCheapParams, 1, time.Hour)
			release := authn.HoldSlot(h)
			done := make(chan error, 1)
			go func() { done <- op.run(context.Background(), h) }()
			release()
			if err := <-done; err != nil {
				t.Fatalf("err = %v after the slot was freed", err)
			}
			// The slot came back: it can be taken again.
			authn.HoldSlot(h)()
		})
	}
}

// TestHashFloodBounded checks that a flood of hashes costs memory for the
// slots, not for the callers.
func TestHashFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("flood test skipped in -short mode")
	}
	const slots, calls = 2, 32
	m := pwOWASPParams.Memory
	peak, base := pwHashFlood(t, slots, calls, pwOWASPParams)
	limit := uint64(float64((slots+2)*int(m)*1024)*1.5) + 64<<20
	t.Logf("peak heap %.1f MiB (%.1f MiB before), limit %.1f MiB, %d calls behind %d slots of %d KiB",
		pwMiB(peak), pwMiB(base), pwMiB(limit), calls, slots, m)
	if peak > limit {
		t.Fatalf("peak heap %.1f MiB > %.1f MiB: the hashing slots do not bound memory", pwMiB(peak), pwMiB(limit))
	}
}

// TestHasherShedsLoadAtOnce: when the queue ahead means a wait longer
// than the maximum, a caller is refused at once — while the slots are
// still busy — with the expected wait, instead of after waiting in vain;
// callers whose expected wait fits keep their place and are served.
func TestHasherShedsLoadAtOnce(t *testing.T) {
	fast := authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h := authn.NewHasherUnchecked(fast, 1, time.Minute)
	authn.SetAvgHash(h, 6*time.Second) // one hash "takes" 6 s: 10 in the queue fit a minute
	release := authn.HoldSlot(h)
	const callers = 30
	results := make(chan error, callers)
	for range callers {
		go func() {
			_, err := h.Hash(context.Background(), "a password")
			results <- err
		}()
	}
	var refused []*authn.OverloadedError
	for len(refused) < callers-10 {
		select {
		case err := <-results:
			var oe *authn.OverloadedError
			if !errors.As(err, &oe) || !errors.Is(err, authn.ErrOverloaded) {
				t.Fatalf("while the slot is held: err = %v, want an *OverloadedError", err)
			}
			refused = append(refused, oe)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d callers refused while the slot is held, want %d at once", len(refused), callers-10)
		}
	}
	for _, oe := range refused {
		if oe.Queued <= 10 || oe.RetryAfter <= time.Minute {
			t.Fatalf("refused with queue %d and wait %v: it would have been served in time", oe.Queued, oe.RetryAfter)
		}
	}
	if s := h.Stats(); s.Waiting != 10 || s.InUse != 1 || s.Slots != 1 {
		t.Fatalf("stats %+v, want 10 waiting for the one slot in use", s)
	}
	release()
	for range 10 {
		if err := <-results; err != nil {
			t.Fatalf("a caller within the maximum wait: %v", err)
		}
	}
	if s := h.Stats(); s.Waiting != 0 || s.InUse != 0 || s.AvgHash >= 6*time.Second {
		t.Fatalf("stats after the queue drained %+v: the average did not move toward the real hash time", s)
	}
}

// TestHasherCalibrate: a fresh Hasher knows no hash time until Calibrate
// (or a first hash) measures one; a second Calibrate hashes no more.
func TestHasherCalibrate(t *testing.T) {
	fast := authn.HashParams{Memory: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	h := authn.NewHasherUnchecked(fast, 1, time.Second)
	if s := h.Stats(); s.AvgHash != 0 {
		t.Fatalf("fresh hasher: average %v, want unknown (0)", s.AvgHash)
	}
	if err := h.Calibrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	first := h.Stats().AvgHash
	if first <= 0 {
		t.Fatalf("after Calibrate: average %v, want a measured time", first)
	}
	authn.SetAvgHash(h, time.Hour)
	if err := h.Calibrate(context.Background()); err != nil || h.Stats().AvgHash != time.Hour {
		t.Fatalf("second Calibrate: err %v, average %v: it measured again", err, h.Stats().AvgHash)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	authn.SetAvgHash(h, 0)
	if err := h.Calibrate(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Calibrate with an ended context: %v", err)
	}
}
