package httpapi

import (
	"sync/atomic"
	"time"
)

// sampledLogInterval is how often at most a sampledLog lets a line through.
const sampledLogInterval = 10 * time.Second

// sampledLog lets one log line through per interval and counts the ones
// it holds back, so that a flood of the same event (a 503 for each of
// thousands of refused logins) does not flood the log too. The request
// log still has a line per request; metrics count every answer.
type sampledLog struct {
	next       atomic.Int64 // Unix nanoseconds before which lines are held back
	suppressed atomic.Int64 // lines held back since the last one let through
}

// allow reports whether a line may be written now and, if so, how many
// were held back since the last one.
func (s *sampledLog) allow(now time.Time) (ok bool, suppressed int64) {
	n := s.next.Load()
	if now.UnixNano() < n || !s.next.CompareAndSwap(n, now.Add(sampledLogInterval).UnixNano()) {
		s.suppressed.Add(1)
		return false, 0
	}
	return true, s.suppressed.Swap(0)
}
