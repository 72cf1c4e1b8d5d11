package mail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/mail"
)

// recorder is a Sender that keeps the messages, or fails with err.
type recorder struct {
	mu   sync.Mutex
	sent []mail.Message
	err  error
}

func (r *recorder) Send(_ context.Context, m mail.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.sent = append(r.sent, m)
	return nil
}

func testUser() *authn.User {
	return &authn.User{ID: uuid.MustParse("5b0d3c9e-8f4a-4e55-9d1c-0a6f2d7e8b11"), Email: "alice@example.com", IsActive: true}
}

// MustNewHooks returns hooks from cfg, filling in From, VerifyURL,
// ResetURL and Logger when they are empty.
func MustNewHooks(tb testing.TB, cfg mail.Config, opts ...mail.Option) *mail.Hooks {
	tb.Helper()
	if cfg.From == "" {
		cfg.From = "Keylin <keylin@example.com>"
	}
	if cfg.VerifyURL == "" {
		cfg.VerifyURL = "https://app.example.com/verify?token={token}"
	}
	if cfg.ResetURL == "" {
		cfg.ResetURL = "https://app.example.com/reset?token={token}"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := mail.NewHooks(cfg, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestHooksMessages(t *testing.T) {
	const token = "a b&c/+=.x"
	const escaped = "a+b%26c%2F%2B%3D.x"
	for _, tt := range []struct {
		name        string
		call        func(*mail.Hooks) error
		kind        string
		wantLink    string
		wantSubject string
	}{
		{"AfterForgotPassword", func(h *mail.Hooks) error {
			return h.AfterForgotPassword(context.Background(), testUser(), token)
		}, mail.KindReset, "https://app.example.com/reset?token=" + escaped, "Reset your keylin password"},
		{"AfterRequestVerify", func(h *mail.Hooks) error {
			return h.AfterRequestVerify(context.Background(), testUser(), token)
		}, mail.KindVerify, "https://app.example.com/verify?token=" + escaped, "Verify your e-mail address for keylin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			h := MustNewHooks(t, mail.Config{}, mail.WithSender(r))
			if err := tt.call(h); err != nil {
				t.Fatal(err)
			}
			if len(r.sent) != 1 {
				t.Fatalf("sent %d messages, want 1", len(r.sent))
			}
			m := r.sent[0]
			if m.Kind != tt.kind || m.To != "alice@example.com" || m.From != "Keylin <keylin@example.com>" ||
				m.Token != token || m.Link != tt.wantLink || m.Subject != tt.wantSubject {
				t.Errorf("message = %+v", m)
			}
			if !strings.Contains(m.Body, tt.wantLink) {
				t.Errorf("body lacks the link:\n%s", m.Body)
			}
		})
	}
}

// TestHooksNotices: the two notices without a link go to the right
// address and say what happened.
func TestHooksNotices(t *testing.T) {
	r := &recorder{}
	h := MustNewHooks(t, mail.Config{}, mail.WithSender(r))
	u := testUser()
	if err := h.AfterRegisterExisting(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	moved := *u
	moved.Email = "alice@new.example.org"
	if err := h.AfterEmailChanged(context.Background(), &moved, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if len(r.sent) != 2 {
		t.Fatalf("sent %d messages, want 2", len(r.sent))
	}
	for i, want := range []struct{ kind, to, says string }{
		{mail.KindExisting, "alice@example.com", "already has one"},
		{mail.KindEmailChanged, "alice@example.com", "was changed"},
	} {
		m := r.sent[i]
		if m.Kind != want.kind || m.To != want.to || !strings.Contains(m.Body, want.says) || m.Link != "" || m.Token != "" {
			t.Errorf("message %d = %+v, want kind %s to %s saying %q, no link", i, m, want.kind, want.to, want.says)
		}
	}
	t.Run("NilOption", func(t *testing.T) {
		if _, err := mail.NewHooks(mail.Config{From: "a@example.com", VerifyURL: "http://h/{token}", ResetURL: "http://h/{token}"}, mail.WithSender(nil)); err == nil {
			t.Error("NewHooks accepted a nil sender")
		}
	})
}

func TestHooksSendFailure(t *testing.T) {
	const token = "SECRET-TOKEN-123"
	boom := errors.New("boom")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := &recorder{}
	h := MustNewHooks(t, mail.Config{Logger: logger}, mail.WithSender(r))

	// A success logs a line, without the token.
	if err := h.AfterForgotPassword(context.Background(), testUser(), token); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "mail sent") || !strings.Contains(logs.String(), "example.com") {
		t.Errorf("log lacks the sent line:\n%s", logs.String())
	}

	r.err = boom
	err := h.AfterForgotPassword(context.Background(), testUser(), token)
	if !errors.Is(err, boom) {
		t.Fatalf("AfterForgotPassword = %v, want boom", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q holds the token", err)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("log holds the token:\n%s", logs.String())
	}
}
