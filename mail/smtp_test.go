package mail_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keylin/keylin/mail"
)

const (
	smtpUser = "mailer"
	smtpPass = "pa:ss/word" // percent-encoded in URLs
)

// smtpOptions say how an smtpServer behaves.
type smtpOptions struct {
	StartTLS    bool // offer STARTTLS
	ImplicitTLS bool // smtps: TLS from the first byte
	Auth        bool // offer AUTH PLAIN and require it before MAIL
	RefuseRcpt  bool // answer 550 to RCPT
}

// smtpServer is a minimal SMTP server for one test: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT.
type smtpServer struct {
	smtpOptions
	addr string
	cert *tls.Config

	mu  sync.Mutex
	got []received
}

// received is one message the server accepted.
type received struct {
	From, To    string // the MAIL and RCPT arguments
	TLS, Authed bool
	Data        string // as sent, with CRLF line endings, dots unstuffed
}

// StartSMTP starts a server on 127.0.0.1:0 with a fresh self-signed
// certificate; the pool trusts it.
func StartSMTP(t *testing.T, o smtpOptions) (*smtpServer, *x509.CertPool) {
	t.Helper()
	cert, pool := testCertificate(t)
	s := &smtpServer{smtpOptions: o, cert: &tls.Config{Certificates: []tls.Certificate{cert}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { s.serve(c) })
		}
	})
	return s, pool
}

// Received returns the messages accepted so far.
func (s *smtpServer) Received() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

func (s *smtpServer) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	isTLS, authed := false, false
	if s.ImplicitTLS {
		conn, isTLS = tls.Server(conn, s.cert), true
	}
	tc := textproto.NewConn(conn)
	reply := func(format string, args ...any) { _ = tc.PrintfLine(format, args...) }
	reply("220 test ESMTP")
	var r received
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			exts := []string{"test"}
			if s.StartTLS && !isTLS {
				exts = append(exts, "STARTTLS")
			}
			if s.Auth {
				exts = append(exts, "AUTH PLAIN")
			}
			for i, e := range exts {
				sep := "-"
				if i == len(exts)-1 {
					sep = " "
				}
				reply("250%s%s", sep, e)
			}
		case "STARTTLS":
			if !s.StartTLS || isTLS {
				reply("502 no")
				continue
			}
			reply("220 go ahead")
			tlsConn := tls.Server(conn, s.cert)
			if err := tlsConn.Handshake(); err != nil {
				return
			}
			conn, isTLS = tlsConn, true
			tc = textproto.NewConn(conn)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			if !s.Auth || mech != "PLAIN" || string(b) != "\x00"+smtpUser+"\x00"+smtpPass {
				reply("535 5.7.8 authentication failed")
				continue
			}
			authed = true
			reply("235 2.7.0 authenticated")
		case "MAIL":
			if s.Auth && !authed {
				reply("530 5.7.0 authentication required")
				continue
			}
			r = received{From: arg, TLS: isTLS, Authed: authed}
			reply("250 ok")
		case "RCPT":
			if s.RefuseRcpt {
				reply("550 5.1.1 no such user")
				continue
			}
			r.To = arg
			reply("250 ok")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			var data strings.Builder
			for {
				l, err := tc.R.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			r.Data = data.String()
			s.mu.Lock()
			s.got = append(s.got, r)
			s.mu.Unlock()
			reply("250 queued")
		case "RSET", "NOOP":
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 unknown command")
		}
	}
}

// testCertificate makes a self-signed ECDSA certificate for 127.0.0.1 and
// localhost.
func testCertificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keylin test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func testMessage(token string) mail.Message {
	link := "https://app.example.com/reset-password?token=" + token
	return mail.Message{
		Kind:    mail.KindReset,
		To:      "alice@example.com",
		From:    "Kéylin <keylin@example.com>",
		Subject: "Réinitialisez votre mot de passe",
		Body:    "Hello,\n\nOpen this link:\n\n" + link + "\n",
		Token:   token,
		Link:    link,
	}
}

func TestSMTP(t *testing.T) {
	userinfo := smtpUser + ":" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(smtpPass) + "@"
	for _, tt := range []struct {
		name       string
		server     smtpOptions
		url        string // HOST is the server's host:port
		trust      bool   // trust the test certificate (else trust nothing)
		remote     string // when set, the URL's host:port, redirected to the server
		wantTLS    bool
		wantAuthed bool
		wantErr    string // "" for success
	}{
		{name: "STARTTLSWithAuth", server: smtpOptions{StartTLS: true, Auth: true}, url: "smtp://" + userinfo + "HOST", trust: true, wantTLS: true, wantAuthed: true},
		{name: "STARTTLSWithoutAuth", server: smtpOptions{StartTLS: true}, url: "smtp://HOST", trust: true, wantTLS: true},
		{name: "ImplicitTLSWithAuth", server: smtpOptions{ImplicitTLS: true, Auth: true}, url: "smtps://" + userinfo + "HOST", trust: true, wantTLS: true, wantAuthed: true},
		{name: "PlaintextLocalhost", server: smtpOptions{}, url: "smtp://HOST"},
		{name: "PlaintextAuthLocalhost", server: smtpOptions{Auth: true}, url: "smtp://" + userinfo + "HOST", wantAuthed: true},
		{name: "WrongPassword", server: smtpOptions{StartTLS: true, Auth: true}, url: "smtp://" + smtpUser + ":badsecret@HOST", trust: true, wantErr: "AUTH"},
		{name: "RefusedRecipient", server: smtpOptions{StartTLS: true, RefuseRcpt: true}, url: "smtp://HOST", trust: true, wantErr: "RCPT"},
		{name: "UntrustedCertificate", server: smtpOptions{StartTLS: true}, url: "smtp://HOST", wantErr: "STARTTLS"},
		{name: "UntrustedImplicitTLS", server: smtpOptions{ImplicitTLS: true}, url: "smtps://HOST", wantErr: "certificate"},
		{name: "NoAUTHOffered", server: smtpOptions{StartTLS: true}, url: "smtp://" + userinfo + "HOST", trust: true, wantErr: "no AUTH"},
		{name: "RemotePlaintextAuthRefused", server: smtpOptions{Auth: true}, url: "smtp://" + userinfo + "HOST", remote: "mail.example.com:25", wantErr: "unencrypted"},
		{name: "RemotePlaintextWithoutAuth", server: smtpOptions{}, url: "smtp://HOST", remote: "mail.example.com:25"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, pool := StartSMTP(t, tt.server)
			cfg := mail.Config{DialTimeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
			if tt.trust {
				cfg.TLSConfig.RootCAs = pool
			}
			target := srv.addr
			if tt.remote != "" {
				target = tt.remote
			}
			cfg.URL = strings.Replace(tt.url, "HOST", target, 1)
			s, err := mail.NewSender(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.remote != "" {
				mail.RedirectSMTP(s, srv.addr)
			}

			const token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWxvbmctZW5vdWdoLXRvLXdyYXA"
			m := testMessage(token)
			err = s.Send(context.Background(), m)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Send = %v, want an error about %s", err, tt.wantErr)
				}
				for _, secret := range []string{token, "badsecret", smtpPass} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q holds %q", err, secret)
					}
				}
				if got := srv.Received(); len(got) != 0 {
					t.Errorf("server received %d messages", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := srv.Received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			r := got[0]
			if r.TLS != tt.wantTLS || r.Authed != tt.wantAuthed {
				t.Errorf("TLS=%v Authed=%v, want %v %v", r.TLS, r.Authed, tt.wantTLS, tt.wantAuthed)
			}
			if r.From != "FROM:<keylin@example.com>" || r.To != "TO:<alice@example.com>" {
				t.Errorf("envelope = %q %q", r.From, r.To)
			}
			CheckMessage(t, r.Data, m)
		})
	}
}

// CheckMessage checks that data is m as an RFC 5322 message.
func CheckMessage(t *testing.T, data string, m mail.Message) {
	t.Helper()
	if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") {
		t.Errorf("message has a bare LF:\n%q", data)
	}
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, data)
	}
	h := msg.Header
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, m.Subject)
	}
	if !strings.HasPrefix(h.Get("Subject"), "=?utf-8?q?") {
		t.Errorf("Subject %q is not Q-encoded", h.Get("Subject"))
	}
	if from, err := h.AddressList("From"); err != nil || len(from) != 1 || from[0].Name != "Kéylin" || from[0].Address != "keylin@example.com" {
		t.Errorf("From = %q (%v)", h.Get("From"), err)
	}
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "alice@example.com" {
		t.Errorf("To = %q (%v)", h.Get("To"), err)
	}
	if d, err := h.Date(); err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date = %q (%v)", h.Get("Date"), err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID = %q", id)
	}
	for k, want := range map[string]string{
		"MIME-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(m.Body, "\n", "\r\n"); string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	if !strings.Contains(string(body), m.Link) {
		t.Errorf("body lacks the link %q", m.Link)
	}
}

// TestSMTPMultipart: a message with an HTML body goes out as
// multipart/alternative, the text part first, each part quoted-printable
// UTF-8 and decoding to the body sent; a message without one stays a
// single text part (TestSMTP).
func TestSMTPMultipart(t *testing.T) {
	srv, pool := StartSMTP(t, smtpOptions{StartTLS: true})
	s, err := mail.NewSender(mail.Config{URL: "smtp://" + srv.addr, DialTimeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln")
	m.HTML = "<!DOCTYPE html>\n<html lang=\"fr\"><body>\n<p>Bonjour Zoë,</p>\n<p><a href=\"" + strings.ReplaceAll(m.Link, "&", "&amp;") +
		"\" style=\"display:inline-block;padding:12px 20px;background:#1a56db;color:#ffffff;text-decoration:none\">Réinitialiser</a></p>\n" +
		"<p>--" + strings.Repeat("=", 80) + "</p>\n</body></html>\n"
	if err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	data := got[0].Data
	if strings.Contains(strings.ReplaceAll(data, "\r\n", ""), "\n") {
		t.Errorf("message has a bare LF:\n%q", data)
	}
	for line := range strings.SplitSeq(data, "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
	}
	msg, err := netmail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if v := msg.Header.Get("MIME-Version"); v != "1.0" {
		t.Errorf("MIME-Version = %q", v)
	}
	var dec mime.WordDecoder
	if subject, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || subject != m.Subject {
		t.Errorf("Subject = %q (%v)", subject, err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q (%v)", msg.Header.Get("Content-Type"), err)
	}
	if cte := msg.Header.Get("Content-Transfer-Encoding"); cte != "" {
		t.Errorf("multipart message with Content-Transfer-Encoding %q", cte)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for i, want := range []struct{ ctype, body string }{
		{"text/plain; charset=utf-8", m.Body},
		{"text/html; charset=utf-8", m.HTML},
	} {
		p, err := mr.NextRawPart() // raw: check the encoding as sent
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if ct := p.Header.Get("Content-Type"); ct != want.ctype {
			t.Errorf("part %d: Content-Type = %q, want %q", i, ct, want.ctype)
		}
		if cte := p.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
			t.Errorf("part %d: Content-Transfer-Encoding = %q", i, cte)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		// The bodies end with a line break, which the part keeps: the CRLF
		// before the next boundary belongs to the boundary.
		if w := strings.ReplaceAll(want.body, "\n", "\r\n"); string(body) != w {
			t.Errorf("part %d = %q, want %q", i, body, w)
		}
	}
	if _, err := mr.NextRawPart(); err != io.EOF {
		t.Errorf("a third part: %v", err)
	}
}

func TestSMTPUnreachable(t *testing.T) {
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	// A server that accepts and never greets.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { silent.Close(); wg.Wait() })
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})

	for _, tt := range []struct {
		name, url   string
		dialTimeout time.Duration
		ctxTimeout  time.Duration // 0 for none
		wantCtxErr  bool
	}{
		{name: "Down", url: "smtp://" + down, dialTimeout: 500 * time.Millisecond},
		{name: "SilentDialTimeout", url: "smtp://" + silent.Addr().String(), dialTimeout: 200 * time.Millisecond},
		{name: "SilentImplicitTLS", url: "smtps://" + silent.Addr().String(), dialTimeout: 200 * time.Millisecond},
		{name: "SilentContextDeadline", url: "smtp://" + silent.Addr().String(), dialTimeout: time.Minute, ctxTimeout: 200 * time.Millisecond, wantCtxErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mail.NewSender(mail.Config{URL: tt.url, DialTimeout: tt.dialTimeout})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			err = s.Send(ctx, testMessage("tok"))
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if el := time.Since(start); el > 3*time.Second {
				t.Errorf("Send took %v", el)
			}
			if tt.wantCtxErr && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Send = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}
