package httpapi_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
)

// unusedStore is a store no test calls: mounting only registers routes.
type unusedStore struct{ authn.Store }

// TestDescribeListsWhatIsMounted: Describe lists exactly the routes Echo
// has, at the prefixes they were mounted at, each with its own name, and
// the options that shape them (keylin's own schema has no fields of its
// own to describe).
func TestDescribeListsWhatIsMounted(t *testing.T) {
	m, err := authn.NewManager(unusedStore{}, authtest.Tokens(t),
		authn.WithRefreshTokens(time.Hour), authn.WithRequireVerification(true))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, httpapi.WithCookie(httpapi.CookieConfig{Name: "sid"}), httpapi.WithUserSchema(ent.KeylinUserSchema()))
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	if d := api.Describe(); len(d.Routes) != 0 {
		t.Fatalf("routes before mounting: %v", d.Routes)
	}
	v1 := e.Group("/api/v1")
	api.MountAuth(v1.Group("/auth/bearer"))
	api.MountCookieAuth(v1.Group("/auth/cookie"))
	api.MountRegister(v1.Group("/auth"))
	api.MountUsers(v1.Group("/people"))

	d := api.Describe()
	var described, echoed []string
	names := map[string]bool{}
	for _, r := range d.Routes {
		described = append(described, r.Method+" "+r.Path)
		if r.Name == "" || names[r.Name] {
			t.Errorf("%s %s: name %q is empty or not unique", r.Method, r.Path, r.Name)
		}
		names[r.Name] = true
	}
	for _, r := range e.Routes() {
		echoed = append(echoed, r.Method+" "+r.Path)
	}
	slices.Sort(described)
	slices.Sort(echoed)
	if !slices.Equal(described, echoed) {
		t.Fatalf("described routes:\n%s\nEcho's:\n%s", strings.Join(described, "\n"), strings.Join(echoed, "\n"))
	}
	for _, want := range []string{"POST /api/v1/auth/bearer/login", "POST /api/v1/auth/register", "PATCH /api/v1/people/:id", "GET /api/v1/people"} {
		if !slices.Contains(described, want) {
			t.Errorf("%s is not described", want)
		}
	}
	if !names["auth:jwt.login"] || !names["auth:cookie.login"] || !names["users:patch_current_user"] {
		t.Errorf("fastapi-users' route names missing: %v", names)
	}
	if d.CookieName != "sid" || d.RefreshCookieName != "sid_refresh" || !d.RefreshTokens || !d.RequireVerification || d.Fields != nil {
		t.Errorf("options described as %+v", d)
	}
}
