package authn

import (
	"time"

	"github.com/google/uuid"
)

// User is the part of a user record authn works with: the fastapi-users
// fields plus the revocation watermark. Stores fill it from their own
// entities; application fields live in the store's entity, not here.
type User struct {
	ID             uuid.UUID
	Email          string
	HashedPassword string
	FullName       *string
	IsActive       bool
	IsSuperuser    bool
	IsVerified     bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	// TokensValidAfter, when set, invalidates every access token issued
	// before it (and every token without an iat claim). It is moved forward
	// by a password change or reset, deactivation, and logout of a token that
	// has no jti.
	TokensValidAfter *time.Time
	// Extra holds the application's own fields, in the type of the store
	// that loaded the user (for keylin's generated stores, *ent.UserExtra).
	// authn passes it through untouched.
	Extra any
}
