package httpapi

import (
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

// UserRead is the user object of the contract, as every route returns it:
// every key present, full_name null when unset, never the password hash.
type UserRead struct {
	ID          uuid.UUID `json:"id"`
	Email       string    `json:"email"`
	IsActive    bool      `json:"is_active"`
	IsSuperuser bool      `json:"is_superuser"`
	IsVerified  bool      `json:"is_verified"`
	FullName    *string   `json:"full_name"`
}

// NewUserRead returns the user object of u.
func NewUserRead(u *authn.User) UserRead {
	return UserRead{
		ID:          u.ID,
		Email:       u.Email,
		IsActive:    u.IsActive,
		IsSuperuser: u.IsSuperuser,
		IsVerified:  u.IsVerified,
		FullName:    u.FullName,
	}
}

// UserPage is the body of GET /users: one page of users, oldest first.
type UserPage struct {
	Items  []UserRead `json:"items"`
	Total  int        `json:"total"`
	Offset int        `json:"offset"`
	Limit  int        `json:"limit"`
}

// bearerResponse is the body of a bearer login.
type bearerResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
}
