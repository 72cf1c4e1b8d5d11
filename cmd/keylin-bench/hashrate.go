package main

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keylin/keylin/authn"
)

// HashRate is the raw speed of keylin's password hasher on this machine.
type HashRate struct {
	Params     string  `json:"params"`
	Hasher     string  `json:"hasher"` // how it was built
	Goroutines int     `json:"goroutines"`
	Hashes     int64   `json:"hashes"`
	Seconds    float64 `json:"seconds"`
	PerSecond  float64 `json:"per_second"`
	// CPUMSPerHash is the CPU time one hash took (this process's user and
	// system time over the hashes, from /proc): unlike PerSecond, other
	// load on the machine hardly changes it. 0 when /proc is unavailable.
	CPUMSPerHash float64 `json:"cpu_ms_per_hash"`
}

// measureHashRate runs concurrent Hash calls on every CPU: a warm-up
// (the process's heap grows to its working size: page faults, not hashing),
// then d measured. It uses the hasher with its defaults (authn.NewHasher())
// when p are the default parameters, else the same hasher with p. The
// hasher's slots (one per CPU) bound the work, as in keylin; twice as many
// goroutines keep every slot busy.
func measureHashRate(ctx context.Context, p authn.HashParams, warmup, d time.Duration) (HashRate, error) {
	var (
		h   *authn.Hasher
		err error
	)
	hr := HashRate{Params: hashLabel(p), Goroutines: 2 * runtime.NumCPU()}
	if p == authn.DefaultHashParams() {
		h, err = authn.NewHasher()
		hr.Hasher = "authn.NewHasher()"
	} else {
		h, err = authn.NewHasher(authn.WithHashParams(p))
		hr.Hasher = "authn.NewHasher(authn.WithHashParams(…))"
	}
	if err != nil {
		return hr, err
	}
	var (
		n        atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
		measure  atomic.Bool
	)
	run := func(until time.Time) {
		for range hr.Goroutines {
			wg.Go(func() {
				for ctx.Err() == nil && time.Now().Before(until) {
					if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					if measure.Load() {
						n.Add(1)
					}
				}
			})
		}
		wg.Wait()
	}
	run(time.Now().Add(warmup))
	measure.Store(true)
	cpu0, cpuErr := processCPU("self")
	start := time.Now()
	// Hashes started before the deadline finish after it: count their time.
	run(start.Add(d))
	hr.Seconds = time.Since(start).Seconds()
	hr.Hashes = n.Load()
	hr.PerSecond = float64(hr.Hashes) / hr.Seconds
	if cpu1, err := processCPU("self"); cpuErr == nil && err == nil && hr.Hashes > 0 {
		hr.CPUMSPerHash = (cpu1 - cpu0) / float64(hr.Hashes) * 1e3
	}
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return hr, firstErr
}
