package authntest

import (
	"errors"
	"fmt"
	"time"
)

var takeLimitCases = []storeCase{
	{"the burst passes, then the wait", func(f *fixture) {
		for i := range 3 {
			wait, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 3)
			f.wantOK(fmt.Sprintf("TakeLimit #%d", i+1), err)
			if wait != 0 {
				f.Errorf("TakeLimit #%d of a burst of 3 = %v, want 0 (allowed)", i+1, wait)
			}
		}
		wait, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 3)
		f.wantOK("TakeLimit #4", err)
		if wait != time.Second {
			f.Errorf("TakeLimit #4 of a burst of 3 = %v, want 1s", wait)
		}
		wait, err = f.s.TakeLimit(f.ctx, "k", f.at(400*time.Millisecond), time.Second, 3)
		f.wantOK("TakeLimit 400ms later", err)
		if wait != 600*time.Millisecond {
			f.Errorf("TakeLimit 400ms later = %v, want 600ms", wait)
		}
	}},
	{"the budget refills with time", func(f *fixture) {
		for range 2 {
			if _, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 2); err != nil {
				f.Fatalf("TakeLimit: %v", err)
			}
		}
		for _, c := range []struct {
			at   time.Duration
			wait time.Duration
		}{
			{time.Second, 0},                // one event back
			{time.Second, time.Second},      // and spent
			{10 * time.Second, 0},           // at rest: the whole burst
			{10 * time.Second, 0},           //
			{10 * time.Second, time.Second}, // spent again
			{10*time.Second + 250*time.Millisecond, 750 * time.Millisecond},
		} {
			wait, err := f.s.TakeLimit(f.ctx, "k", f.at(c.at), time.Second, 2)
			f.wantOK("TakeLimit", err)
			if wait != c.wait {
				f.Errorf("TakeLimit at +%v = %v, want %v", c.at, wait, c.wait)
			}
		}
	}},
	{"stores max(TAT, now) + interval", func(f *fixture) {
		take := func(at time.Duration) {
			f.Helper()
			if wait, err := f.s.TakeLimit(f.ctx, "k", f.at(at), time.Second, 5); err != nil || wait != 0 {
				f.Fatalf("TakeLimit at +%v = %v, %v; want allowed", at, wait, err)
			}
		}
		peek := func(want time.Time) {
			f.Helper()
			tats, err := f.s.PeekLimits(f.ctx, []string{"k"})
			f.wantOK("PeekLimits", err)
			if len(tats) != 1 || !tats[0].Equal(want) {
				f.Errorf("PeekLimits = %v, want [%v]", tats, want)
			}
		}
		take(0)
		peek(f.at(time.Second))
		take(0)
		peek(f.at(2 * time.Second))
		take(time.Minute)
		peek(f.at(time.Minute + time.Second))
	}},
	{"a refused event stores nothing", func(f *fixture) {
		if _, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 1); err != nil {
			f.Fatalf("TakeLimit: %v", err)
		}
		for range 3 {
			if wait, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 1); err != nil || wait != time.Second {
				f.Errorf("TakeLimit over the burst = %v, %v; want 1s", wait, err)
			}
		}
		tats, err := f.s.PeekLimits(f.ctx, []string{"k"})
		f.wantOK("PeekLimits", err)
		if !tats[0].Equal(f.at(time.Second)) {
			f.Errorf("PeekLimits after refused events = %v, want %v", tats[0], f.at(time.Second))
		}
		if wait, err := f.s.TakeLimit(f.ctx, "k", f.at(time.Second), time.Second, 1); err != nil || wait != 0 {
			f.Errorf("TakeLimit one interval later = %v, %v; want allowed", wait, err)
		}
	}},
	{"keys are independent", func(f *fixture) {
		if wait, err := f.s.TakeLimit(f.ctx, "a", f.now, time.Minute, 1); err != nil || wait != 0 {
			f.Fatalf("TakeLimit(a) = %v, %v; want allowed", wait, err)
		}
		if wait, err := f.s.TakeLimit(f.ctx, "b", f.now, time.Minute, 1); err != nil || wait != 0 {
			f.Errorf("TakeLimit(b) after a's budget is spent = %v, %v; want allowed", wait, err)
		}
		if wait, err := f.s.TakeLimit(f.ctx, "a", f.now, time.Minute, 1); err != nil || wait != time.Minute {
			f.Errorf("TakeLimit(a) again = %v, %v; want 1m", wait, err)
		}
	}},
	{"an interval under 1ms or a burst under 1 is an error", func(f *fixture) {
		for _, interval := range []time.Duration{0, -time.Second, time.Millisecond - 1} {
			if _, err := f.s.TakeLimit(f.ctx, "k", f.now, interval, 1); err == nil {
				f.Errorf("TakeLimit with interval %v: no error", interval)
			}
		}
		if _, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 0); err == nil {
			f.Errorf("TakeLimit with burst 0: no error")
		}
	}},
	{"40 concurrent takes of a burst of 10: exactly 10 pass", func(f *fixture) {
		const n, burst = 40, 10
		waits := make([]time.Duration, n)
		errs := concurrently(n, func(i int) error {
			var err error
			waits[i], err = f.s.TakeLimit(f.ctx, "k", f.now, time.Second, burst)
			return err
		})
		if err := errors.Join(errs...); err != nil {
			f.Fatalf("TakeLimit ×%d: %v", n, err)
		}
		passed := 0
		for _, w := range waits {
			if w == 0 {
				passed++
			}
		}
		if passed != burst {
			f.Errorf("TakeLimit ×%d with a burst of %d: %d passed, want %d", n, burst, passed, burst)
		}
		tats, err := f.s.PeekLimits(f.ctx, []string{"k"})
		f.wantOK("PeekLimits", err)
		if !tats[0].Equal(f.at(burst * time.Second)) {
			f.Errorf("PeekLimits after the race = %v, want %v", tats[0], f.at(burst*time.Second))
		}
	}},
}

var peekLimitsCases = []storeCase{
	{"unknown keys are the zero time, in the order of keys", func(f *fixture) {
		if _, err := f.s.TakeLimit(f.ctx, "known", f.now, time.Second, 3); err != nil {
			f.Fatalf("TakeLimit: %v", err)
		}
		tats, err := f.s.PeekLimits(f.ctx, []string{"unknown", "known", "other", "known"})
		f.wantOK("PeekLimits", err)
		if len(tats) != 4 || !tats[0].IsZero() || !tats[1].Equal(f.at(time.Second)) || !tats[2].IsZero() || !tats[3].Equal(f.at(time.Second)) {
			f.Errorf("PeekLimits(unknown, known, other, known) = %v, want [zero %v zero %v]", tats, f.at(time.Second), f.at(time.Second))
		}
	}},
	{"no keys", func(f *fixture) {
		tats, err := f.s.PeekLimits(f.ctx, nil)
		if err != nil || len(tats) != 0 {
			f.Errorf("PeekLimits(nil) = %v, %v; want none", tats, err)
		}
	}},
	{"changes nothing", func(f *fixture) {
		if _, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 2); err != nil {
			f.Fatalf("TakeLimit: %v", err)
		}
		for range 3 {
			if _, err := f.s.PeekLimits(f.ctx, []string{"k", "absent"}); err != nil {
				f.Fatalf("PeekLimits: %v", err)
			}
		}
		if wait, err := f.s.TakeLimit(f.ctx, "k", f.now, time.Second, 2); err != nil || wait != 0 {
			f.Errorf("TakeLimit after PeekLimits = %v, %v; want the second event of the burst allowed", wait, err)
		}
		tats, _ := f.s.PeekLimits(f.ctx, []string{"absent"})
		if len(tats) != 1 || !tats[0].IsZero() {
			f.Errorf("PeekLimits(absent) after peeking it = %v, want [zero]", tats)
		}
	}},
}
