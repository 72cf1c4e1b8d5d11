package authn

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Store is the storage authn needs. keylin's generated ent package provides
// one (ent.NewAuthnStore); an application's ent package generated with
// keylin's extension provides one over the application's own client.
//
// Emails are matched ignoring case, and their uniqueness is enforced by the
// database, so that concurrent writers — keylin instances or Python services
// on the same table — can never create two users for one address.
type Store interface {
	// GetUserByID returns ErrUserNotFound when no user has the id.
	GetUserByID(ctx context.Context, id uuid.UUID) (*User, error)
	// GetUserByEmail matches the email ignoring case. It returns
	// ErrUserNotFound when no user has it.
	GetUserByEmail(ctx context.Context, email string) (*User, error)
	// GetUserForToken loads the user an access token names and reports
	// whether the token's jti is revoked, in one database round trip. jti
	// may be empty (tokens made by fastapi-users have none): revoked is then
	// false. It returns ErrUserNotFound when no user has the id.
	GetUserForToken(ctx context.Context, id uuid.UUID, jti string) (u *User, revoked bool, err error)
	// CreateUser inserts a user. ID, CreatedAt and UpdatedAt are filled in
	// when zero. It returns ErrUserAlreadyExists when the email is taken in
	// any letter case. extra carries the application's own fields in the
	// generated store's type; nil means none.
	CreateUser(ctx context.Context, u *User, extra any) (*User, error)
	// UpdateUser applies the set fields of ch in one statement. It returns
	// ErrUserNotFound (also when ch.IfHashedPassword does not match), or
	// ErrEmailAlreadyExists when the new email is taken in any case.
	UpdateUser(ctx context.Context, id uuid.UUID, ch UserChanges) (*User, error)
	// DeleteUser deletes the user and its revoked-token records. It returns
	// ErrUserNotFound when no user has the id.
	DeleteUser(ctx context.Context, id uuid.UUID) error
	// ListUsers returns one page of users, oldest first, and the total
	// number of users.
	ListUsers(ctx context.Context, p ListParams) ([]*User, int, error)
	// RevokeToken records the access token jti of user as revoked until
	// expiresAt. Revoking a token twice is not an error.
	RevokeToken(ctx context.Context, jti string, user uuid.UUID, expiresAt time.Time) error
	// PruneRevokedTokens deletes revocation records of tokens that expired
	// before the given instant and returns how many it deleted.
	PruneRevokedTokens(ctx context.Context, before time.Time) (int, error)
}

// UserChanges are the stored fields an update sets; nil fields are left
// alone. FullName is set (possibly to NULL) when SetFullName is true.
type UserChanges struct {
	Email            *string
	HashedPassword   *string
	SetFullName      bool
	FullName         *string
	IsActive         *bool
	IsSuperuser      *bool
	IsVerified       *bool
	TokensValidAfter *time.Time
	// Extra carries the application's own fields in the generated store's
	// type; nil means none.
	Extra any
	// IfHashedPassword, when set, makes the update conditional: it applies
	// only while the stored hash still equals it, and otherwise returns
	// ErrUserNotFound, changing nothing.
	IfHashedPassword *string
}

// IsZero reports whether ch changes nothing.
func (ch UserChanges) IsZero() bool {
	return ch.Email == nil && ch.HashedPassword == nil && !ch.SetFullName && ch.IsActive == nil &&
		ch.IsSuperuser == nil && ch.IsVerified == nil && ch.TokensValidAfter == nil && ch.Extra == nil
}

// ListParams selects a page of users.
type ListParams struct {
	// Offset is the number of users to skip.
	Offset int
	// Limit is the page size; the Manager bounds it (see MaxPageSize).
	Limit int
}
