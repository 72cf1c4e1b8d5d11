package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
)

// getMe answers GET /me.
func (a *API) getMe(c echo.Context) error {
	return a.writeUser(c, http.StatusOK, CurrentUser(c))
}

// patchMe answers PATCH /me: the user's change to themselves.
func (a *API) patchMe(c echo.Context) error {
	return a.update(c, CurrentUser(c), true)
}

// getUser answers GET /:id (superuser).
func (a *API) getUser(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	return a.writeUser(c, http.StatusOK, u)
}

// patchUser answers PATCH /:id (superuser).
func (a *API) patchUser(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	return a.update(c, u, false)
}

// deleteUser answers DELETE /:id (superuser).
func (a *API) deleteUser(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	if err := a.m.Delete(a.ctx(c), u); err != nil {
		return a.writeError(c, flowUsers, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// target loads the user the :id parameter names. An id that is not a UUID
// or names no user is a 404; when it returns false it has answered.
func (a *API) target(c echo.Context) (*authn.User, bool) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		_ = writeStatus(c, http.StatusNotFound)
		return nil, false
	}
	u, err := a.m.Get(a.ctx(c), id)
	if err != nil {
		_ = a.writeError(c, flowUsers, err)
		return nil, false
	}
	return u, true
}

// update applies a PATCH body to u: only the keys present change;
// "password", "email" and the flags null leave them alone, "full_name" null
// clears it. The flags are read (a wrong type is a 422) in both cases;
// the Manager ignores them in a user's change to themselves.
func (a *API) update(c echo.Context, u *authn.User, self bool) error {
	jb, ok := a.readJSON(c)
	if !ok {
		return nil
	}
	in := authn.UserUpdate{
		Password:        jb.str("password", false, 0),
		CurrentPassword: jb.str("current_password", false, 0),
		Email:           jb.email("email", false),
		IsActive:        jb.boolean("is_active"),
		IsSuperuser:     jb.boolean("is_superuser"),
		IsVerified:      jb.boolean("is_verified"),
		FullName:        jb.str("full_name", false, authn.MaxFullNameLength),
		SetFullName:     jb.has("full_name"),
	}
	if a.schema != nil {
		var errs []userschema.FieldError
		if self {
			in.Extra, errs = a.schema.DecodeSelfUpdate(jb.fields)
		} else {
			in.Extra, errs = a.schema.DecodeSuperuserUpdate(jb.fields)
		}
		jb.schemaErrors(errs)
	}
	if !jb.done(c) {
		return nil
	}
	var (
		nu  *authn.User
		err error
	)
	if self {
		nu, err = a.m.UpdateSelf(a.ctx(c), u, currentClaims(c).SessionID, in)
	} else {
		nu, err = a.m.UpdateAsSuperuser(a.ctx(c), u, in)
	}
	if err != nil {
		return a.writeError(c, flowUpdate, err)
	}
	return a.writeUser(c, http.StatusOK, nu)
}

// listUsers answers GET "" (superuser): ?offset= (default 0) and ?limit=
// (default authn.DefaultPageSize, capped at authn.MaxPageSize).
func (a *API) listUsers(c echo.Context) error {
	var errs []fieldError
	offset := queryInt(c, "offset", 0, 0, &errs)
	limit := queryInt(c, "limit", authn.DefaultPageSize, 1, &errs)
	if len(errs) > 0 {
		return writeValidation(c, errs)
	}
	p, err := a.m.List(a.ctx(c), authn.ListParams{Offset: offset, Limit: limit})
	if err != nil {
		return a.writeError(c, flowUsers, err)
	}
	b := make([]byte, 0, 64+256*len(p.Users))
	b = append(b, `{"items":[`...)
	for i, u := range p.Users {
		if i > 0 {
			b = append(b, ',')
		}
		b = a.appendUser(b, u)
	}
	b = append(b, `],"total":`...)
	b = strconv.AppendInt(b, int64(p.Total), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, int64(p.Offset), 10)
	b = append(b, `,"limit":`...)
	b = strconv.AppendInt(b, int64(p.Limit), 10)
	b = append(b, '}')
	noStore(c.Response().Header())
	return c.JSONBlob(http.StatusOK, b)
}

// queryInt reads an integer query parameter of at least lowest, recording a
// FastAPI-style error in errs when it is not one.
func queryInt(c echo.Context, name string, def, lowest int, errs *[]fieldError) int {
	vs, ok := c.QueryParams()[name]
	if !ok {
		return def
	}
	loc := []any{"query", name}
	n, err := strconv.Atoi(vs[len(vs)-1])
	switch {
	case err != nil:
		*errs = append(*errs, fieldError{Loc: loc, Type: "int_parsing",
			Msg: "Input should be a valid integer, unable to parse string as an integer"})
	case n < lowest:
		*errs = append(*errs, fieldError{Loc: loc, Type: "greater_than_equal",
			Msg: fmt.Sprintf("Input should be greater than or equal to %d", lowest)})
	default:
		return n
	}
	return def
}
