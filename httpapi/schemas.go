package httpapi

import (
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

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
	b := appendCore(make([]byte, 0, 192), u.ID, u.Email, u.IsActive, u.IsSuperuser, u.IsVerified, u.FullName)
	for _, f := range u.Extra {
		b = append(b, ',')
		b = userschema.AppendString(b, f.Name)
		b = append(b, ':')
		b = append(b, f.Value...)
	}
	return append(b, '}'), nil
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

// appendUser appends the user object of u to dst: the bytes json.Marshal
// writes for NewUserRead(u) with the schema's ReadFields as Extra, without
// reflection or intermediate values when the schema can append its own
// fields (userschema.Appender). Most authenticated routes answer with a
// user object, so this is on the hot path.
func (a *API) appendUser(dst []byte, u *authn.User) []byte {
	dst = appendCore(dst, u.ID, u.Email, u.IsActive, u.IsSuperuser, u.IsVerified, u.FullName)
	if a.schema != nil && u.Extra != nil {
		if ap, ok := a.schema.(userschema.Appender); ok {
			dst = ap.AppendJSON(dst, u.Extra)
		} else {
			for _, f := range a.schema.ReadFields(u.Extra) {
				dst = append(dst, ',')
				dst = userschema.AppendString(dst, f.Name)
				dst = append(dst, ':')
				dst = append(dst, f.Value...)
			}
		}
	}
	return append(dst, '}')
}

// appendCore appends keylin's fields of a user object, without the
// closing brace.
func appendCore(dst []byte, id uuid.UUID, email string, active, superuser, verified bool, fullName *string) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendUUID(dst, id)
	dst = append(dst, `","email":`...)
	dst = userschema.AppendString(dst, email)
	dst = append(dst, `,"is_active":`...)
	dst = strconv.AppendBool(dst, active)
	dst = append(dst, `,"is_superuser":`...)
	dst = strconv.AppendBool(dst, superuser)
	dst = append(dst, `,"is_verified":`...)
	dst = strconv.AppendBool(dst, verified)
	dst = append(dst, `,"full_name":`...)
	if fullName == nil {
		return append(dst, "null"...)
	}
	return userschema.AppendString(dst, *fullName)
}

// appendUUID appends the canonical text form of id (8-4-4-4-12 lower-case
// hex digits), without the allocation of id.String.
func appendUUID(dst []byte, id uuid.UUID) []byte {
	const digits = "0123456789abcdef"
	for i, b := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, digits[b>>4], digits[b&0xF])
	}
	return dst
}

// writeUser writes the user object of u as a JSON response.
func (a *API) writeUser(c echo.Context, status int, u *authn.User) error {
	noStore(c.Response().Header())
	return c.JSONBlob(status, a.appendUser(make([]byte, 0, 256), u))
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
