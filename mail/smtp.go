package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sessionTimeout bounds an SMTP exchange once connected, when ctx allows
// longer.
const sessionTimeout = time.Minute

// smtpSender delivers each message over its own SMTP connection.
type smtpSender struct {
	host, port  string
	implicitTLS bool // smtps
	user, pass  string
	auth        bool // credentials were given
	tlsConfig   *tls.Config
	dialTimeout time.Duration
	// dial is net.Dialer.DialContext; tests redirect it.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newSMTPSender(cfg Config) (*smtpSender, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, badURL("is not a valid URL") // err would show the password
	}
	s := &smtpSender{
		host:        u.Hostname(),
		port:        u.Port(),
		implicitTLS: strings.EqualFold(u.Scheme, "smtps"),
		tlsConfig:   cfg.TLSConfig,
		dialTimeout: cfg.DialTimeout,
		dial:        (&net.Dialer{}).DialContext,
	}
	switch {
	case u.Opaque != "":
		return nil, badURL(`must start with "smtp://" or "smtps://"`)
	case s.host == "":
		return nil, badURL("has no host")
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return nil, badURL("takes no path, query or fragment")
	}
	if s.port == "" {
		s.port = "587"
		if s.implicitTLS {
			s.port = "465"
		}
	}
	if p, err := strconv.Atoi(s.port); err != nil || p < 1 || p > 65535 {
		return nil, badURL("has a bad port")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
		s.auth = s.user != ""
	}
	if s.dialTimeout <= 0 {
		s.dialTimeout = 10 * time.Second
	}
	return s, nil
}

func (s *smtpSender) addr() string { return net.JoinHostPort(s.host, s.port) }

func (s *smtpSender) String() string {
	u := url.URL{Scheme: "smtp", Host: s.addr()}
	if s.implicitTLS {
		u.Scheme = "smtps"
	}
	if s.auth {
		u.User = url.User(s.user)
	}
	return u.String()
}

func (s *smtpSender) tlsFor() *tls.Config {
	c := &tls.Config{}
	if s.tlsConfig != nil {
		c = s.tlsConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.host
	}
	return c
}

// Send connects, upgrades to TLS (smtps, or STARTTLS when offered),
// authenticates when credentials were given, and delivers m. It fails
// rather than send credentials in the clear to a host other than localhost.
func (s *smtpSender) Send(ctx context.Context, m Message) error {
	from, to, err := m.addresses()
	if err != nil {
		return err
	}
	msg := m.format(from, to, time.Now())
	if err := s.send(ctx, from.Address, to.Address, msg); err != nil {
		if cerr := ctxErr(ctx); cerr != nil {
			err = cerr // the connection's deadline came from ctx
		}
		return fmt.Errorf("mail: smtp %s: %w", s.addr(), err)
	}
	return nil
}

// ctxErr is ctx.Err(), or context.DeadlineExceeded from ctx's deadline on,
// even before ctx's own timer fires.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

func (s *smtpSender) send(ctx context.Context, from, to string, msg []byte) error {
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	_ = conn.SetDeadline(earliest(ctx, s.dialTimeout))
	c, err := smtp.NewClient(conn, s.host) // reads the greeting
	if err != nil {
		return err
	}
	defer c.Close()
	_ = conn.SetDeadline(earliest(ctx, sessionTimeout))
	if err := ctx.Err(); err != nil { // cancelled before the new deadline was set
		return err
	}

	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsFor()); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		}
	}
	if s.auth {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !isLoopback(s.host) {
			return errors.New("the server offers no STARTTLS: refusing to send credentials over an unencrypted connection")
		}
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("credentials given but the server offers no AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

// connect dials the server, with the TLS handshake for smtps, within the
// dial timeout.
func (s *smtpSender) connect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, s.dialTimeout)
	defer cancel()
	conn, err := s.dial(ctx, "tcp", s.addr())
	if err != nil || !s.implicitTLS {
		return conn, err
	}
	tc := tls.Client(conn, s.tlsFor())
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// earliest is now+d, or ctx's deadline when that is sooner.
func earliest(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		return dl
	}
	return t
}

// isLoopback reports whether host is localhost or a loopback address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
