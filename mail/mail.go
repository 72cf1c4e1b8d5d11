package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// The kinds of message keylin sends.
const (
	KindVerify       = "verify"         // an e-mail verification link
	KindReset        = "reset"          // a reset-password link
	KindExisting     = "account_exists" // somebody tried to register with the address (no link)
	KindEmailChanged = "email_changed"  // to the old address: the account's email changed (no link)
)

var (
	// ErrConfig: a bad MAIL_URL, MAIL_FROM, VERIFY_URL, RESET_PASSWORD_URL
	// or MAIL_TEMPLATES, or a broken template ([*TemplateError]).
	// [NewSender] and [NewHooks] wrap it with the variable's name.
	ErrConfig = errors.New("mail: invalid configuration")
	// ErrInvalidMessage: a [Message] that cannot be sent safely, such as an
	// address that does not parse or a header holding a line break.
	ErrInvalidMessage = errors.New("mail: invalid message")
)

// Config is the mail settings, as read from the environment by keylin's
// config package. [NewSender] uses URL and the transport fields (Console,
// TLSConfig, DialTimeout); [NewHooks] uses them all.
type Config struct {
	// URL is MAIL_URL: "console:", "file:PATH",
	// "smtp://[user:pass@]host[:587]" or "smtps://[user:pass@]host[:465]".
	URL string
	// From is MAIL_FROM, such as "keylin@example.com" or
	// "Keylin <no-reply@example.com>".
	From string
	// VerifyURL is VERIFY_URL, the absolute http(s) link template for
	// verification mail; it must contain {token}.
	VerifyURL string
	// ResetURL is RESET_PASSWORD_URL, the absolute http(s) link template for
	// reset mail; it must contain {token}.
	ResetURL string
	// Console receives the mail of the console transport (default os.Stderr).
	Console io.Writer
	// TLSConfig is used for STARTTLS and smtps (default: the system roots);
	// its ServerName defaults to the host of URL. Tests set RootCAs here.
	TLSConfig *tls.Config
	// DialTimeout bounds connecting to the SMTP server: TCP, the TLS
	// handshake of smtps and the server's greeting (default 10s).
	DialTimeout time.Duration
	// Logger gets one line per mail sent: kind, user id and the recipient's
	// domain, never the token (default slog.Default()).
	Logger *slog.Logger
	// AppName names the service in subjects and bodies (default "keylin").
	AppName string
	// TemplateDir is MAIL_TEMPLATES: a directory of mail templates that
	// replace the built-in ones file by file; "" for the built-in ones.
	// [WithTemplates] takes an fs.FS instead.
	TemplateDir string
}

// Message is one mail to one user.
type Message struct {
	Kind    string // KindVerify, KindReset, KindExisting or KindEmailChanged
	To      string // the recipient's address
	From    string // the sender's address, as in MAIL_FROM
	Subject string
	Body    string // plain text; line endings are normalised to CRLF
	// HTML is the HTML body, or "" for a plain-text mail. With it, SMTP
	// sends multipart/alternative: Body first, then HTML.
	HTML  string
	Token string // the token carried by Link (file transport only)
	Link  string // the link holding the token
}

// Sender delivers messages. Send returns an error wrapping
// [ErrInvalidMessage] for a message that cannot be sent safely, or the
// transport's failure; its errors never hold the token.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

const acceptedURLs = `"console:", "file:PATH", "smtp://[user:pass@]host[:587]" or "smtps://[user:pass@]host[:465]"`

// NewSender returns the transport named by cfg.URL (MAIL_URL):
//
//   - "console:" writes each message, readable, to cfg.Console; its
//     Warning method (see [Hooks.Warning]) says it is for development only.
//   - "file:PATH" appends each message to PATH (created 0600) as one JSON
//     object per line with the keys kind, email, token, link, subject, to,
//     from, body, html ("" for a plain-text mail) and sent_at. PATH may be relative; "file:///abs/path" works.
//   - "smtp://[user:pass@]host[:587]" delivers over SMTP (a message with an
//     HTML body as multipart/alternative), upgrading with
//     STARTTLS when the server offers it; credentials are only sent over TLS,
//     or in the clear to localhost.
//   - "smtps://[user:pass@]host[:465]" delivers over implicit TLS.
//
// Percent-encode "@", ":" and "/" in an SMTP user or password.
// Anything else is an error wrapping [ErrConfig]; errors never show the
// password. The senders returned implement fmt.Stringer, naming the
// transport without the password, for a start-up log line.
func NewSender(cfg Config) (Sender, error) {
	scheme, rest, ok := strings.Cut(cfg.URL, ":")
	switch strings.ToLower(scheme) {
	case "console":
		if !ok || rest != "" {
			return nil, badURL(`"console:" takes nothing after the colon`)
		}
		return newConsoleSender(cfg.Console), nil
	case "file":
		return newFileSender(rest)
	case "smtp", "smtps":
		return newSMTPSender(cfg)
	}
	if !ok {
		return nil, badURL("has no scheme")
	}
	return nil, badURL(fmt.Sprintf("has the unknown scheme %q", scheme))
}

// badURL reports a bad MAIL_URL. It never includes the URL itself, which may
// hold a password.
func badURL(why string) error {
	return fmt.Errorf("%w: MAIL_URL %s; accepted forms are %s", ErrConfig, why, acceptedURLs)
}

// CheckLinkTemplate validates a link template (VERIFY_URL,
// RESET_PASSWORD_URL): an absolute http(s) URL holding {token}, where the
// query-escaped token goes. Its error says what is wrong, without the
// variable's name.
func CheckLinkTemplate(tmpl string) error {
	if !strings.Contains(tmpl, "{token}") {
		return fmt.Errorf("must contain {token}, where the token goes (got %q)", tmpl)
	}
	u, err := url.Parse(strings.ReplaceAll(tmpl, "{token}", "TOKEN"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL (got %q)", tmpl)
	}
	return nil
}

// CheckFrom validates a sender address (MAIL_FROM): "keylin@example.com"
// or "Keylin <keylin@example.com>", on one line.
func CheckFrom(from string) error {
	if _, err := mail.ParseAddress(from); err != nil || strings.ContainsAny(from, "\r\n") {
		return fmt.Errorf(`must be an address such as "keylin@example.com" or "Keylin <keylin@example.com>" (got %q)`, from)
	}
	return nil
}

// checkTemplate is CheckLinkTemplate with the variable's name.
func checkTemplate(name, tmpl string) error {
	if err := CheckLinkTemplate(tmpl); err != nil {
		return fmt.Errorf("%w: %s %w", ErrConfig, name, err)
	}
	return nil
}

// link puts the query-escaped token in place of {token}.
func link(tmpl, token string) string {
	return strings.ReplaceAll(tmpl, "{token}", url.QueryEscape(token))
}

// addresses checks m's headers and returns its parsed sender and recipient.
func (m Message) addresses() (from, to *mail.Address, err error) {
	for _, h := range []struct{ name, v string }{{"From", m.From}, {"To", m.To}, {"Subject", m.Subject}} {
		if strings.ContainsAny(h.v, "\r\n\x00") {
			return nil, nil, fmt.Errorf("%w: line break in %s", ErrInvalidMessage, h.name)
		}
	}
	if from, err = mail.ParseAddress(m.From); err != nil {
		return nil, nil, fmt.Errorf("%w: From: %v", ErrInvalidMessage, err)
	}
	if to, err = mail.ParseAddress(m.To); err != nil {
		return nil, nil, fmt.Errorf("%w: To: %v", ErrInvalidMessage, err)
	}
	return from, to, nil
}

// format renders m as an RFC 5322 message with CRLF line endings: a
// quoted-printable UTF-8 text body, or, when m has an HTML body,
// multipart/alternative with the text part first and the HTML part second,
// both quoted-printable UTF-8.
func (m Message) format(from, to *mail.Address, now time.Time) []byte {
	var b bytes.Buffer
	domain := domainOf(from.Address)
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", from.String())
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+strings.ToLower(rand.Text())+"@"+domain+">")
	header("MIME-Version", "1.0")
	if m.HTML == "" {
		header("Content-Type", textPlain)
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		writeQP(&b, m.Body)
		return b.Bytes()
	}
	mw := multipart.NewWriter(&b) // writes nothing before CreatePart
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{{textPlain, m.Body}, {textHTML, m.HTML}} {
		w, _ := mw.CreatePart(textproto.MIMEHeader{ // writes to a bytes.Buffer do not fail
			"Content-Type":              {p.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		writeQP(w, p.body)
	}
	_ = mw.Close()
	return b.Bytes()
}

const (
	textPlain = "text/plain; charset=utf-8"
	textHTML  = "text/html; charset=utf-8"
)

// writeQP writes body quoted-printable, with CRLF line endings and a final
// line break.
func writeQP(w io.Writer, body string) {
	qp := quotedprintable.NewWriter(w)
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	_, _ = qp.Write([]byte(body)) // writes to a bytes.Buffer do not fail
	_ = qp.Close()
}
