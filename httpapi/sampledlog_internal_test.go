package httpapi

import (
	"sync"
	"testing"
	"time"
)

func TestSampledLog(t *testing.T) {
	var s sampledLog
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		at         time.Duration
		ok         bool
		suppressed int64
	}{
		{0, true, 0},
		{time.Second, false, 0},
		{9 * time.Second, false, 0},
		{10 * time.Second, true, 2},
		{10*time.Second + 1, false, 0},
		{time.Minute, true, 1},
	}
	for _, st := range steps {
		ok, n := s.allow(t0.Add(st.at))
		if ok != st.ok || n != st.suppressed {
			t.Errorf("at %v: allow = %v, %d; want %v, %d", st.at, ok, n, st.ok, st.suppressed)
		}
	}
}

// TestSampledLogConcurrent: of many simultaneous lines exactly one goes
// through, and the next one through counts all the others.
func TestSampledLogConcurrent(t *testing.T) {
	var s sampledLog
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	passed := 0
	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			if ok, _ := s.allow(now); ok {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if passed != 1 {
		t.Fatalf("%d lines through, want 1", passed)
	}
	if ok, n := s.allow(now.Add(sampledLogInterval)); !ok || n != 99 {
		t.Fatalf("next interval: allow = %v, %d; want true, 99", ok, n)
	}
}
