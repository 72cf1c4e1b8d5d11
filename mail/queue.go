package mail

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// ErrQueueFull: the queue holds as many messages as it may; this one is
// dropped (and logged without its token).
var ErrQueueFull = errors.New("mail: queue full")

// ErrQueueClosed: the queue no longer accepts messages.
var ErrQueueClosed = errors.New("mail: queue closed")

// Queue is a [Sender] that hands messages to a background worker and
// returns at once, so that sending never runs inside a request: a slow or
// unreachable mail server neither stalls forgot-password nor reveals, by
// the answer's timing, which accounts exist. Failures are logged with the
// message's kind and recipient domain, never its token or link.
type Queue struct {
	next    Sender
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	closed bool
	msgs   chan Message
	done   chan struct{}
}

// NewQueue starts a queue of at most size messages in front of next; each
// send may take up to timeout. Stop it with [Queue.Close].
func NewQueue(next Sender, size int, timeout time.Duration, log *slog.Logger) (*Queue, error) {
	if next == nil || size < 1 || timeout <= 0 {
		return nil, errors.New("mail: NewQueue needs a sender, a size ≥ 1 and a positive timeout")
	}
	if log == nil {
		log = slog.Default()
	}
	q := &Queue{next: next, timeout: timeout, log: log, msgs: make(chan Message, size), done: make(chan struct{})}
	go q.run()
	return q, nil
}

// Send implements Sender: it enqueues m and returns.
func (q *Queue) Send(_ context.Context, m Message) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrQueueClosed
	}
	select {
	case q.msgs <- m:
		return nil
	default:
		q.log.Error("mail dropped: queue full", "kind", m.Kind, "to_domain", domainOf(m.To))
		return ErrQueueFull
	}
}

// Warning passes on the transport's start-up warning.
func (q *Queue) Warning() string {
	if w, ok := q.next.(interface{ Warning() string }); ok {
		return w.Warning()
	}
	return ""
}

// String names the transport behind the queue.
func (q *Queue) String() string {
	if s, ok := q.next.(interface{ String() string }); ok {
		return s.String()
	}
	return "queue"
}

func (q *Queue) run() {
	defer close(q.done)
	for m := range q.msgs {
		ctx, cancel := context.WithTimeout(context.Background(), q.timeout)
		if err := q.next.Send(ctx, m); err != nil {
			q.log.Error("mail not sent", "kind", m.Kind, "to_domain", domainOf(m.To), "error", err)
		}
		cancel()
	}
}

// Close stops accepting messages and waits until the queued ones are sent
// or ctx ends.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.msgs)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
