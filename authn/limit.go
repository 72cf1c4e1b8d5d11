package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limit is a rate limit: at most Count events at once, refilled at Count
// per Period (the generic cell rate algorithm, equivalent to a token bucket
// of Count tokens). Over any window of one Period, at most 2·Count−1
// events pass. The zero Limit is off.
type Limit struct {
	Count  int
	Period time.Duration
}

// Off reports whether the limit lets everything through.
func (l Limit) Off() bool { return l.Count <= 0 || l.Period <= 0 }

// interval is the GCRA emission interval: one event's share of the period.
func (l Limit) interval() time.Duration { return l.Period / time.Duration(l.Count) }

// String writes the limit as ParseLimit reads it ("10/1m0s", "off").
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Count) + "/" + l.Period.String()
}

// ParseLimit reads a limit written COUNT/PERIOD, where PERIOD is a Go
// duration ("10/1m", "100/1h30m") or a plain unit ("5/s", "5/m", "5/h",
// "5/d" for one second, minute, hour or day); "off" or "0" is no limit.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	count, period, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(strings.TrimSpace(count))
	if !ok || err != nil || n < 1 {
		return Limit{}, fmt.Errorf("limit %q: want COUNT/PERIOD such as 10/1m, or off", s)
	}
	period = strings.TrimSpace(period)
	var d time.Duration
	switch period {
	case "s":
		d = time.Second
	case "m":
		d = time.Minute
	case "h":
		d = time.Hour
	case "d":
		d = 24 * time.Hour
	default:
		d, err = time.ParseDuration(period)
		if err != nil || d <= 0 {
			return Limit{}, fmt.Errorf("limit %q: period %q is not a positive duration", s, period)
		}
	}
	if d/time.Duration(n) < time.Millisecond {
		return Limit{}, fmt.Errorf("limit %q: more than one event per millisecond", s)
	}
	return Limit{Count: n, Period: d}, nil
}

// Limits are keylin's rate limits, each named for the requests it counts
// and what it counts them by: the client's IP address (an IPv6 client by
// its /64), the account (the email, or the user a token names), or both.
// Every limit is checked before any password is hashed; a refused request
// is ErrThrottled with the wait.
//
// Login is guarded in three ways, so that an attacker can neither guess
// passwords at speed nor lock the owner out:
//   - LoginIP counts every login attempt from an address.
//   - LoginFailuresAccountIP counts failed logins for one account from one
//     address, and slows them progressively: next to the limit itself, a
//     second level allows twice the count over four times the period and
//     a third three times the count over sixteen times the period, so a
//     patient guesser waits longer and longer.
//   - LoginFailuresAccount counts failed logins for one account from
//     anywhere. When it is exhausted, only clients known to the account —
//     an address it logged in from successfully within KnownClientWindow —
//     may still try; the others are refused. An attacker elsewhere cannot
//     lock the owner out of their usual devices.
//
// A correct password never counts as a failure. MailPerAddress is not an
// HTTP limit: past it, forgot-password and request-verify-token still
// answer 202 but send no more mail to that address.
type Limits struct {
	LoginIP                Limit
	LoginFailuresAccountIP Limit
	LoginFailuresAccount   Limit
	RegisterIP             Limit
	RegisterAccount        Limit
	ForgotPasswordIP       Limit
	ForgotPasswordAccount  Limit
	RequestVerifyIP        Limit
	RequestVerifyAccount   Limit
	VerifyIP               Limit
	VerifyAccount          Limit
	ResetPasswordIP        Limit
	ResetPasswordAccount   Limit
	RefreshIP              Limit
	RefreshAccount         Limit
	MailPerAddress         Limit
	// KnownClientWindow is how long an address stays known to an account
	// after a successful login from it (see LoginFailuresAccount).
	KnownClientWindow time.Duration
}

// DefaultLimits suit a public login page: generous enough for people
// behind one NAT, tight enough that guessing is slow (ASVS 5.0 V6.3.1: at
// most 100 failed attempts per hour per account — LoginFailuresAccount's
// 50/1h lets at most 99 through in any hour).
func DefaultLimits() Limits {
	return Limits{
		LoginIP:                Limit{30, time.Minute},
		LoginFailuresAccountIP: Limit{10, 15 * time.Minute},
		LoginFailuresAccount:   Limit{50, time.Hour},
		RegisterIP:             Limit{20, time.Hour},
		RegisterAccount:        Limit{5, time.Hour},
		ForgotPasswordIP:       Limit{20, time.Hour},
		ForgotPasswordAccount:  Limit{5, time.Hour},
		RequestVerifyIP:        Limit{20, time.Hour},
		RequestVerifyAccount:   Limit{5, time.Hour},
		VerifyIP:               Limit{30, time.Hour},
		VerifyAccount:          Limit{10, time.Hour},
		ResetPasswordIP:        Limit{30, time.Hour},
		ResetPasswordAccount:   Limit{10, time.Hour},
		RefreshIP:              Limit{120, time.Minute},
		RefreshAccount:         Limit{30, time.Minute},
		MailPerAddress:         Limit{3, time.Hour},
		KnownClientWindow:      30 * 24 * time.Hour,
	}
}

// NoLimits turns every limit off.
func NoLimits() Limits { return Limits{} }

// Rule names of the limits, as ThrottledError.Rule and the audit log
// report them.
const (
	RuleLoginIP                = "login_ip"
	RuleLoginFailuresAccountIP = "login_failures_account_ip"
	RuleLoginFailuresAccount   = "login_failures_account"
	RuleRegisterIP             = "register_ip"
	RuleRegisterAccount        = "register_account"
	RuleForgotPasswordIP       = "forgot_password_ip"
	RuleForgotPasswordAccount  = "forgot_password_account"
	RuleRequestVerifyIP        = "request_verify_ip"
	RuleRequestVerifyAccount   = "request_verify_account"
	RuleVerifyIP               = "verify_ip"
	RuleVerifyAccount          = "verify_account"
	RuleResetPasswordIP        = "reset_password_ip"
	RuleResetPasswordAccount   = "reset_password_account"
	RuleRefreshIP              = "refresh_ip"
	RuleRefreshAccount         = "refresh_account"
	RuleMailPerAddress         = "mail_per_address"
)

// limitCheck is one limit applied to one subject.
type limitCheck struct {
	rule    string
	limit   Limit
	subject string // IP, account or both; "" skips the check
}

// key is the store key of a check: a digest, so that emails and addresses
// are not kept in clear in the counters' table.
func (c limitCheck) key() string {
	h := sha256.New()
	h.Write([]byte(c.rule))
	h.Write([]byte{0})
	h.Write([]byte(strconv.Itoa(c.limit.Count)))
	h.Write([]byte{0})
	h.Write([]byte(c.subject))
	return hex.EncodeToString(h.Sum(nil)[:24])
}

func (c limitCheck) skip() bool { return c.limit.Off() || c.subject == "" }

// levels returns the progressive levels of a failure limit: the limit,
// twice the count over four times the period, three times the count over
// sixteen times the period.
func levels(l Limit) []Limit {
	if l.Off() {
		return nil
	}
	return []Limit{l, {2 * l.Count, 4 * l.Period}, {3 * l.Count, 16 * l.Period}}
}

// gcra runs one step of the generic cell rate algorithm: given the stored
// theoretical arrival time, it returns the new one when the event is
// allowed, or the wait.
func gcra(tat, now time.Time, interval time.Duration, burst int) (next time.Time, retryAfter time.Duration) {
	if tat.Before(now) {
		tat = now
	}
	next = tat.Add(interval)
	if allowAt := next.Add(-time.Duration(burst) * interval); allowAt.After(now) {
		return tat, allowAt.Sub(now)
	}
	return next, 0
}

// MemoryLimitStore is a [LimitStore] in the process's memory: for a single
// instance, or tests. Several instances each keep their own counters, so
// an attacker spreading requests over them gets each instance's budget:
// use the database's store (the default) when you run more than one.
type MemoryLimitStore struct {
	mu    sync.Mutex
	tats  map[string]time.Time
	takes int
}

// NewMemoryLimitStore returns an empty MemoryLimitStore.
func NewMemoryLimitStore() *MemoryLimitStore {
	return &MemoryLimitStore{tats: map[string]time.Time{}}
}

var _ LimitStore = (*MemoryLimitStore)(nil)

// TakeLimit implements LimitStore.
func (s *MemoryLimitStore) TakeLimit(_ context.Context, key string, now time.Time, interval time.Duration, burst int) (time.Duration, error) {
	if interval < time.Millisecond || burst < 1 {
		return 0, errors.New("authn: TakeLimit needs an interval of at least 1ms and a burst of at least 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.takes++; s.takes%1024 == 0 {
		for k, t := range s.tats {
			if t.Before(now) {
				delete(s.tats, k) // at rest: the same as absent
			}
		}
	}
	next, wait := gcra(s.tats[key], now, interval, burst)
	if wait == 0 {
		s.tats[key] = next
	}
	return wait, nil
}

// PeekLimits implements LimitStore.
func (s *MemoryLimitStore) PeekLimits(_ context.Context, keys []string) ([]time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, len(keys))
	for i, k := range keys {
		out[i] = s.tats[k]
	}
	return out, nil
}

// prune deletes the counters at rest at now (a TAT before now is the same
// as none) and returns how many.
func (s *MemoryLimitStore) prune(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, t := range s.tats {
		if t.Before(now) {
			delete(s.tats, k)
			n++
		}
	}
	return n
}

// limiter applies Limits over a LimitStore.
type limiter struct {
	store  LimitStore
	limits Limits
}

// take charges one event to each check in turn and stops at the first
// that refuses it, returning a *ThrottledError.
func (l *limiter) take(ctx context.Context, now time.Time, checks ...limitCheck) error {
	for _, c := range checks {
		if c.skip() {
			continue
		}
		wait, err := l.store.TakeLimit(ctx, c.key(), now, c.limit.interval(), c.limit.Count)
		if err != nil {
			return err
		}
		if wait > 0 {
			return &ThrottledError{Rule: c.rule, RetryAfter: wait}
		}
	}
	return nil
}

// peek reports, without charging anything, the first check whose next
// event would be refused, as a *ThrottledError; nil when all would pass.
func (l *limiter) peek(ctx context.Context, now time.Time, checks ...limitCheck) (*ThrottledError, error) {
	var live []limitCheck
	var keys []string
	for _, c := range checks {
		if !c.skip() {
			live = append(live, c)
			keys = append(keys, c.key())
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	tats, err := l.store.PeekLimits(ctx, keys)
	if err != nil {
		return nil, err
	}
	for i, c := range live {
		if _, wait := gcra(tats[i], now, c.limit.interval(), c.limit.Count); wait > 0 {
			return &ThrottledError{Rule: c.rule, RetryAfter: wait}, nil
		}
	}
	return nil, nil
}

// MarshalText writes the limit as ParseLimit reads it.
func (l Limit) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads a limit with ParseLimit, so that a Limit can be a
// setting (go-envconfig, flags, JSON).
func (l *Limit) UnmarshalText(b []byte) error {
	v, err := ParseLimit(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}
