package httpapi_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/keylin/keylin/internal/dbtest"
)

// TestRegisterRefusesUnsafeEmailCharacters: invisible, bidi and format
// characters, non-ASCII spaces, private-use characters and a leading
// combining mark make an email invalid (422 on body.email), as pydantic's
// EmailStr (python-email-validator) has it. A Python service sharing the
// user table would refuse such an address, and an admin view would show it
// as another one. None is silently dropped either: the address without the
// character is still free afterwards.
func TestRegisterRefusesUnsafeEmailCharacters(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, config{})
		for _, tc := range []struct{ name, ch string }{
			{"ZeroWidthSpace", "\u200B"},
			{"ZeroWidthJoiner", "\u200D"},
			{"RightToLeftOverride", "\u202E"},
			{"SoftHyphen", "\u00AD"},
			{"IdeographicSpace", "\u3000"},
			{"EnSpace", "\u2002"},
			{"PrivateUse", "\uE000"},
			{"SupplementaryPrivateUse", "\U000F0000"},
		} {
			for where, email := range map[string]string{
				"Local":  "a" + tc.ch + "b@example.com",
				"Domain": "ab@exa" + tc.ch + "mple.com",
			} {
				t.Run(where+"/"+tc.name, func(t *testing.T) {
					expectEmailInvalid(t, e.postJSON("/auth/register", "", map[string]any{"email": email, "password": testPassword}))
				})
			}
		}
		for where, email := range map[string]string{
			"Local":  "\u0301ab@example.com",
			"Domain": "ab@\u0301example.com",
		} {
			t.Run(where+"/LeadingCombiningMark", func(t *testing.T) {
				expectEmailInvalid(t, e.postJSON("/auth/register", "", map[string]any{"email": email, "password": testPassword}))
			})
		}
		t.Run("CleanAddressStillFree", func(t *testing.T) {
			r := e.postJSON("/auth/register", "", map[string]any{"email": "ab@example.com", "password": testPassword})
			r.expectStatus(t, http.StatusCreated)
			if got := r.userJSON(t)["email"]; got != "ab@example.com" {
				t.Fatalf("email %q", got)
			}
		})
	})
}

// expectEmailInvalid checks a 422 with a single error, at loc
// ["body", "email"].
func expectEmailInvalid(t *testing.T, r *resp) {
	t.Helper()
	r.expectStatus(t, http.StatusUnprocessableEntity)
	var b struct {
		Detail []struct {
			Loc []any `json:"loc"`
		} `json:"detail"`
	}
	r.decode(t, &b)
	if len(b.Detail) != 1 || !reflect.DeepEqual(b.Detail[0].Loc, []any{"body", "email"}) {
		t.Fatalf("detail %s, want one error at [\"body\",\"email\"]", r.body)
	}
}
