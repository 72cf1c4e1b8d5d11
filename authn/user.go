package authn

import (
	"time"

	"github.com/google/uuid"
)

// Limits of the stored user fields, shared with the Python keylin's
// SQLAlchemy model: the column sizes of the users table.
const (
	// MaxEmailLength is the size of the email column (320, the column
	// fastapi-users' SQLAlchemy model declares). It is not the longest
	// address NormalizeEmail accepts: that is email-validator's limit of
	// 254 bytes, so every stored address fits with room to spare.
	MaxEmailLength = 320
	// MaxHashedPasswordLength bounds the stored password hash, in bytes.
	MaxHashedPasswordLength = 1024
	// MaxFullNameLength bounds full_name, in characters.
	MaxFullNameLength = 255
)

// User is the part of a user record authn works with: the fastapi-users
// fields plus the revocation state. Stores fill it from their own
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
	// CredentialVersion is raised by every change that must end the
	// user's sessions (password change or reset, deactivation); a session
	// is valid only while it carries the current version.
	CredentialVersion int64
	// TokensValidAfter, when set, invalidates every access token without a
	// session (tokens made by fastapi-users) issued before it, and every
	// such token without an iat claim. It is moved forward by a password
	// change or reset, deactivation, and the logout of such a token.
	TokensValidAfter *time.Time
	// Extra holds the application's own fields, in the type of the store
	// that loaded the user (for keylin's generated stores, *ent.UserExtra).
	// authn passes it through untouched.
	Extra any
}
