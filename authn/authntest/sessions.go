package authntest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

var getUserForTokenCases = []storeCase{
	{"live session", func(f *fixture) {
		u := f.user("live@example.com")
		s := f.session(u)
		got, live, err := f.s.GetUserForToken(f.ctx, u.ID, s.ID, f.now)
		f.wantOK("GetUserForToken", err)
		if !live {
			f.Errorf("GetUserForToken(live session): live = false, want true")
		}
		f.wantUser("GetUserForToken", got, u)
	}},
	{"returns the user as stored now", func(f *fixture) {
		u := f.user("current@example.com")
		s := f.session(u)
		want := f.update(u.ID, authn.UserChanges{IsSuperuser: ptr(true), SetFullName: true, FullName: ptr("Now")})
		got, live, err := f.s.GetUserForToken(f.ctx, u.ID, s.ID, f.now)
		f.wantOK("GetUserForToken", err)
		if !live {
			f.Errorf("GetUserForToken: live = false after an update without a bump, want true")
		}
		f.wantUser("GetUserForToken", got, want)
	}},
	{"sid uuid.Nil is not live", func(f *fixture) {
		u := f.user("nil@example.com")
		f.session(u)
		got, live, err := f.s.GetUserForToken(f.ctx, u.ID, uuid.Nil, f.now)
		f.wantOK("GetUserForToken(uuid.Nil)", err)
		if live || got.ID != u.ID {
			f.Errorf("GetUserForToken(uuid.Nil) = %s, live %v; want %s, false", got.ID, live, u.ID)
		}
	}},
	{"unknown session is not live", func(f *fixture) {
		u := f.user("unknown@example.com")
		f.session(u)
		f.wantLive("unknown session", u, uuid.New(), false)
	}},
	{"ended session is not live", func(f *fixture) {
		u := f.user("ended@example.com")
		s := f.session(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.at(-time.Second)))
		f.wantLive("ended session", u, s.ID, false)
	}},
	{"session expiring at now is not live", func(f *fixture) {
		u := f.user("expiry@example.com")
		s := f.session(u, createdAt(f.at(-time.Hour)), expiresAt(f.now))
		f.wantLive("session expiring at now", u, s.ID, false)
		if !f.live(u, s.ID, f.at(-time.Millisecond)) {
			f.Errorf("GetUserForToken a millisecond before expiry: live = false, want true")
		}
		if f.live(u, s.ID, f.at(time.Hour)) {
			f.Errorf("GetUserForToken an hour after expiry: live = true, want false")
		}
	}},
	{"session of another user is not live", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		theirs := f.session(v)
		f.wantLive("another user's session", u, theirs.ID, false)
	}},
	{"session of an older credential version is not live", func(f *fixture) {
		u := f.user("old@example.com")
		s := f.session(u)
		u = f.update(u.ID, authn.UserChanges{BumpCredentials: true})
		f.wantLive("session of the previous version", u, s.ID, false)
	}},
	{"unknown user is ErrUserNotFound", func(f *fixture) {
		u := f.user("someone@example.com")
		s := f.session(u)
		_, _, err := f.s.GetUserForToken(f.ctx, uuid.New(), s.ID, f.now)
		f.wantErr("GetUserForToken(unknown user, a live session of another)", err, authn.ErrUserNotFound)
		_, _, err = f.s.GetUserForToken(f.ctx, uuid.New(), uuid.Nil, f.now)
		f.wantErr("GetUserForToken(unknown user, uuid.Nil)", err, authn.ErrUserNotFound)
	}},
}

var createSessionCases = []storeCase{
	{"stores the session", func(f *fixture) {
		u := f.user("login@example.com")
		s := f.newSession(u, createdAt(f.at(-time.Minute)), fromIP("2001:db8::1"))
		s.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) ünïcödé"
		want := *s
		f.wantOK("CreateSession", f.s.CreateSession(f.ctx, s, nil))
		ss, err := f.s.ListSessions(f.ctx, u.ID, f.now)
		f.wantOK("ListSessions", err)
		if len(ss) != 1 {
			f.Fatalf("ListSessions after CreateSession: %d sessions, want 1", len(ss))
		}
		f.wantSession("ListSessions", ss[0], &want)
		f.wantLive("new session", u, s.ID, true)
	}},
	{"stores the session with its first refresh token", func(f *fixture) {
		u := f.user("refresh@example.com")
		s, rt := f.sessionWithRefresh(u)
		gotRT, gotS, gotU, err := f.s.GetRefreshToken(f.ctx, rt.Hash)
		f.wantOK("GetRefreshToken", err)
		f.wantRefresh("GetRefreshToken", gotRT, rt)
		f.wantSession("GetRefreshToken", gotS, s)
		f.wantUser("GetRefreshToken", gotU, u)
	}},
	{"session id taken is an error", func(f *fixture) {
		u := f.user("dup@example.com")
		s := f.session(u)
		again := f.newSession(u, expiresAt(f.at(2*time.Hour)))
		again.ID = s.ID
		if err := f.s.CreateSession(f.ctx, again, nil); err == nil {
			f.Errorf("CreateSession with a taken id: no error")
		}
		ss, _ := f.s.ListSessions(f.ctx, u.ID, f.now)
		if len(ss) != 1 || !ss[0].ExpiresAt.Equal(s.ExpiresAt) {
			f.Errorf("ListSessions after a refused duplicate: %d sessions, want the first unchanged", len(ss))
		}
	}},
	{"refresh token hash taken: nothing is stored", func(f *fixture) {
		u := f.user("atomic@example.com")
		_, rt := f.sessionWithRefresh(u)
		s := f.newSession(u)
		dup := f.newRefresh(s, s.ExpiresAt)
		dup.Hash = rt.Hash
		if err := f.s.CreateSession(f.ctx, s, dup); err == nil {
			f.Fatalf("CreateSession with a taken refresh token hash: no error")
		}
		f.wantLive("session whose refresh token was refused", u, s.ID, false)
		if ids := f.sessionIDs(u); slices.Contains(ids, s.ID) {
			f.Errorf("ListSessions lists the session whose refresh token was refused")
		}
		_, gotS, _, err := f.s.GetRefreshToken(f.ctx, rt.Hash)
		f.wantOK("GetRefreshToken of the first token", err)
		if gotS.ID == s.ID {
			f.Errorf("GetRefreshToken: the first token now names the refused session")
		}
	}},
	{"the input is not retained", func(f *fixture) {
		u := f.user("input@example.com")
		s, rt := f.sessionWithRefresh(u)
		want, wantRT := *s, *rt
		s.IP, s.ExpiresAt, s.CredentialVersion = "203.0.113.9", f.at(-time.Hour), 5
		rt.ExpiresAt, rt.UsedAt = f.at(-time.Hour), ptr(f.now)
		gotRT, gotS, _, err := f.s.GetRefreshToken(f.ctx, wantRT.Hash)
		f.wantOK("GetRefreshToken", err)
		f.wantSession("GetRefreshToken after the caller changed its input", gotS, &want)
		f.wantRefresh("GetRefreshToken after the caller changed its input", gotRT, &wantRT)
	}},
}

var listSessionsCases = []storeCase{
	{"newest first", func(f *fixture) {
		u := f.user("order@example.com")
		b := f.session(u, createdAt(f.at(-2*time.Minute)))
		c := f.session(u, createdAt(f.at(-time.Minute)))
		a := f.session(u, createdAt(f.at(-3*time.Minute)))
		if ids := f.sessionIDs(u); !slices.Equal(ids, []uuid.UUID{c.ID, b.ID, a.ID}) {
			f.Errorf("ListSessions = %v, want %v", ids, []uuid.UUID{c.ID, b.ID, a.ID})
		}
	}},
	{"equal creation times ordered by id, descending", func(f *fixture) {
		u := f.user("ties@example.com")
		var want []uuid.UUID
		for range 4 {
			want = append(want, f.session(u).ID)
		}
		slices.SortFunc(want, func(a, b uuid.UUID) int { return -strings.Compare(a.String(), b.String()) })
		if ids := f.sessionIDs(u); !slices.Equal(ids, want) {
			f.Errorf("ListSessions = %v, want %v", ids, want)
		}
	}},
	{"only the user's live sessions", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		live := f.session(u)
		ended := f.session(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, ended.ID, f.now))
		f.session(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)))
		f.session(u, expiresAt(f.now))
		f.session(u, version(u.CredentialVersion+1))
		f.session(v)
		if ids := f.sessionIDs(u); !slices.Equal(ids, []uuid.UUID{live.ID}) {
			f.Errorf("ListSessions = %v, want only the live one %s", ids, live.ID)
		}
	}},
	{"none is an empty list", func(f *fixture) {
		u := f.user("none@example.com")
		ss, err := f.s.ListSessions(f.ctx, u.ID, f.now)
		if err != nil || len(ss) != 0 {
			f.Errorf("ListSessions of a user without sessions: %d, %v; want none", len(ss), err)
		}
		ss, err = f.s.ListSessions(f.ctx, uuid.New(), f.now)
		if err != nil || len(ss) != 0 {
			f.Errorf("ListSessions of an unknown user: %d, %v; want none", len(ss), err)
		}
	}},
	{"returned sessions are the caller's", func(f *fixture) {
		u := f.user("owned@example.com")
		s := f.session(u)
		ss, err := f.s.ListSessions(f.ctx, u.ID, f.now)
		f.wantOK("ListSessions", err)
		ss[0].ExpiresAt, ss[0].IP = f.at(-time.Hour), "203.0.113.9"
		again, _ := f.s.ListSessions(f.ctx, u.ID, f.now)
		if len(again) != 1 {
			f.Fatalf("ListSessions after the caller changed a returned session: %d sessions, want 1", len(again))
		}
		f.wantSession("ListSessions after the caller changed a returned session", again[0], s)
	}},
}

var endSessionCases = []storeCase{
	{"ends a live session and deletes its refresh tokens", func(f *fixture) {
		u := f.user("logout@example.com")
		s, rt := f.sessionWithRefresh(u)
		other, ort := f.sessionWithRefresh(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.now))
		f.wantLive("ended session", u, s.ID, false)
		f.refreshGone("refresh token of the ended session", rt.Hash)
		f.wantLive("other session", u, other.ID, true)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, ort.Hash); err != nil {
			f.Errorf("GetRefreshToken of the other session's token: %v", err)
		}
		if ids := f.sessionIDs(u); !slices.Equal(ids, []uuid.UUID{other.ID}) {
			f.Errorf("ListSessions after EndSession = %v, want [%s]", ids, other.ID)
		}
	}},
	{"ended session is ErrSessionNotFound", func(f *fixture) {
		u := f.user("twice@example.com")
		s := f.session(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.now))
		f.wantErr("EndSession again", f.s.EndSession(f.ctx, u.ID, s.ID, f.now), authn.ErrSessionNotFound)
	}},
	{"another user's session is ErrSessionNotFound and stays live", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		theirs, rt := f.sessionWithRefresh(v)
		f.wantErr("EndSession(another user's session)", f.s.EndSession(f.ctx, u.ID, theirs.ID, f.now), authn.ErrSessionNotFound)
		f.wantLive("the other user's session", v, theirs.ID, true)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, rt.Hash); err != nil {
			f.Errorf("GetRefreshToken of the other user's token: %v", err)
		}
	}},
	{"expired session is ErrSessionNotFound", func(f *fixture) {
		u := f.user("expired@example.com")
		s := f.session(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)))
		f.wantErr("EndSession(expired)", f.s.EndSession(f.ctx, u.ID, s.ID, f.now), authn.ErrSessionNotFound)
	}},
	{"session of an older credential version is ErrSessionNotFound", func(f *fixture) {
		u := f.user("old@example.com")
		s := f.session(u)
		f.update(u.ID, authn.UserChanges{BumpCredentials: true})
		f.wantErr("EndSession(previous version)", f.s.EndSession(f.ctx, u.ID, s.ID, f.now), authn.ErrSessionNotFound)
	}},
	{"unknown session is ErrSessionNotFound", func(f *fixture) {
		u := f.user("unknown@example.com")
		f.session(u)
		f.wantErr("EndSession(unknown)", f.s.EndSession(f.ctx, u.ID, uuid.New(), f.now), authn.ErrSessionNotFound)
	}},
}

var endSessionsCases = []storeCase{
	{"ends every live session and counts them", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		s1, rt1 := f.sessionWithRefresh(u)
		s2, rt2 := f.sessionWithRefresh(u)
		ended := f.session(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, ended.ID, f.now))
		f.session(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)))
		f.session(u, version(u.CredentialVersion+1))
		theirs, theirRT := f.sessionWithRefresh(v)
		n, err := f.s.EndSessions(f.ctx, u.ID, uuid.Nil, f.now)
		f.wantOK("EndSessions", err)
		if n != 2 {
			f.Errorf("EndSessions = %d, want 2 (the live sessions only)", n)
		}
		f.wantLive("first session", u, s1.ID, false)
		f.wantLive("second session", u, s2.ID, false)
		f.refreshGone("first session's refresh token", rt1.Hash)
		f.refreshGone("second session's refresh token", rt2.Hash)
		f.wantLive("the other user's session", v, theirs.ID, true)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, theirRT.Hash); err != nil {
			f.Errorf("GetRefreshToken of the other user's token: %v", err)
		}
	}},
	{"except keeps that session and its refresh token", func(f *fixture) {
		u := f.user("except@example.com")
		keep, keepRT := f.sessionWithRefresh(u)
		s, rt := f.sessionWithRefresh(u)
		n, err := f.s.EndSessions(f.ctx, u.ID, keep.ID, f.now)
		f.wantOK("EndSessions(except)", err)
		if n != 1 {
			f.Errorf("EndSessions(except) = %d, want 1", n)
		}
		f.wantLive("kept session", u, keep.ID, true)
		f.wantLive("other session", u, s.ID, false)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, keepRT.Hash); err != nil {
			f.Errorf("GetRefreshToken of the kept session's token: %v", err)
		}
		f.refreshGone("other session's refresh token", rt.Hash)
	}},
	{"no live session is 0", func(f *fixture) {
		u := f.user("none@example.com")
		n, err := f.s.EndSessions(f.ctx, u.ID, uuid.Nil, f.now)
		if err != nil || n != 0 {
			f.Errorf("EndSessions without sessions = %d, %v; want 0", n, err)
		}
		s := f.session(u)
		n, err = f.s.EndSessions(f.ctx, u.ID, s.ID, f.now)
		if err != nil || n != 0 {
			f.Errorf("EndSessions(except the only one) = %d, %v; want 0", n, err)
		}
	}},
}

var knownClientCases = []storeCase{
	{"address of a session since the instant", func(f *fixture) {
		u := f.user("known@example.com")
		f.session(u, createdAt(f.at(-time.Hour)), fromIP("198.51.100.1"))
		for _, c := range []struct {
			ip    string
			since time.Time
			want  bool
		}{
			{"198.51.100.1", f.at(-2 * time.Hour), true},
			{"198.51.100.1", f.at(-time.Hour), true}, // since is inclusive
			{"198.51.100.1", f.at(-time.Hour + time.Second), false},
			{"198.51.100.2", f.at(-2 * time.Hour), false},
			{"198.51.100.", f.at(-2 * time.Hour), false},
		} {
			known, err := f.s.KnownClient(f.ctx, u.ID, c.ip, c.since)
			f.wantOK("KnownClient", err)
			if known != c.want {
				f.Errorf("KnownClient(%s, since %v) = %v, want %v", c.ip, c.since.Sub(f.now), known, c.want)
			}
		}
	}},
	{"another user's address is not known", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		f.session(v, fromIP("198.51.100.1"))
		if known, err := f.s.KnownClient(f.ctx, u.ID, "198.51.100.1", f.at(-time.Hour)); err != nil || known {
			f.Errorf("KnownClient(another user's address) = %v, %v; want false", known, err)
		}
	}},
	{"ended, expired and older-version sessions count", func(f *fixture) {
		u := f.user("past@example.com")
		ended := f.session(u, fromIP("198.51.100.1"))
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, ended.ID, f.now))
		f.session(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)), fromIP("198.51.100.2"))
		f.session(u, fromIP("198.51.100.3"))
		f.update(u.ID, authn.UserChanges{BumpCredentials: true})
		for _, ip := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"} {
			if known, err := f.s.KnownClient(f.ctx, u.ID, ip, f.at(-24*time.Hour)); err != nil || !known {
				f.Errorf("KnownClient(%s) = %v, %v; want true", ip, known, err)
			}
		}
	}},
}

var getRefreshTokenCases = []storeCase{
	{"returns the token with its session and user", func(f *fixture) {
		u := f.user("rt@example.com")
		s, rt := f.sessionWithRefresh(u)
		gotRT, gotS, gotU, err := f.s.GetRefreshToken(f.ctx, rt.Hash)
		f.wantOK("GetRefreshToken", err)
		f.wantRefresh("GetRefreshToken", gotRT, rt)
		f.wantSession("GetRefreshToken", gotS, s)
		f.wantUser("GetRefreshToken", gotU, u)
	}},
	{"unknown hash is ErrRefreshTokenNotFound", func(f *fixture) {
		u := f.user("unknown@example.com")
		f.sessionWithRefresh(u)
		f.refreshGone("unknown hash", newHash())
	}},
	{"token of an ended session is ErrRefreshTokenNotFound", func(f *fixture) {
		u := f.user("ended@example.com")
		s, rt := f.sessionWithRefresh(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.now))
		f.refreshGone("token of an ended session", rt.Hash)
	}},
	{"token of a deleted user is ErrRefreshTokenNotFound", func(f *fixture) {
		u := f.user("deleted@example.com")
		_, rt := f.sessionWithRefresh(u)
		f.wantOK("DeleteUser", f.s.DeleteUser(f.ctx, u.ID))
		f.refreshGone("token of a deleted user", rt.Hash)
	}},
	{"expired, used and older-version tokens are returned for the caller to judge", func(f *fixture) {
		u := f.user("judge@example.com")
		s, rt := f.sessionWithRefresh(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)))
		next := f.newRefresh(s, f.at(time.Hour))
		f.wantOK("RotateRefreshToken", f.s.RotateRefreshToken(f.ctx, rt.Hash, next, f.now, f.at(time.Hour)))
		f.update(u.ID, authn.UserChanges{BumpCredentials: true})
		gotRT, gotS, gotU, err := f.s.GetRefreshToken(f.ctx, rt.Hash)
		f.wantOK("GetRefreshToken(used token of an older-version session)", err)
		want := *rt
		want.UsedAt = ptr(f.now)
		f.wantRefresh("GetRefreshToken(used)", gotRT, &want)
		if gotS.CredentialVersion != u.CredentialVersion || gotU.CredentialVersion != u.CredentialVersion+1 {
			f.Errorf("GetRefreshToken: session version %d, user version %d; want %d and %d",
				gotS.CredentialVersion, gotU.CredentialVersion, u.CredentialVersion, u.CredentialVersion+1)
		}
		s2, expired := f.sessionWithRefresh(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)))
		gotRT, gotS, _, err = f.s.GetRefreshToken(f.ctx, expired.Hash)
		f.wantOK("GetRefreshToken(expired token of an expired session)", err)
		f.wantRefresh("GetRefreshToken(expired)", gotRT, expired)
		f.wantSession("GetRefreshToken(expired)", gotS, s2)
	}},
}

var rotateRefreshTokenCases = []storeCase{
	{"marks the old token used, stores the next and records the refresh", func(f *fixture) {
		u := f.user("rotate@example.com")
		s, old := f.sessionWithRefresh(u, createdAt(f.at(-time.Hour)))
		exp := f.at(3 * time.Hour)
		next := f.newRefresh(s, exp)
		f.wantOK("RotateRefreshToken", f.s.RotateRefreshToken(f.ctx, old.Hash, next, f.now, exp))
		gotOld, _, _, err := f.s.GetRefreshToken(f.ctx, old.Hash)
		f.wantOK("GetRefreshToken(old)", err)
		wantOld := *old
		wantOld.UsedAt = ptr(f.now)
		f.wantRefresh("GetRefreshToken(old)", gotOld, &wantOld)
		gotNext, gotS, _, err := f.s.GetRefreshToken(f.ctx, next.Hash)
		f.wantOK("GetRefreshToken(next)", err)
		f.wantRefresh("GetRefreshToken(next)", gotNext, next)
		wantS := *s
		wantS.LastUsedAt, wantS.ExpiresAt = f.now, exp
		f.wantSession("GetRefreshToken(next)", gotS, &wantS)
		if !f.live(u, s.ID, f.at(2*time.Hour)) {
			f.Errorf("GetUserForToken after the refresh, before the new expiry: live = false, want true")
		}
	}},
	{"used token is ErrRefreshTokenUsed and changes nothing", func(f *fixture) {
		u := f.user("used@example.com")
		s, old := f.sessionWithRefresh(u)
		first := f.newRefresh(s, f.at(2*time.Hour))
		f.wantOK("RotateRefreshToken", f.s.RotateRefreshToken(f.ctx, old.Hash, first, f.now, f.at(2*time.Hour)))
		second := f.newRefresh(s, f.at(5*time.Hour))
		err := f.s.RotateRefreshToken(f.ctx, old.Hash, second, f.at(time.Minute), f.at(5*time.Hour))
		f.wantErr("RotateRefreshToken(used)", err, authn.ErrRefreshTokenUsed)
		f.refreshGone("next token of a refused rotation", second.Hash)
		gotOld, gotS, _, err := f.s.GetRefreshToken(f.ctx, old.Hash)
		f.wantOK("GetRefreshToken(old)", err)
		if gotOld.UsedAt == nil || !gotOld.UsedAt.Equal(f.now) || !gotS.ExpiresAt.Equal(f.at(2*time.Hour)) {
			f.Errorf("after a refused rotation: UsedAt %v, session expiry %v; want the first rotation's", deref(gotOld.UsedAt), gotS.ExpiresAt)
		}
	}},
	{"unknown token is ErrRefreshTokenUsed", func(f *fixture) {
		u := f.user("unknown@example.com")
		s, _ := f.sessionWithRefresh(u)
		next := f.newRefresh(s, f.at(2*time.Hour))
		err := f.s.RotateRefreshToken(f.ctx, newHash(), next, f.now, f.at(2*time.Hour))
		f.wantErr("RotateRefreshToken(unknown)", err, authn.ErrRefreshTokenUsed)
		f.refreshGone("next token of a refused rotation", next.Hash)
	}},
	{"token deleted with its ended session is refused", func(f *fixture) {
		u := f.user("ended@example.com")
		s, old := f.sessionWithRefresh(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.now))
		next := f.newRefresh(s, f.at(2*time.Hour))
		err := f.s.RotateRefreshToken(f.ctx, old.Hash, next, f.now, f.at(2*time.Hour))
		if !errors.Is(err, authn.ErrRefreshTokenUsed) && !errors.Is(err, authn.ErrSessionNotFound) {
			f.Errorf("RotateRefreshToken after EndSession: %v, want ErrRefreshTokenUsed or ErrSessionNotFound", err)
		}
		f.refreshGone("next token of a refused rotation", next.Hash)
		f.wantLive("ended session", u, s.ID, false)
	}},
	{"20 concurrent rotations of one token: exactly one succeeds", func(f *fixture) {
		u := f.user("race@example.com")
		s, old := f.sessionWithRefresh(u)
		const n = 20
		nexts := make([]*authn.RefreshToken, n)
		for i := range nexts {
			nexts[i] = f.newRefresh(s, f.at(2*time.Hour))
		}
		errs := concurrently(n, func(i int) error {
			return f.s.RotateRefreshToken(f.ctx, old.Hash, nexts[i], f.now, f.at(2*time.Hour))
		})
		counts, unexpected := tally(errs, authn.ErrRefreshTokenUsed)
		if counts[nil] != 1 || counts[authn.ErrRefreshTokenUsed] != n-1 || len(unexpected) > 0 {
			f.Fatalf("RotateRefreshToken ×%d: %d succeeded, %d ErrRefreshTokenUsed, other errors %v; want 1 and %d",
				n, counts[nil], counts[authn.ErrRefreshTokenUsed], unexpected, n-1)
		}
		for i, err := range errs {
			_, _, _, gerr := f.s.GetRefreshToken(f.ctx, nexts[i].Hash)
			if (err == nil) != (gerr == nil) {
				f.Errorf("rotation %d returned %v, but GetRefreshToken of its next token returned %v", i, err, gerr)
			}
		}
	}},
	{"racing EndSession: no refresh token outlives the session", func(f *fixture) {
		u := f.user("logout.race@example.com")
		for i := range 10 {
			s, old := f.sessionWithRefresh(u)
			next := f.newRefresh(s, f.at(2*time.Hour))
			errs := concurrently(2, func(j int) error {
				if j == 0 {
					return f.s.RotateRefreshToken(f.ctx, old.Hash, next, f.now, f.at(2*time.Hour))
				}
				return f.s.EndSession(f.ctx, u.ID, s.ID, f.now)
			})
			if err := errs[0]; err != nil && !errors.Is(err, authn.ErrRefreshTokenUsed) && !errors.Is(err, authn.ErrSessionNotFound) {
				f.Errorf("round %d: RotateRefreshToken racing EndSession: %v, want nil, ErrRefreshTokenUsed or ErrSessionNotFound", i, err)
			}
			if errs[1] != nil {
				f.Errorf("round %d: EndSession racing RotateRefreshToken: %v, want nil", i, errs[1])
			}
			f.wantLive(fmt.Sprintf("round %d: session", i), u, s.ID, false)
			f.refreshGone(fmt.Sprintf("round %d: old token", i), old.Hash)
			f.refreshGone(fmt.Sprintf("round %d: next token", i), next.Hash)
		}
	}},
	{"racing DeleteUser: no refresh token outlives the user", func(f *fixture) {
		for i := range 10 {
			u := f.user(fmt.Sprintf("delete.race%d@example.com", i))
			s, old := f.sessionWithRefresh(u)
			next := f.newRefresh(s, f.at(2*time.Hour))
			errs := concurrently(2, func(j int) error {
				if j == 0 {
					return f.s.RotateRefreshToken(f.ctx, old.Hash, next, f.now, f.at(2*time.Hour))
				}
				return f.s.DeleteUser(f.ctx, u.ID)
			})
			if err := errs[0]; err != nil && !errors.Is(err, authn.ErrRefreshTokenUsed) && !errors.Is(err, authn.ErrSessionNotFound) {
				f.Errorf("round %d: RotateRefreshToken racing DeleteUser: %v, want nil, ErrRefreshTokenUsed or ErrSessionNotFound", i, err)
			}
			if errs[1] != nil {
				f.Errorf("round %d: DeleteUser racing RotateRefreshToken: %v, want nil", i, errs[1])
			}
			f.refreshGone(fmt.Sprintf("round %d: old token", i), old.Hash)
			f.refreshGone(fmt.Sprintf("round %d: next token", i), next.Hash)
		}
	}},
}

var pruneCases = []storeCase{
	{"deletes what can no longer be used and counts it", func(f *fixture) {
		u := f.user("prune@example.com")
		keep := f.at(-30 * 24 * time.Hour)
		// A live session with an expired token (deleted) and one expiring now (kept).
		s1 := f.session(u, fromIP("198.51.100.1"))
		expired, atNow := f.newRefresh(s1, f.at(-time.Second)), f.newRefresh(s1, f.now)
		s1b := f.newSession(u, fromIP("198.51.100.9"))
		f.wantOK("CreateSession", f.s.CreateSession(f.ctx, s1b, expired))
		s1c := f.newSession(u, fromIP("198.51.100.9"))
		f.wantOK("CreateSession", f.s.CreateSession(f.ctx, s1c, atNow))
		// A session that expired before keepUntil (deleted), with a token
		// that has not expired (deleted with it).
		s2 := f.newSession(u, createdAt(keep.Add(-time.Hour)), expiresAt(keep.Add(-time.Second)), fromIP("198.51.100.2"))
		orphan := f.newRefresh(s2, f.at(time.Hour))
		f.wantOK("CreateSession", f.s.CreateSession(f.ctx, s2, orphan))
		// A session that ended before keepUntil (deleted).
		s3 := f.session(u, createdAt(keep.Add(-time.Hour)), fromIP("198.51.100.3"))
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s3.ID, keep.Add(-time.Minute)))
		// Ended and expired after keepUntil: kept for KnownClient.
		s4 := f.session(u, createdAt(f.at(-2*time.Hour)), fromIP("198.51.100.4"))
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s4.ID, f.at(-time.Hour)))
		f.session(u, createdAt(f.at(-2*time.Hour)), expiresAt(f.at(-time.Hour)), fromIP("198.51.100.5"))
		// A counter at rest (deleted) and one that is not (kept).
		if _, err := f.s.TakeLimit(f.ctx, "at-rest", f.at(-time.Hour), time.Second, 1); err != nil {
			f.Fatalf("TakeLimit: %v", err)
		}
		if _, err := f.s.TakeLimit(f.ctx, "busy", f.now, time.Minute, 1); err != nil {
			f.Fatalf("TakeLimit: %v", err)
		}

		n, err := f.s.Prune(f.ctx, f.now, keep)
		f.wantOK("Prune", err)
		// The expired token, the expired session and its token, the ended
		// session, the counter at rest.
		if n != 5 {
			f.Errorf("Prune = %d, want 5", n)
		}
		f.refreshGone("expired token", expired.Hash)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, atNow.Hash); err != nil {
			f.Errorf("GetRefreshToken of a token expiring at now, after Prune: %v", err)
		}
		f.refreshGone("token of a pruned session", orphan.Hash)
		for ip, want := range map[string]bool{
			"198.51.100.1": true, "198.51.100.2": false, "198.51.100.3": false, "198.51.100.4": true, "198.51.100.5": true,
		} {
			known, err := f.s.KnownClient(f.ctx, u.ID, ip, keep.Add(-24*time.Hour))
			f.wantOK("KnownClient", err)
			if known != want {
				f.Errorf("KnownClient(%s) after Prune = %v, want %v", ip, known, want)
			}
		}
		f.wantLive("live session", u, s1.ID, true)
		tats, err := f.s.PeekLimits(f.ctx, []string{"at-rest", "busy"})
		f.wantOK("PeekLimits", err)
		if !tats[0].IsZero() || !tats[1].Equal(f.at(time.Minute)) {
			f.Errorf("PeekLimits after Prune = %v, want [zero, %v]", tats, f.at(time.Minute))
		}
		if n, err := f.s.Prune(f.ctx, f.now, keep); err != nil || n != 0 {
			f.Errorf("Prune again = %d, %v; want 0", n, err)
		}
	}},
	{"empty store is 0", func(f *fixture) {
		if n, err := f.s.Prune(f.ctx, f.now, f.at(-time.Hour)); err != nil || n != 0 {
			f.Errorf("Prune of an empty store = %d, %v; want 0", n, err)
		}
	}},
}
