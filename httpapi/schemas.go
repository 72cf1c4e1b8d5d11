package httpapi

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
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
	Extra []userschema.FieldValue `json:"-"`
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

// bearerResponse is the body of a bearer login or refresh: the contract's
// two keys, plus the refresh token and the access token's lifetime in
// seconds when refresh tokens are on.
type bearerResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int64  `json:"expires_in,omitempty"`
}

// SessionRead is one session as the sessions routes list it.
type SessionRead struct {
	ID         uuid.UUID `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	UserAgent  string    `json:"user_agent"`
	IPAddress  string    `json:"ip_address"`
	// Current marks the session of the token that made the request.
	Current bool `json:"current"`
}

// NewSessionRead returns the JSON form of s; current marks the session
// the request came from.
func NewSessionRead(s *authn.Session, current bool) SessionRead {
	return SessionRead{
		ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		UserAgent: s.UserAgent, IPAddress: s.IP, Current: current,
	}
}
