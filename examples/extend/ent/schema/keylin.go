package schema

import "github.com/keylin/keylin/ent/entkeylin"

// keylin's own entities: sessions, refresh tokens and rate limiter
// counters, in tables of their own (keylin_*).
type (
	Session      struct{ entkeylin.Session }
	RefreshToken struct{ entkeylin.RefreshToken }
	RateLimit    struct{ entkeylin.RateLimit }
)
