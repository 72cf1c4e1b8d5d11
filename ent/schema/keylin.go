package schema

import "github.com/keylin/keylin/ent/entkeylin"

// Session is one login (see entkeylin.Session).
type Session struct{ entkeylin.Session }

// RefreshToken is the hash of a refresh token (see entkeylin.RefreshToken).
type RefreshToken struct{ entkeylin.RefreshToken }

// RateLimit is a rate limiter counter (see entkeylin.RateLimit).
type RateLimit struct{ entkeylin.RateLimit }
