package httpapi

import (
	"net/http"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
)

// mySessions answers GET /me/sessions: the user's live sessions, newest
// first, the request's own marked current.
func (a *API) mySessions(c echo.Context) error {
	return a.listSessions(c, CurrentUser(c), currentClaims(c).SessionID)
}

// endMySession answers DELETE /me/sessions/:sid: 204, or 404 when the user
// has no such live session.
func (a *API) endMySession(c echo.Context) error {
	return a.endSession(c, CurrentUser(c))
}

// endMyOtherSessions answers DELETE /me/sessions: every session but the
// request's own ends (ASVS 7.4.3's "log out other sessions").
func (a *API) endMyOtherSessions(c echo.Context) error {
	if _, err := a.m.EndSessions(a.ctx(c), CurrentUser(c), currentClaims(c).SessionID); err != nil {
		return a.writeError(c, flowUsers, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// userSessions answers GET /:id/sessions (superuser).
func (a *API) userSessions(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	return a.listSessions(c, u, currentClaims(c).SessionID)
}

// endUserSession answers DELETE /:id/sessions/:sid (superuser).
func (a *API) endUserSession(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	return a.endSession(c, u)
}

// endUserSessions answers DELETE /:id/sessions (superuser): every session
// of the user ends.
func (a *API) endUserSessions(c echo.Context) error {
	u, ok := a.target(c)
	if !ok {
		return nil
	}
	if _, err := a.m.EndSessions(a.ctx(c), u, uuid.Nil); err != nil {
		return a.writeError(c, flowUsers, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *API) listSessions(c echo.Context, u *authn.User, current uuid.UUID) error {
	ss, err := a.m.Sessions(a.ctx(c), u)
	if err != nil {
		return a.writeError(c, flowUsers, err)
	}
	out := make([]SessionRead, len(ss))
	for i, s := range ss {
		out[i] = NewSessionRead(s, s.ID == current)
	}
	return writeJSON(c, http.StatusOK, out)
}

func (a *API) endSession(c echo.Context, u *authn.User) error {
	sid, err := uuid.Parse(c.Param("sid"))
	if err != nil {
		return writeStatus(c, http.StatusNotFound)
	}
	if err := a.m.EndSession(a.ctx(c), u, sid); err != nil {
		return a.writeError(c, flowUsers, err)
	}
	return c.NoContent(http.StatusNoContent)
}
