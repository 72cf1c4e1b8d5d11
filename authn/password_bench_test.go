package authn_test

import (
	"context"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keylin/keylin/authn"
)

func pwMiB(b uint64) float64 { return float64(b) / (1 << 20) }

// pwHeapObjectsMetric is the runtime metric closest to MemStats.HeapAlloc; reading
// it does not stop the world.
const pwHeapObjectsMetric = "/memory/classes/heap/objects:bytes"

// pwHashFlood starts calls concurrent Hash calls on a Hasher with the given
// slots and params and samples the heap every millisecond while they run.
// It returns the peak and the heap before the flood (after a GC).
func pwHashFlood(tb testing.TB, slots, calls int, p authn.HashParams) (peak, base uint64) {
	tb.Helper()
	h, err := authn.NewHasher(authn.WithHashParams(p), authn.WithMaxConcurrentHashes(slots), authn.WithMaxHashWait(time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	sample := []metrics.Sample{{Name: pwHeapObjectsMetric}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base = read()
	peak = base

	stop := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		max := uint64(0)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			if v := read(); v > max {
				max = v
			}
			select {
			case <-stop:
				sampled <- max
				return
			case <-t.C:
			}
		}
	}()

	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Go(func() {
			if _, err := h.Hash(context.Background(), "flood password"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(stop)
	if v := <-sampled; v > peak {
		peak = v
	}
	close(errs)
	for err := range errs {
		tb.Fatalf("Hash during flood: %v", err)
	}
	return peak, base
}

// BenchmarkHash hashes with pwdlib's default parameters.
func BenchmarkHash(b *testing.B) {
	h := pwMustHasher(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies against a hash with pwdlib's default parameters.
func BenchmarkVerify(b *testing.B) {
	h := pwMustHasher(b)
	enc := pwMustHash(b, h, "correct horse battery staple")
	ctx := context.Background()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil || !ok {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
}

// BenchmarkVerifyBcrypt12 verifies a cost-12 bcrypt hash made by Python's
// bcrypt (from the interop vectors).
func BenchmarkVerifyBcrypt12(b *testing.B) {
	v := loadHashVectors(b)
	var password, enc string
	for _, vec := range v.Hashes {
		if vec.Valid && strings.HasPrefix(vec.Hash, "$2b$12$") {
			password, enc = vec.Password, vec.Hash
			break
		}
	}
	if enc == "" {
		b.Fatal("no valid $2b$12$ vector")
	}
	h := pwMustHasher(b)
	ctx := context.Background()
	for b.Loop() {
		if ok, _, err := h.Verify(ctx, password, enc); err != nil || !ok {
			b.Fatalf("Verify = %v, %v", ok, err)
		}
	}
}

// BenchmarkVerifyDummy is the unknown-user path of a login.
func BenchmarkVerifyDummy(b *testing.B) {
	h := pwMustHasher(b)
	ctx := context.Background()
	for b.Loop() {
		if err := h.VerifyDummy(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashFlood runs 32 concurrent OWASP-minimum hashes (19 MiB each)
// behind 2 slots ("bounded") and with one slot per call ("unbounded"), and
// reports the peak heap of each as peak-MiB; ns/op is one whole flood.
func BenchmarkHashFlood(b *testing.B) {
	const calls = 32
	for _, bc := range []struct {
		name  string
		slots int
	}{
		{"bounded", 2},
		{"unbounded", calls},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				p, _ := pwHashFlood(b, bc.slots, calls, pwOWASPParams)
				peak = max(peak, p)
			}
			b.ReportMetric(pwMiB(peak), "peak-MiB")
		})
	}
}
