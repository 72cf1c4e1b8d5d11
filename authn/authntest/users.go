package authntest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

var getUserByIDCases = []storeCase{
	{"returns every stored field", func(f *fixture) {
		tva := f.at(-time.Minute)
		in := &authn.User{
			ID: uuid.New(), Email: "full@example.com", HashedPassword: "$argon2id$stand-in", FullName: ptr("Ada Lovelace"),
			IsActive: true, IsSuperuser: true, IsVerified: true, CreatedAt: f.at(-time.Hour), UpdatedAt: f.at(-time.Hour),
			TokensValidAfter: &tva,
		}
		f.createUser(in)
		want := *in
		f.wantUser("GetUserByID", f.reload(in.ID), &want)
	}},
	{"unknown id is ErrUserNotFound", func(f *fixture) {
		f.user("someone@example.com")
		_, err := f.s.GetUserByID(f.ctx, uuid.New())
		f.wantErr("GetUserByID(unknown)", err, authn.ErrUserNotFound)
	}},
	{"returned user is the caller's", func(f *fixture) {
		u := f.createUser(&authn.User{Email: "mine@example.com", HashedPassword: "h", FullName: ptr("Mine"), IsActive: true,
			TokensValidAfter: ptr(f.now)})
		got := f.reload(u.ID)
		got.Email, got.HashedPassword, got.IsActive, got.CredentialVersion = "changed@example.com", "changed", false, 9
		*got.FullName = "Changed"
		*got.TokensValidAfter = f.at(time.Hour)
		f.wantUser("GetUserByID after the caller changed a returned user", f.reload(u.ID), u)
	}},
}

var getUserByEmailCases = []storeCase{
	{"exact email", func(f *fixture) {
		u := f.user("exact@example.com")
		f.user("other@example.com")
		got, err := f.s.GetUserByEmail(f.ctx, "exact@example.com")
		f.wantOK("GetUserByEmail", err)
		f.wantUser("GetUserByEmail", got, u)
	}},
	{"email in another case", func(f *fixture) {
		u := f.user("Mixed.Case@Example.com")
		for _, e := range []string{"mixed.case@example.com", "MIXED.CASE@EXAMPLE.COM", "mIxEd.CaSe@eXaMpLe.CoM"} {
			got, err := f.s.GetUserByEmail(f.ctx, e)
			f.wantOK(fmt.Sprintf("GetUserByEmail(%q)", e), err)
			if got.ID != u.ID || got.Email != u.Email {
				f.Errorf("GetUserByEmail(%q) = %s %q, want %s %q (the stored spelling)", e, got.ID, got.Email, u.ID, u.Email)
			}
		}
	}},
	{"unknown email is ErrUserNotFound", func(f *fixture) {
		f.user("known@example.com")
		_, err := f.s.GetUserByEmail(f.ctx, "unknown@example.com")
		f.wantErr("GetUserByEmail(unknown)", err, authn.ErrUserNotFound)
	}},
	{"no pattern or prefix matching", func(f *fixture) {
		f.user("ab@example.com")
		for _, e := range []string{"a_@example.com", "a%@example.com", "a%", "ab@example.co", "ab@example.com ", ""} {
			_, err := f.s.GetUserByEmail(f.ctx, e)
			f.wantErr(fmt.Sprintf("GetUserByEmail(%q)", e), err, authn.ErrUserNotFound)
		}
	}},
}

var createUserCases = []storeCase{
	{"fills in a zero id and timestamps", func(f *fixture) {
		before := time.Now().Add(-2 * time.Second)
		u, err := f.s.CreateUser(f.ctx, newUser("fresh@example.com"), nil)
		f.wantOK("CreateUser", err)
		after := time.Now().Add(2 * time.Second)
		if u.ID == uuid.Nil {
			f.Errorf("CreateUser: ID is uuid.Nil, want one filled in")
		}
		for name, ts := range map[string]time.Time{"CreatedAt": u.CreatedAt, "UpdatedAt": u.UpdatedAt} {
			if ts.Before(before) || ts.After(after) {
				f.Errorf("CreateUser: %s = %v, want the current time", name, ts)
			}
		}
		f.wantUser("GetUserByID of the created user", f.reload(u.ID), u)
	}},
	{"keeps the given id, timestamps and flags", func(f *fixture) {
		in := &authn.User{
			ID: uuid.New(), Email: "given@example.com", HashedPassword: "h", IsActive: false, IsSuperuser: true,
			IsVerified: true, CreatedAt: f.at(-48 * time.Hour), UpdatedAt: f.at(-24 * time.Hour),
		}
		want := *in
		u, err := f.s.CreateUser(f.ctx, in, nil)
		f.wantOK("CreateUser", err)
		f.wantUser("CreateUser", u, &want)
		if !u.UpdatedAt.Equal(want.UpdatedAt) {
			f.Errorf("CreateUser: UpdatedAt = %v, want %v", u.UpdatedAt, want.UpdatedAt)
		}
		f.wantUser("GetUserByID", f.reload(in.ID), &want)
	}},
	{"credential version starts at 0", func(f *fixture) {
		in := newUser("version@example.com")
		in.CredentialVersion = 7
		u, err := f.s.CreateUser(f.ctx, in, nil)
		f.wantOK("CreateUser", err)
		if u.CredentialVersion != 0 || f.reload(u.ID).CredentialVersion != 0 {
			f.Errorf("CreateUser with CredentialVersion 7: version %d, stored %d; want 0", u.CredentialVersion, f.reload(u.ID).CredentialVersion)
		}
	}},
	{"email taken in the same case is ErrUserAlreadyExists", func(f *fixture) {
		first := f.user("taken@example.com")
		_, err := f.s.CreateUser(f.ctx, newUser("taken@example.com"), nil)
		f.wantErr("CreateUser(taken)", err, authn.ErrUserAlreadyExists)
		f.wantUser("GetUserByID of the first user", f.reload(first.ID), first)
	}},
	{"email taken in another case is ErrUserAlreadyExists", func(f *fixture) {
		first := f.user("Taken@Example.com")
		for _, e := range []string{"taken@example.com", "TAKEN@EXAMPLE.COM", "tAkEn@example.COM"} {
			_, err := f.s.CreateUser(f.ctx, newUser(e), nil)
			f.wantErr(fmt.Sprintf("CreateUser(%q)", e), err, authn.ErrUserAlreadyExists)
		}
		f.wantUser("GetUserByID of the first user", f.reload(first.ID), first)
		_, total, err := f.s.ListUsers(f.ctx, authn.ListParams{Limit: 10})
		f.wantOK("ListUsers", err)
		if total != 1 {
			f.Errorf("ListUsers: total %d after refused duplicates, want 1", total)
		}
	}},
	{"id taken is an error and changes nothing", func(f *fixture) {
		first := f.user("first@example.com")
		in := newUser("second@example.com")
		in.ID = first.ID
		if _, err := f.s.CreateUser(f.ctx, in, nil); err == nil {
			f.Fatalf("CreateUser with a taken id: no error")
		}
		f.wantUser("GetUserByID of the first user", f.reload(first.ID), first)
		_, err := f.s.GetUserByEmail(f.ctx, "second@example.com")
		f.wantErr("GetUserByEmail of the refused user", err, authn.ErrUserNotFound)
	}},
	{"fields too long for their columns are refused", func(f *fixture) {
		long := strings.Repeat("a", authn.MaxEmailLength-len("@example.com")+1) + "@example.com"
		for name, in := range map[string]*authn.User{
			"empty email":                                 {Email: "", HashedPassword: "h"},
			"email over MaxEmailLength bytes":             {Email: long, HashedPassword: "h"},
			"hash over MaxHashedPasswordLength bytes":     {Email: "hash@example.com", HashedPassword: strings.Repeat("h", authn.MaxHashedPasswordLength+1)},
			"full name over MaxFullNameLength characters": {Email: "name@example.com", HashedPassword: "h", FullName: ptr(strings.Repeat("é", authn.MaxFullNameLength+1))},
		} {
			if _, err := f.s.CreateUser(f.ctx, in, nil); err == nil {
				f.Errorf("CreateUser with %s: no error", name)
			}
		}
		if _, total, err := f.s.ListUsers(f.ctx, authn.ListParams{Limit: 10}); err != nil || total != 0 {
			f.Errorf("ListUsers after refused creates: total %d, %v; want 0", total, err)
		}
	}},
	{"fields at their limits are stored", func(f *fixture) {
		email := strings.Repeat("a", authn.MaxEmailLength-len("@example.com")) + "@example.com"
		in := &authn.User{
			Email: email, HashedPassword: strings.Repeat("h", authn.MaxHashedPasswordLength),
			FullName: ptr(strings.Repeat("é", authn.MaxFullNameLength)), IsActive: true,
		}
		u, err := f.s.CreateUser(f.ctx, in, nil)
		f.wantOK("CreateUser with fields at their limits", err)
		want := *in
		want.ID, want.CreatedAt = u.ID, u.CreatedAt
		f.wantUser("GetUserByID", f.reload(u.ID), &want)
	}},
	{"the input is not retained", func(f *fixture) {
		in := &authn.User{Email: "input@example.com", HashedPassword: "h", FullName: ptr("Before"), IsActive: true, TokensValidAfter: ptr(f.now)}
		u := f.createUser(in)
		want := *u
		want.FullName, want.TokensValidAfter = ptr("Before"), ptr(f.now)
		*in.FullName = "After"
		*in.TokensValidAfter = f.at(time.Hour)
		in.Email = "changed@example.com"
		f.wantUser("GetUserByID after the caller changed its input", f.reload(u.ID), &want)
		*u.FullName = "Returned"
		f.wantUser("GetUserByID after the caller changed the returned user", f.reload(u.ID), &want)
	}},
	{"50 concurrent creates of one email in mixed case: exactly one succeeds", func(f *fixture) {
		const n = 50
		ids := make([]uuid.UUID, n)
		errs := concurrently(n, func(i int) error {
			u, err := f.s.CreateUser(f.ctx, newUser(mixCase("race.user@example.com", i)), nil)
			if err == nil {
				ids[i] = u.ID
			}
			return err
		})
		counts, unexpected := tally(errs, authn.ErrUserAlreadyExists)
		if counts[nil] != 1 || counts[authn.ErrUserAlreadyExists] != n-1 || len(unexpected) > 0 {
			f.Fatalf("CreateUser ×%d: %d succeeded, %d ErrUserAlreadyExists, other errors %v; want 1 and %d",
				n, counts[nil], counts[authn.ErrUserAlreadyExists], unexpected, n-1)
		}
		users, total, err := f.s.ListUsers(f.ctx, authn.ListParams{Limit: n})
		f.wantOK("ListUsers", err)
		if total != 1 || len(users) != 1 || !slices.Contains(ids, users[0].ID) {
			f.Errorf("ListUsers after the race: %d users (total %d), want the one winner", len(users), total)
		}
	}},
}

var updateUserCases = []storeCase{
	{"sets each given field", func(f *fixture) {
		u := f.user("before@example.com")
		tva := f.at(-time.Second)
		ch := authn.UserChanges{
			Email: ptr("after@example.com"), HashedPassword: ptr("new hash"), SetFullName: true, FullName: ptr("Grace Hopper"),
			IsActive: ptr(false), IsSuperuser: ptr(true), IsVerified: ptr(true), TokensValidAfter: &tva,
		}
		got := f.update(u.ID, ch)
		want := *u
		want.Email, want.HashedPassword, want.FullName = "after@example.com", "new hash", ptr("Grace Hopper")
		want.IsActive, want.IsSuperuser, want.IsVerified, want.TokensValidAfter = false, true, true, &tva
		f.wantUser("UpdateUser result", got, &want)
		f.wantUser("GetUserByID after UpdateUser", f.reload(u.ID), &want)
		_, err := f.s.GetUserByEmail(f.ctx, "before@example.com")
		f.wantErr("GetUserByEmail(old email)", err, authn.ErrUserNotFound)
		byEmail, err := f.s.GetUserByEmail(f.ctx, "AFTER@example.com")
		f.wantOK("GetUserByEmail(new email)", err)
		if byEmail.ID != u.ID {
			f.Errorf("GetUserByEmail(new email) = %s, want %s", byEmail.ID, u.ID)
		}
	}},
	{"nil fields are left alone", func(f *fixture) {
		u := f.createUser(&authn.User{Email: "alone@example.com", HashedPassword: "h", FullName: ptr("Kept"), IsActive: true,
			IsVerified: true, TokensValidAfter: ptr(f.now)})
		got := f.update(u.ID, authn.UserChanges{IsSuperuser: ptr(true)})
		want := *u
		want.IsSuperuser = true
		f.wantUser("UpdateUser(IsSuperuser only)", got, &want)
		f.wantUser("GetUserByID", f.reload(u.ID), &want)
	}},
	{"SetFullName with nil clears the full name", func(f *fixture) {
		u := f.createUser(&authn.User{Email: "name@example.com", HashedPassword: "h", FullName: ptr("Name")})
		if got := f.update(u.ID, authn.UserChanges{SetFullName: true}); got.FullName != nil {
			f.Errorf("UpdateUser(SetFullName, nil): FullName = %q, want nil", *got.FullName)
		}
		if got := f.reload(u.ID); got.FullName != nil {
			f.Errorf("GetUserByID after clearing: FullName = %q, want nil", *got.FullName)
		}
	}},
	{"FullName without SetFullName is ignored", func(f *fixture) {
		u := f.createUser(&authn.User{Email: "name@example.com", HashedPassword: "h", FullName: ptr("Name")})
		f.update(u.ID, authn.UserChanges{FullName: ptr("Ignored"), IsVerified: ptr(true)})
		if got := f.reload(u.ID); got.FullName == nil || *got.FullName != "Name" {
			f.Errorf("UpdateUser(FullName without SetFullName): FullName = %v, want Name", deref(got.FullName))
		}
	}},
	{"unknown id is ErrUserNotFound", func(f *fixture) {
		_, err := f.s.UpdateUser(f.ctx, uuid.New(), authn.UserChanges{IsVerified: ptr(true)})
		f.wantErr("UpdateUser(unknown)", err, authn.ErrUserNotFound)
	}},
	{"email taken by another user in another case is ErrEmailAlreadyExists and changes nothing", func(f *fixture) {
		f.user("Other@Example.com")
		u := f.user("me@example.com")
		_, err := f.s.UpdateUser(f.ctx, u.ID, authn.UserChanges{
			Email: ptr("other@EXAMPLE.com"), IsSuperuser: ptr(true), HashedPassword: ptr("new"), BumpCredentials: true,
		})
		f.wantErr("UpdateUser(email of another)", err, authn.ErrEmailAlreadyExists)
		f.wantUser("GetUserByID after the refused update", f.reload(u.ID), u)
	}},
	{"own email in another case is allowed", func(f *fixture) {
		u := f.user("self@example.com")
		got := f.update(u.ID, authn.UserChanges{Email: ptr("SELF@Example.com")})
		if got.Email != "SELF@Example.com" || f.reload(u.ID).Email != "SELF@Example.com" {
			f.Errorf("UpdateUser(own email in another case): email %q, stored %q", got.Email, f.reload(u.ID).Email)
		}
	}},
	{"IfHashedPassword that matches applies the update", func(f *fixture) {
		u := f.user("cond@example.com")
		got := f.update(u.ID, authn.UserChanges{HashedPassword: ptr("next"), IfHashedPassword: ptr(u.HashedPassword)})
		if got.HashedPassword != "next" || f.reload(u.ID).HashedPassword != "next" {
			f.Errorf("UpdateUser(IfHashedPassword current): hash %q, want next", f.reload(u.ID).HashedPassword)
		}
	}},
	{"IfHashedPassword that is stale is ErrUserNotFound and changes nothing", func(f *fixture) {
		u := f.user("stale@example.com")
		s := f.session(u)
		_, err := f.s.UpdateUser(f.ctx, u.ID, authn.UserChanges{
			HashedPassword: ptr("next"), IfHashedPassword: ptr("not the hash"), IsVerified: ptr(true),
			TokensValidAfter: ptr(f.now), BumpCredentials: true, KeepSession: s.ID,
		})
		f.wantErr("UpdateUser(stale IfHashedPassword)", err, authn.ErrUserNotFound)
		f.wantUser("GetUserByID after the refused update", f.reload(u.ID), u)
		f.wantLive("session after the refused update", u, s.ID, true)
	}},
	{"BumpCredentials increments the version and ends the sessions", func(f *fixture) {
		u := f.user("bump@example.com")
		s1, s2 := f.session(u), f.session(u)
		got := f.update(u.ID, authn.UserChanges{HashedPassword: ptr("new"), BumpCredentials: true})
		if got.CredentialVersion != u.CredentialVersion+1 {
			f.Fatalf("UpdateUser(BumpCredentials): version %d, want %d", got.CredentialVersion, u.CredentialVersion+1)
		}
		f.wantLive("first session after the bump", got, s1.ID, false)
		f.wantLive("second session after the bump", got, s2.ID, false)
		if ids := f.sessionIDs(got); len(ids) != 0 {
			f.Errorf("ListSessions after the bump: %v, want none", ids)
		}
		got = f.update(u.ID, authn.UserChanges{BumpCredentials: true})
		if got.CredentialVersion != u.CredentialVersion+2 || f.reload(u.ID).CredentialVersion != u.CredentialVersion+2 {
			f.Errorf("UpdateUser(BumpCredentials) twice: version %d, want %d", got.CredentialVersion, u.CredentialVersion+2)
		}
	}},
	{"a session made with the previous version after the bump is not live", func(f *fixture) {
		u := f.user("late@example.com")
		read := f.reload(u.ID) // a login reads the user…
		f.update(u.ID, authn.UserChanges{HashedPassword: ptr("new"), BumpCredentials: true})
		s := f.session(read) // …and stores its session after the password changed
		f.wantLive("session of the previous version", u, s.ID, false)
	}},
	{"KeepSession moves that session to the new version", func(f *fixture) {
		u := f.user("keep@example.com")
		kept, other := f.session(u), f.session(u)
		got := f.update(u.ID, authn.UserChanges{HashedPassword: ptr("new"), BumpCredentials: true, KeepSession: kept.ID})
		f.wantLive("kept session", got, kept.ID, true)
		f.wantLive("other session", got, other.ID, false)
		if ids := f.sessionIDs(got); !slices.Equal(ids, []uuid.UUID{kept.ID}) {
			f.Errorf("ListSessions after KeepSession: %v, want [%s]", ids, kept.ID)
		}
	}},
	{"KeepSession of another user's session leaves it alone", func(f *fixture) {
		u, v := f.user("u@example.com"), f.user("v@example.com")
		theirs := f.session(v)
		got := f.update(u.ID, authn.UserChanges{BumpCredentials: true, KeepSession: theirs.ID})
		f.wantLive("the other user's session", v, theirs.ID, true)
		f.wantLive("the other user's session, asked as the updated user", got, theirs.ID, false)
		if f.reload(v.ID).CredentialVersion != v.CredentialVersion {
			f.Errorf("UpdateUser of u changed v's credential version")
		}
	}},
	{"KeepSession of an ended session does not revive it", func(f *fixture) {
		u := f.user("ended@example.com")
		s := f.session(u)
		f.wantOK("EndSession", f.s.EndSession(f.ctx, u.ID, s.ID, f.now))
		got := f.update(u.ID, authn.UserChanges{BumpCredentials: true, KeepSession: s.ID})
		f.wantLive("ended session after KeepSession", got, s.ID, false)
	}},
	{"KeepSession without BumpCredentials changes no version", func(f *fixture) {
		u := f.user("nobump@example.com")
		s, other := f.session(u), f.session(u)
		got := f.update(u.ID, authn.UserChanges{IsVerified: ptr(true), KeepSession: s.ID})
		if got.CredentialVersion != u.CredentialVersion {
			f.Errorf("UpdateUser(KeepSession, no bump): version %d, want %d", got.CredentialVersion, u.CredentialVersion)
		}
		f.wantLive("kept session", got, s.ID, true)
		f.wantLive("other session", got, other.ID, true)
	}},
	{"10 concurrent bumps each count", func(f *fixture) {
		u := f.user("bumps@example.com")
		const n = 10
		errs := concurrently(n, func(int) error {
			_, err := f.s.UpdateUser(f.ctx, u.ID, authn.UserChanges{BumpCredentials: true})
			return err
		})
		if err := errors.Join(errs...); err != nil {
			f.Fatalf("UpdateUser(BumpCredentials) ×%d: %v", n, err)
		}
		if v := f.reload(u.ID).CredentialVersion; v != u.CredentialVersion+n {
			f.Errorf("UpdateUser(BumpCredentials) ×%d: version %d, want %d", n, v, u.CredentialVersion+n)
		}
	}},
	{"10 concurrent conditional updates of one hash: exactly one succeeds", func(f *fixture) {
		u := f.user("resets@example.com")
		const n = 10
		errs := concurrently(n, func(i int) error {
			_, err := f.s.UpdateUser(f.ctx, u.ID, authn.UserChanges{
				HashedPassword: ptr(fmt.Sprintf("hash %d", i)), IfHashedPassword: ptr(u.HashedPassword), BumpCredentials: true,
			})
			return err
		})
		counts, unexpected := tally(errs, authn.ErrUserNotFound)
		if counts[nil] != 1 || counts[authn.ErrUserNotFound] != n-1 || len(unexpected) > 0 {
			f.Fatalf("UpdateUser(IfHashedPassword) ×%d: %d succeeded, %d ErrUserNotFound, other errors %v; want 1 and %d",
				n, counts[nil], counts[authn.ErrUserNotFound], unexpected, n-1)
		}
		if v := f.reload(u.ID).CredentialVersion; v != u.CredentialVersion+1 {
			f.Errorf("credential version after the race: %d, want %d", v, u.CredentialVersion+1)
		}
	}},
	{"fields too long for their columns are refused", func(f *fixture) {
		u := f.user("limits@example.com")
		for name, ch := range map[string]authn.UserChanges{
			"empty email":                                 {Email: ptr("")},
			"email over MaxEmailLength bytes":             {Email: ptr(strings.Repeat("a", authn.MaxEmailLength) + "@example.com")},
			"hash over MaxHashedPasswordLength bytes":     {HashedPassword: ptr(strings.Repeat("h", authn.MaxHashedPasswordLength+1))},
			"full name over MaxFullNameLength characters": {SetFullName: true, FullName: ptr(strings.Repeat("é", authn.MaxFullNameLength+1))},
		} {
			if _, err := f.s.UpdateUser(f.ctx, u.ID, ch); err == nil {
				f.Errorf("UpdateUser with %s: no error", name)
			}
		}
		f.wantUser("GetUserByID after refused updates", f.reload(u.ID), u)
	}},
	{"returned user is the caller's", func(f *fixture) {
		u := f.user("owned@example.com")
		got := f.update(u.ID, authn.UserChanges{SetFullName: true, FullName: ptr("Name"), TokensValidAfter: ptr(f.now)})
		want := *got
		want.FullName, want.TokensValidAfter = ptr("Name"), ptr(f.now)
		*got.FullName = "Changed"
		*got.TokensValidAfter = f.at(time.Hour)
		f.wantUser("GetUserByID after the caller changed the returned user", f.reload(u.ID), &want)
	}},
}

var deleteUserCases = []storeCase{
	{"deletes the user and frees the email", func(f *fixture) {
		u := f.user("gone@example.com")
		f.wantOK("DeleteUser", f.s.DeleteUser(f.ctx, u.ID))
		_, err := f.s.GetUserByID(f.ctx, u.ID)
		f.wantErr("GetUserByID of a deleted user", err, authn.ErrUserNotFound)
		_, err = f.s.GetUserByEmail(f.ctx, "gone@example.com")
		f.wantErr("GetUserByEmail of a deleted user", err, authn.ErrUserNotFound)
		_, _, err = f.s.GetUserForToken(f.ctx, u.ID, uuid.Nil, f.now)
		f.wantErr("GetUserForToken of a deleted user", err, authn.ErrUserNotFound)
		_, err = f.s.CreateUser(f.ctx, newUser("GONE@example.com"), nil)
		f.wantOK("CreateUser with the deleted user's email", err)
	}},
	{"deletes the user's sessions and refresh tokens", func(f *fixture) {
		u, other := f.user("owner@example.com"), f.user("bystander@example.com")
		s, rt := f.sessionWithRefresh(u, fromIP("198.51.100.7"))
		os, ort := f.sessionWithRefresh(other)
		f.wantOK("DeleteUser", f.s.DeleteUser(f.ctx, u.ID))
		f.refreshGone("refresh token of a deleted user", rt.Hash)
		if ss, err := f.s.ListSessions(f.ctx, u.ID, f.now); err != nil || len(ss) != 0 {
			f.Errorf("ListSessions of a deleted user: %d sessions, %v; want none", len(ss), err)
		}
		if known, err := f.s.KnownClient(f.ctx, u.ID, "198.51.100.7", f.at(-time.Hour)); err != nil || known {
			f.Errorf("KnownClient of a deleted user's address: %v, %v; want false", known, err)
		}
		if err := f.s.EndSession(f.ctx, u.ID, s.ID, f.now); !errors.Is(err, authn.ErrSessionNotFound) {
			f.Errorf("EndSession of a deleted user's session: %v, want ErrSessionNotFound", err)
		}
		f.wantLive("the other user's session", other, os.ID, true)
		if _, _, _, err := f.s.GetRefreshToken(f.ctx, ort.Hash); err != nil {
			f.Errorf("GetRefreshToken of the other user's token: %v", err)
		}
	}},
	{"unknown id is ErrUserNotFound", func(f *fixture) {
		f.user("stays@example.com")
		f.wantErr("DeleteUser(unknown)", f.s.DeleteUser(f.ctx, uuid.New()), authn.ErrUserNotFound)
		if _, total, _ := f.s.ListUsers(f.ctx, authn.ListParams{Limit: 10}); total != 1 {
			f.Errorf("ListUsers after DeleteUser(unknown): total %d, want 1", total)
		}
	}},
	{"racing the user's other writes: nothing of the user is left", func(f *fixture) {
		for i := range 10 {
			u := f.user(fmt.Sprintf("race%d@example.com", i))
			keep, old := f.sessionWithRefresh(u)
			other, _ := f.sessionWithRefresh(u)
			next := f.newRefresh(keep, f.at(2*time.Hour))
			calls := []struct {
				name string
				call func() error
				ok   []error // the sentinels it may return besides nil
			}{
				{"DeleteUser", func() error { return f.s.DeleteUser(f.ctx, u.ID) }, nil},
				{"UpdateUser(BumpCredentials, KeepSession)", func() error {
					_, err := f.s.UpdateUser(f.ctx, u.ID, authn.UserChanges{HashedPassword: ptr("new"), BumpCredentials: true, KeepSession: keep.ID})
					return err
				}, []error{authn.ErrUserNotFound}},
				{"RotateRefreshToken", func() error {
					return f.s.RotateRefreshToken(f.ctx, old.Hash, next, f.now, f.at(2*time.Hour))
				}, []error{authn.ErrRefreshTokenUsed, authn.ErrSessionNotFound}},
				{"EndSession", func() error { return f.s.EndSession(f.ctx, u.ID, other.ID, f.now) }, []error{authn.ErrSessionNotFound}},
				{"EndSessions", func() error {
					_, err := f.s.EndSessions(f.ctx, u.ID, keep.ID, f.now)
					return err
				}, nil},
			}
			errs := concurrently(len(calls), func(j int) error { return calls[j].call() })
			for j, c := range calls {
				if _, unexpected := tally(errs[j:j+1], c.ok...); len(unexpected) > 0 {
					f.Errorf("round %d: %s racing the others: %v", i, c.name, errs[j])
				}
			}
			_, err := f.s.GetUserByID(f.ctx, u.ID)
			f.wantErr(fmt.Sprintf("round %d: GetUserByID after the race", i), err, authn.ErrUserNotFound)
			for _, h := range []string{old.Hash, next.Hash} {
				f.refreshGone(fmt.Sprintf("round %d: refresh token after the race", i), h)
			}
			if ss, err := f.s.ListSessions(f.ctx, u.ID, f.now); err != nil || len(ss) != 0 {
				f.Errorf("round %d: ListSessions after the race: %d sessions, %v; want none", i, len(ss), err)
			}
		}
	}},
	{"twice is ErrUserNotFound", func(f *fixture) {
		u := f.user("twice@example.com")
		f.wantOK("DeleteUser", f.s.DeleteUser(f.ctx, u.ID))
		f.wantErr("DeleteUser again", f.s.DeleteUser(f.ctx, u.ID), authn.ErrUserNotFound)
	}},
}

// createdUsers creates users with the given creation instants and returns
// them in that order.
func (f *fixture) createdUsers(at ...time.Time) []*authn.User {
	f.Helper()
	us := make([]*authn.User, len(at))
	for i, t := range at {
		in := newUser(fmt.Sprintf("user%02d@example.com", i))
		in.CreatedAt, in.UpdatedAt = t, t
		us[i] = f.createUser(in)
	}
	return us
}

// wantPage fails the case unless ListUsers(p) returns the users want, in
// that order, and total.
func (f *fixture) wantPage(p authn.ListParams, want []*authn.User, total int) {
	f.Helper()
	got, n, err := f.s.ListUsers(f.ctx, p)
	f.wantOK(fmt.Sprintf("ListUsers(%+v)", p), err)
	gotIDs, wantIDs := make([]uuid.UUID, len(got)), make([]uuid.UUID, len(want))
	for i, u := range got {
		gotIDs[i] = u.ID
	}
	for i, u := range want {
		wantIDs[i] = u.ID
	}
	if n != total || !slices.Equal(gotIDs, wantIDs) {
		f.Errorf("ListUsers(%+v) = %v (total %d), want %v (total %d)", p, gotIDs, n, wantIDs, total)
	}
}

var listUsersCases = []storeCase{
	{"empty store", func(f *fixture) {
		f.wantPage(authn.ListParams{Limit: 10}, nil, 0)
	}},
	{"oldest first with the total", func(f *fixture) {
		us := f.createdUsers(f.at(-time.Hour), f.at(-3*time.Hour), f.at(-2*time.Hour))
		f.wantPage(authn.ListParams{Limit: 10}, []*authn.User{us[1], us[2], us[0]}, 3)
		got, _, _ := f.s.ListUsers(f.ctx, authn.ListParams{Limit: 10})
		if len(got) == 3 {
			f.wantUser("ListUsers entry", got[0], us[1])
		}
	}},
	{"equal creation times ordered by id", func(f *fixture) {
		us := f.createdUsers(f.now, f.now, f.now, f.now, f.at(-time.Hour))
		want := slices.Clone(us[:4])
		slices.SortFunc(want, func(a, b *authn.User) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		f.wantPage(authn.ListParams{Limit: 10}, append([]*authn.User{us[4]}, want...), 5)
	}},
	{"creation times in other zones ordered by instant", func(f *fixture) {
		west, east := time.FixedZone("UTC-8", -8*3600), time.FixedZone("UTC+8", 8*3600)
		us := f.createdUsers(f.at(-2*time.Hour).In(west), f.at(-time.Hour).In(east), f.at(-3*time.Hour))
		f.wantPage(authn.ListParams{Limit: 10}, []*authn.User{us[2], us[0], us[1]}, 3)
	}},
	{"offset and limit page through", func(f *fixture) {
		us := f.createdUsers(f.at(-5*time.Hour), f.at(-4*time.Hour), f.at(-3*time.Hour), f.at(-2*time.Hour), f.at(-time.Hour))
		f.wantPage(authn.ListParams{Offset: 0, Limit: 2}, us[0:2], 5)
		f.wantPage(authn.ListParams{Offset: 2, Limit: 2}, us[2:4], 5)
		f.wantPage(authn.ListParams{Offset: 4, Limit: 2}, us[4:], 5)
	}},
	{"offset past the end is an empty page with the total", func(f *fixture) {
		f.createdUsers(f.at(-2*time.Hour), f.at(-time.Hour))
		f.wantPage(authn.ListParams{Offset: 5, Limit: 10}, nil, 2)
	}},
}
