package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// fileSender appends each message to a file as one JSON object per line.
type fileSender struct {
	mu   sync.Mutex
	path string
}

// fileRecord is one line of the file transport.
type fileRecord struct {
	Kind    string    `json:"kind"`
	Email   string    `json:"email"`
	Token   string    `json:"token"`
	Link    string    `json:"link"`
	Subject string    `json:"subject"`
	To      string    `json:"to"`
	From    string    `json:"from"`
	Body    string    `json:"body"`
	HTML    string    `json:"html"`
	SentAt  time.Time `json:"sent_at"`
}

// newFileSender takes what follows "file:" in MAIL_URL: a path, or
// "///abs/path". It creates the file now so a bad path fails at start-up.
func newFileSender(rest string) (*fileSender, error) {
	path := rest
	if p, ok := strings.CutPrefix(rest, "//"); ok {
		if !strings.HasPrefix(p, "/") {
			return nil, badURL(`"file://" must be followed by an absolute path ("file:///var/mail.jsonl"); use "file:PATH" for a relative one`)
		}
		path = p
	}
	if path == "" {
		return nil, badURL(`"file:" needs a path`)
	}
	s := &fileSender{path: path}
	f, err := s.open()
	if err != nil {
		return nil, fmt.Errorf("%w: MAIL_URL: %w", ErrConfig, err)
	}
	return s, f.Close()
}

func (s *fileSender) open() (*os.File, error) {
	return os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
}

// Send appends m as one line, in a single write.
func (s *fileSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, to, err := m.addresses()
	if err != nil {
		return err
	}
	line, err := json.Marshal(fileRecord{
		Kind: m.Kind, Email: to.Address, Token: m.Token, Link: m.Link, Subject: m.Subject,
		To: m.To, From: m.From, Body: m.Body, HTML: m.HTML, SentAt: time.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("mail: file: %w", err)
	}
	line = append(line, '\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	f, err := s.open()
	if err != nil {
		return fmt.Errorf("mail: file: %w", err)
	}
	if _, err := f.Write(line); err != nil {
		f.Close()
		return fmt.Errorf("mail: file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("mail: file: %w", err)
	}
	return nil
}

func (s *fileSender) String() string { return "file:" + s.path }
