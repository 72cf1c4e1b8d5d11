package mail

import (
	"context"
	"net"
)

// RedirectSMTP makes the SMTP sender s, made by NewSender, connect to addr
// whatever its host, so tests can play a remote server.
func RedirectSMTP(s Sender, addr string) {
	s.(*smtpSender).dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}
