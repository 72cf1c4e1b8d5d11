package authn

import (
	"context"
	"net/netip"
)

// Client describes who sent the request a flow runs for: what the audit
// log records, what sessions remember, and what per-IP rate limits count.
// The HTTP layer puts it in the request's context with [WithClient].
type Client struct {
	// IP is the client's address, as the server believes it (behind
	// trusted proxies only, the forwarded one). "" when unknown: per-IP
	// limits are then skipped.
	IP string
	// UserAgent is the User-Agent header.
	UserAgent string
	// RequestID identifies the request in logs (X-Request-Id).
	RequestID string
}

type clientKey struct{}

// WithClient returns ctx carrying c.
func WithClient(ctx context.Context, c Client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFromContext returns the Client in ctx, or the zero Client.
func ClientFromContext(ctx context.Context) Client {
	c, _ := ctx.Value(clientKey{}).(Client)
	return c
}

// limitIP is the part of an IP address a per-IP limit counts: the whole
// IPv4 address, and the /64 prefix of an IPv6 one, since a single client
// commonly holds a whole /64. "" stays "".
func limitIP(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a.String()
	}
	return p.String()
}

// Principal is an authenticated request: the user, as stored now, and
// the claims of the access token that authenticated it.
type Principal struct {
	User   *User
	Claims AccessClaims
}

type principalKey struct{}

// NewContext returns ctx carrying the authenticated user u and the claims
// of its token. keylin's HTTP middleware calls it for every authenticated
// request, so that anything downstream that receives the request's
// context — the application's services, ent privacy rules, GraphQL
// resolvers — can ask [FromContext] who is calling.
func NewContext(ctx context.Context, u *User, claims AccessClaims) context.Context {
	return context.WithValue(ctx, principalKey{}, Principal{User: u, Claims: claims})
}

// FromContext returns the authenticated user in ctx, or nil.
func FromContext(ctx context.Context) *User {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p.User
}

// PrincipalFromContext returns the authenticated user and token claims in
// ctx; ok is false when there are none.
func PrincipalFromContext(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok && p.User != nil
}
