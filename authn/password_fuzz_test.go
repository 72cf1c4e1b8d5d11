package authn_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/keylin/keylin/authn"
)

// FuzzParsePHC feeds arbitrary strings to the stored-hash parser that guards
// Verify. It must never panic, must refuse with ErrUnsupportedHash, and
// whatever it accepts must be within the sanity bounds and re-encode to a
// string that parses to the same hash.
func FuzzParsePHC(f *testing.F) {
	v := loadHashVectors(f)
	for _, vec := range v.Hashes {
		f.Add(vec.Hash)
	}
	for _, s := range []string{
		"",
		"$",
		"$argon2id$",
		"$argon2id$v=19$m=65536,t=3,p=4$$",
		"$argon2id$v=19$m=65536,t=3,p=4$l0TIibBAahL4rczL/bjZRg==$g89z+naRGjIytvLUlx0moiXHPm6FkTOrjid3fkOYtOA=",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2i$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
		"$2b$31$CUHkcHmnlifrP0joLnKY8OjiwKPaBhnLUtDF1R9JIkGgoKcwgtFDS",
		"$2y$04$" + strings.Repeat(".", 53),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ph, err := authn.ParseHash(s)
		if err != nil {
			if !errors.Is(err, authn.ErrUnsupportedHash) {
				t.Fatalf("ParseHash(%q) = %v, not ErrUnsupportedHash", s, err)
			}
			return
		}
		if ph.Bcrypt {
			if len(s) != 60 || ph.BcryptCost < 4 || ph.BcryptCost > authn.MaxBcryptCost {
				t.Fatalf("ParseHash(%q) accepted bcrypt cost %d", s, ph.BcryptCost)
			}
			return
		}
		p := ph.Params
		if p.Memory > authn.MaxHashMemory || p.Memory < 8*uint32(p.Parallelism) ||
			p.Iterations < 1 || p.Iterations > authn.MaxHashIterations ||
			p.Parallelism < 1 || p.Parallelism > authn.MaxHashParallelism ||
			int(p.SaltLen) != len(ph.Salt) || int(p.KeyLen) != len(ph.Key) ||
			p.SaltLen < 8 || p.SaltLen > 64 || p.KeyLen < 16 || p.KeyLen > 128 {
			t.Fatalf("ParseHash(%q) accepted unsafe %+v", s, p)
		}
		enc := authn.EncodeArgon2id(p, ph.Salt, ph.Key)
		if !strings.Contains(s, "=") && enc != s {
			t.Fatalf("unpadded %q re-encodes as %q", s, enc)
		}
		again, err := authn.ParseHash(enc)
		if err != nil || again.Params != p || !bytes.Equal(again.Salt, ph.Salt) || !bytes.Equal(again.Key, ph.Key) {
			t.Fatalf("re-encoded %q parses as %+v, %v; want %+v", enc, again, err, ph)
		}
	})
}
