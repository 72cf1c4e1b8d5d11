package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keylin/keylin/mail"
)

// slowSender blocks until released, then records or fails.
type slowSender struct {
	release chan struct{}
	fail    bool
	mu      sync.Mutex
	got     []mail.Message
}

func (s *slowSender) Send(ctx context.Context, m mail.Message) error {
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.fail {
		return errors.New("smtp: 421 service not available")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, m)
	return nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestQueue(t *testing.T) {
	t.Run("SendReturnsBeforeDelivery", func(t *testing.T) {
		s := &slowSender{release: make(chan struct{})}
		q, err := mail.NewQueue(s, 4, time.Minute, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Send(context.Background(), mail.Message{Kind: mail.KindReset, To: "a@example.com", Token: "tok"}); err != nil {
			t.Fatal(err)
		}
		// Send returned while the transport is still blocked.
		close(s.release)
		if err := q.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(s.got) != 1 {
			t.Fatalf("delivered %d messages, want 1 (Close drains)", len(s.got))
		}
		if err := q.Send(context.Background(), mail.Message{}); !errors.Is(err, mail.ErrQueueClosed) {
			t.Fatalf("send after close: %v", err)
		}
	})
	t.Run("FullAndFailuresLoggedWithoutToken", func(t *testing.T) {
		logs := &lockedBuffer{}
		s := &slowSender{release: make(chan struct{}), fail: true}
		q, err := mail.NewQueue(s, 1, time.Minute, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		var full error
		for i := 0; i < 5 && full == nil; i++ {
			full = q.Send(context.Background(), mail.Message{Kind: mail.KindReset, To: "b@example.com", Token: "secret-token-value", Link: "https://x/?token=secret-token-value"})
		}
		if !errors.Is(full, mail.ErrQueueFull) {
			t.Fatalf("a one-slot queue took 5 messages: %v", full)
		}
		close(s.release)
		if err := q.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		out := logs.String()
		if !strings.Contains(out, "mail not sent") || !strings.Contains(out, "mail dropped") || !strings.Contains(out, "to_domain=example.com") {
			t.Fatalf("logs: %s", out)
		}
		if strings.Contains(out, "secret-token-value") {
			t.Fatal("a token reached the log")
		}
	})
	t.Run("BadArguments", func(t *testing.T) {
		if _, err := mail.NewQueue(nil, 1, time.Second, nil); err == nil {
			t.Fatal("nil sender accepted")
		}
		if _, err := mail.NewQueue(&slowSender{}, 0, time.Second, nil); err == nil {
			t.Fatal("size 0 accepted")
		}
	})
}
