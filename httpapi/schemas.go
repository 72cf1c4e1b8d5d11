package httpapi

import (
	"encoding/json"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent/entkeylin"
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
	// Extra are the application's readable fields, written after keylin's
	// as further keys of the object.
	Extra []entkeylin.FieldValue `json:"-"`
}

// MarshalJSON writes the object with the application's fields appended.
func (u UserRead) MarshalJSON() ([]byte, error) {
	type core UserRead // without the method
	b, err := json.Marshal(core(u))
	if err != nil || len(u.Extra) == 0 {
		return b, err
	}
	b = b[:len(b)-1] // drop the closing brace
	for _, f := range u.Extra {
		name, err := json.Marshal(f.Name)
		if err != nil {
			return nil, err
		}
		b = append(append(append(append(b, ','), name...), ':'), f.Value...)
	}
	return append(b, '}'), nil
}

// read returns the user object of u, with the application's fields when
// the API has a schema for them.
func (a *API) read(u *authn.User) UserRead {
	r := NewUserRead(u)
	if a.schema != nil && u.Extra != nil {
		r.Extra = a.schema.ReadFields(u.Extra)
	}
	return r
}

// NewUserRead returns the user object of u (keylin's fields only).
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
