package mail_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keylin/keylin/mail"
)

func TestNewSender(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // file:relative creates ./relative
	const password = "s3cret"
	for _, tt := range []struct {
		name, url string
		want      string // the sender's String(); "" when an error is expected
	}{
		{"Console", "console:", "console:"},
		{"ConsoleUpperCase", "CONSOLE:", "console:"},
		{"ConsoleWithPath", "console:stderr", ""},
		{"FileAbsolute", "file:" + dir + "/a.jsonl", "file:" + dir + "/a.jsonl"},
		{"FileTripleSlash", "file://" + dir + "/b.jsonl", "file:" + dir + "/b.jsonl"},
		{"FileRelative", "file:relative", "file:relative"},
		{"FileEmpty", "file:", ""},
		{"FileWithHost", "file://host/x.jsonl", ""},
		{"FileMissingDir", "file:" + dir + "/no/such/dir/x.jsonl", ""},
		{"SMTPWithAuth", "smtp://u:" + password + "@h:25", "smtp://u@h:25"},
		{"SMTPDefaultPort", "smtp://h", "smtp://h:587"},
		{"SMTPIPv6", "smtp://[::1]:2525", "smtp://[::1]:2525"},
		{"SMTPSDefaultPort", "smtps://h", "smtps://h:465"},
		{"SMTPSWithAuth", "smtps://u:" + password + "@h", "smtps://u@h:465"},
		{"SMTPBadPort", "smtp://u:" + password + "@h:port", ""},
		{"SMTPPortZero", "smtp://u:" + password + "@h:0", ""},
		{"SMTPNoHost", "smtp://u:" + password + "@:25", ""},
		{"SMTPPath", "smtp://u:" + password + "@h:25/x", ""},
		{"SMTPQuery", "smtp://u:" + password + "@h:25?tls=no", ""},
		{"SMTPOpaque", "smtp:u:" + password + "@h", ""},
		{"UnknownScheme", "http://u:" + password + "@h", ""},
		{"NoScheme", password, ""},
		{"Empty", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSender(mail.Config{URL: tt.url})
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NewSender(%q) = %v, want an error", tt.url, s)
				}
				if !errors.Is(err, mail.ErrConfig) {
					t.Errorf("error %q does not wrap ErrConfig", err)
				}
				if !strings.Contains(err.Error(), "MAIL_URL") {
					t.Errorf("error %q does not name MAIL_URL", err)
				}
				if strings.Contains(err.Error(), password) {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSender(%q): %v", tt.url, err)
			}
			if got := fmt.Sprint(s); got != tt.want {
				t.Errorf("NewSender(%q) = %q, want %q", tt.url, got, tt.want)
			}
		})
	}
}

func TestNewHooksValidation(t *testing.T) {
	valid := mail.Config{
		URL:       "console:",
		From:      "Keylin <keylin@example.com>",
		VerifyURL: "https://app.example.com/verify?token={token}",
		ResetURL:  "http://localhost:8000/reset/{token}",
	}
	for _, tt := range []struct {
		name    string
		edit    func(*mail.Config)
		wantErr string // the variable named by the error; "" for none
	}{
		{"Valid", func(*mail.Config) {}, ""},
		{"VerifyWithoutToken", func(c *mail.Config) { c.VerifyURL = "https://app.example.com/verify" }, "VERIFY_URL"},
		{"ResetWithoutToken", func(c *mail.Config) { c.ResetURL = "https://app.example.com/reset?t={tok}" }, "RESET_PASSWORD_URL"},
		{"VerifyRelative", func(c *mail.Config) { c.VerifyURL = "/verify?token={token}" }, "VERIFY_URL"},
		{"ResetNotHTTP", func(c *mail.Config) { c.ResetURL = "ftp://example.com/{token}" }, "RESET_PASSWORD_URL"},
		{"ResetNoHost", func(c *mail.Config) { c.ResetURL = "https:///reset?token={token}" }, "RESET_PASSWORD_URL"},
		{"VerifyEmpty", func(c *mail.Config) { c.VerifyURL = "" }, "VERIFY_URL"},
		{"FromEmpty", func(c *mail.Config) { c.From = "" }, "MAIL_FROM"},
		{"FromNotAnAddress", func(c *mail.Config) { c.From = "keylin" }, "MAIL_FROM"},
		{"FromInjection", func(c *mail.Config) { c.From = "a@example.com\r\nBcc: b@example.com" }, "MAIL_FROM"},
		{"BadURL", func(c *mail.Config) { c.URL = "pigeon:" }, "MAIL_URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.edit(&cfg)
			_, err := mail.NewHooks(cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("NewHooks: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("NewHooks succeeded, want an error naming %s", tt.wantErr)
			case tt.wantErr != "" && (!errors.Is(err, mail.ErrConfig) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %q: want ErrConfig naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestSendRejectsHeaderInjection(t *testing.T) {
	good := mail.Message{Kind: mail.KindReset, To: "alice@example.com", From: "keylin@example.com", Subject: "Reset", Body: "hi"}
	senders := map[string]mail.Sender{
		"Console": MustNewSender(t, "console:", &bytes.Buffer{}),
		"File":    MustNewSender(t, "file:"+filepath.Join(t.TempDir(), "mail.jsonl"), nil),
	}
	for _, tt := range []struct {
		name string
		edit func(*mail.Message)
	}{
		{"ToWithCRLF", func(m *mail.Message) { m.To = "alice@example.com\r\nBcc: eve@example.com" }},
		{"ToWithLF", func(m *mail.Message) { m.To = "alice@example.com\nBcc: eve@example.com" }},
		{"FromWithCR", func(m *mail.Message) { m.From = "keylin@example.com\rBcc: eve@example.com" }},
		{"SubjectWithLF", func(m *mail.Message) { m.Subject = "Reset\nBcc: eve@example.com" }},
		{"ToNotAnAddress", func(m *mail.Message) { m.To = "alice" }},
	} {
		for name, s := range senders {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				m := good
				tt.edit(&m)
				if err := s.Send(context.Background(), m); !errors.Is(err, mail.ErrInvalidMessage) {
					t.Fatalf("Send = %v, want ErrInvalidMessage", err)
				}
			})
		}
	}
}

func TestConsole(t *testing.T) {
	var out bytes.Buffer
	h := MustNewHooks(t, mail.Config{URL: "console:", Console: &out})
	if err := h.AfterRequestVerify(context.Background(), testUser(), "tok.en"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"https://app.example.com/verify?token=tok.en", "To:      alice@example.com", "Subject: Verify your e-mail address for keylin"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console output lacks %q:\n%s", want, out.String())
		}
	}
	if h.Warning() == "" {
		t.Error("console transport: Warning() is empty")
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mail.jsonl")
	h := MustNewHooks(t, mail.Config{URL: "file:" + path})
	if w := h.Warning(); w != "" {
		t.Errorf("file transport: Warning() = %q, want none", w)
	}

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := h.AfterForgotPassword(context.Background(), testUser(), fmt.Sprintf("token-%d", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode = %v, want 0600", perm)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tokens := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"kind", "email", "token", "link", "subject", "to", "from", "body", "sent_at"} {
			if s, _ := rec[k].(string); s == "" {
				t.Errorf("line %q: no %q", sc.Text(), k)
			}
		}
		tok, _ := rec["token"].(string)
		tokens[tok] = true
		if rec["kind"] != "reset" || rec["email"] != "alice@example.com" || rec["link"] != "https://app.example.com/reset?token="+tok {
			t.Errorf("line %q: wrong kind, email or link", sc.Text())
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(tokens) != n {
		t.Errorf("got %d distinct tokens, want %d", len(tokens), n)
	}
}

// MustNewSender returns the sender of url, writing console mail to w.
func MustNewSender(tb testing.TB, url string, w *bytes.Buffer) mail.Sender {
	tb.Helper()
	cfg := mail.Config{URL: url}
	if w != nil {
		cfg.Console = w
	}
	s, err := mail.NewSender(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
