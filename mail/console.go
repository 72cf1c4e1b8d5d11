package mail

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// consoleSender prints each message for a developer to read.
type consoleSender struct {
	mu sync.Mutex
	w  io.Writer
}

func newConsoleSender(w io.Writer) *consoleSender {
	if w == nil {
		w = os.Stderr
	}
	return &consoleSender{w: w}
}

// Send writes m, headers and text body, between two marker lines. An HTML
// body is announced, not shown; the file transport records it.
func (s *consoleSender) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, _, err := m.addresses(); err != nil {
		return err
	}
	body := strings.TrimRight(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n")
	html := ""
	if m.HTML != "" {
		html = "HTML:    yes (not shown; MAIL_URL=file:PATH records it)\n"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := fmt.Fprintf(s.w, "----- mail (console transport, not delivered) -----\nKind:    %s\nFrom:    %s\nTo:      %s\nSubject: %s\n%s\n%s\n----- end of mail -----\n",
		m.Kind, m.From, m.To, m.Subject, html, body)
	if err != nil {
		return fmt.Errorf("mail: console: %w", err)
	}
	return nil
}

// Warning says that console mail is for development only.
func (s *consoleSender) Warning() string {
	return `MAIL_URL is "console:": mail is printed, with its tokens, instead of being delivered; use it for development only`
}

func (s *consoleSender) String() string { return "console:" }
