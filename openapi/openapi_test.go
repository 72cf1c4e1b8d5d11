package openapi_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/openapi"
	"github.com/keylin/keylin/userschema"
)

// unusedStore is a store nothing calls: these tests only mount routes.
type unusedStore struct{ authn.Store }

// layout is one way an application mounts keylin.
type layout struct {
	name    string
	manager []authn.Option
	api     []httpapi.Option
	mount   func(e *echo.Echo, api *httpapi.API)
}

var layouts = []layout{
	{name: "MountAll", manager: []authn.Option{authn.WithRefreshTokens(time.Hour)},
		mount: func(e *echo.Echo, api *httpapi.API) { api.MountAll(e) }},
	{name: "MountAllCookieVerified", manager: []authn.Option{authn.WithRefreshTokens(time.Hour), authn.WithRequireVerification(true)},
		api:   []httpapi.Option{httpapi.WithCookie(httpapi.CookieConfig{Name: "shop"})},
		mount: func(e *echo.Echo, api *httpapi.API) { api.MountAll(e) }},
	{name: "NoRefreshTokens",
		mount: func(e *echo.Echo, api *httpapi.API) { api.MountAll(e) }},
	{name: "OwnPrefixes", api: []httpapi.Option{httpapi.WithCookie(httpapi.CookieConfig{})},
		mount: func(e *echo.Echo, api *httpapi.API) {
			g := e.Group("/api/v1")
			api.MountAuth(g.Group("/login/bearer"))
			api.MountCookieAuth(g.Group("/login/cookie"))
			api.MountRegister(g.Group("/signup"))
			api.MountUsers(g.Group("/accounts"))
		}},
	{name: "UsersOnly",
		mount: func(e *echo.Echo, api *httpapi.API) { api.MountUsers(e.Group("/people")) }},
}

// build mounts l on a new Echo and returns it with the API's document,
// which must be valid once written out and loaded back.
func build(t *testing.T, l layout, fields []userschema.Field) (*echo.Echo, *openapi3.T) {
	t.Helper()
	m, err := authn.NewManager(unusedStore{}, authtest.Tokens(t), l.manager...)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, l.api...)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	l.mount(e, api)
	d := api.Describe()
	d.Fields = fields
	doc, err := openapi.New(d, openapi.Info{Title: "test", Version: "1"})
	if err != nil {
		t.Fatal(err)
	}
	return e, reload(t, doc)
}

// reload writes doc as JSON, loads it back and validates it: what a
// client generator reading the served file gets.
func reload(t *testing.T, doc *openapi3.T) *openapi3.T {
	t.Helper()
	b, err := doc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := openapi3.NewLoader().LoadFromData(b)
	if err != nil {
		t.Fatalf("load the written document: %v", err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("the written document is not valid: %v", err)
	}
	if loaded.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", loaded.OpenAPI)
	}
	return loaded
}

// TestEveryMountedRouteIsDescribed: for each layout, the document's
// operations are exactly the routes Echo has — none missing, none extra —
// at the prefixes they were mounted at.
func TestEveryMountedRouteIsDescribed(t *testing.T) {
	for _, l := range layouts {
		t.Run(l.name, func(t *testing.T) {
			e, doc := build(t, l, nil)
			var described, mounted []string
			for path, item := range doc.Paths.Map() {
				for method := range item.Operations() {
					described = append(described, method+" "+path)
				}
			}
			for _, r := range e.Routes() {
				mounted = append(mounted, r.Method+" "+openapi.Path(r.Path))
			}
			slices.Sort(described)
			slices.Sort(mounted)
			if len(mounted) == 0 || !slices.Equal(described, mounted) {
				t.Fatalf("described:\n%s\nmounted:\n%s", strings.Join(described, "\n"), strings.Join(mounted, "\n"))
			}
		})
	}
}

// TestSecuritySchemesFollowTheTransports: the OAuth2 password flow's
// token URL is the bearer login route where it is mounted, bearer is
// always accepted, the cookie scheme names the cookie only when the
// transport is on, and each route requires the schemes of the transports
// it takes.
func TestSecuritySchemesFollowTheTransports(t *testing.T) {
	cases := []struct {
		layout          string
		tokenURL        string // "" for no OAuth2 scheme
		cookie          string
		me              string // the path of GET /users/me
		meSchemes       []string
		forbidden403Me  bool
		loginNotVerif   bool
		refreshResponse bool
	}{
		{"MountAll", "/auth/jwt/login", "", "/users/me", []string{"OAuth2PasswordBearer", "HTTPBearer"}, false, false, true},
		{"MountAllCookieVerified", "/auth/jwt/login", "shop", "/users/me", []string{"OAuth2PasswordBearer", "HTTPBearer", "APIKeyCookie"}, true, true, true},
		{"NoRefreshTokens", "/auth/jwt/login", "", "/users/me", []string{"OAuth2PasswordBearer", "HTTPBearer"}, false, false, false},
		{"OwnPrefixes", "/api/v1/login/bearer/login", "fastapiusersauth", "/api/v1/accounts/me", []string{"OAuth2PasswordBearer", "HTTPBearer", "APIKeyCookie"}, false, false, false},
		{"UsersOnly", "", "", "/people/me", []string{"HTTPBearer"}, false, false, false},
	}
	for _, c := range cases {
		t.Run(c.layout, func(t *testing.T) {
			i := slices.IndexFunc(layouts, func(l layout) bool { return l.name == c.layout })
			_, doc := build(t, layouts[i], nil)
			schemes := doc.Components.SecuritySchemes
			if oauth := schemes["OAuth2PasswordBearer"]; c.tokenURL == "" {
				if oauth != nil {
					t.Errorf("an OAuth2 scheme without a bearer login route: %+v", oauth.Value)
				}
			} else if oauth == nil || oauth.Value.Flows.Password.TokenURL != c.tokenURL {
				t.Errorf("OAuth2 password flow %+v, want tokenUrl %s", oauth, c.tokenURL)
			}
			if bearer := schemes["HTTPBearer"]; bearer == nil || bearer.Value.Type != "http" || bearer.Value.Scheme != "bearer" {
				t.Errorf("bearer scheme %+v", bearer)
			}
			if ck := schemes["APIKeyCookie"]; c.cookie == "" {
				if ck != nil {
					t.Errorf("a cookie scheme without the cookie transport")
				}
			} else if ck == nil || ck.Value.In != "cookie" || ck.Value.Name != c.cookie {
				t.Errorf("cookie scheme %+v, want the cookie %s", ck, c.cookie)
			}
			me := doc.Paths.Value(c.me).Get
			var got []string
			for _, req := range *me.Security {
				for name := range req {
					got = append(got, name)
				}
			}
			if !slices.Equal(got, c.meSchemes) {
				t.Errorf("GET %s security %v, want any of %v", c.me, got, c.meSchemes)
			}
			if (me.Responses.Value("403") != nil) != c.forbidden403Me {
				t.Errorf("GET %s documents 403: %v, want %v (only when verification is required)", c.me, me.Responses.Value("403") != nil, c.forbidden403Me)
			}
			if c.tokenURL != "" {
				login := doc.Paths.Value(c.tokenURL).Post
				if login.Security != nil {
					t.Errorf("the login route requires %v", *login.Security)
				}
				_, notVerified := login.Responses.Value("400").Value.Content.Get("application/json").Examples["LOGIN_USER_NOT_VERIFIED"]
				if notVerified != c.loginNotVerif {
					t.Errorf("LOGIN_USER_NOT_VERIFIED documented: %v, want %v", notVerified, c.loginNotVerif)
				}
				bearer := doc.Components.Schemas["BearerResponse"].Value
				if _, ok := bearer.Properties["refresh_token"]; ok != c.refreshResponse || slices.Contains(bearer.Required, "expires_in") != c.refreshResponse {
					t.Errorf("BearerResponse %v required %v: refresh_token and expires_in only with refresh tokens", bearer.Properties, bearer.Required)
				}
			}
		})
	}
}

// TestFieldsAsAnnotated: each application field appears in the user
// shapes its description allows, with its type, enum, length limit,
// nullability and default, and nowhere else.
func TestFieldsAsAnnotated(t *testing.T) {
	fields := []userschema.Field{
		{Name: "role", Description: "What the user may do.", Type: "string", Enum: []string{"member", "admin"}, Default: "member", Read: true, UpdateSuperuser: true},
		{Name: "nickname", Type: "string", MaxLength: 40, Nullable: true, Read: true, Create: true, UpdateSelf: true, UpdateSuperuser: true},
		{Name: "badge", Type: "string", Enum: []string{"gold"}, Nullable: true, Read: true, UpdateSelf: true},
		{Name: "secret_code", Type: "string", UpdateSuperuser: true},
		{Name: "age", Type: "integer", Format: "int64", Create: true, Default: 18},
	}
	_, doc := build(t, layouts[0], fields)
	shapes := map[string][]string{
		"UserRead":            {"role", "nickname", "badge"},
		"UserCreate":          {"nickname", "age"},
		"UserUpdate":          {"nickname", "badge"},
		"UserUpdateSuperuser": {"role", "nickname", "secret_code"},
	}
	for shape, want := range shapes {
		s := doc.Components.Schemas[shape].Value
		for _, f := range fields {
			if _, ok := s.Properties[f.Name]; ok != slices.Contains(want, f.Name) {
				t.Errorf("%s has %s: %v, want %v", shape, f.Name, ok, !ok)
			}
		}
	}
	read := doc.Components.Schemas["UserRead"].Value
	if !slices.Contains(read.Required, "role") || !slices.Contains(read.Required, "nickname") {
		t.Errorf("UserRead requires %v: every key of the user object is always there", read.Required)
	}
	role := read.Properties["role"].Value
	if !role.Type.Is("string") || !slices.Equal(role.Enum, []any{"member", "admin"}) || role.Description != "What the user may do." {
		t.Errorf("role: %+v", role)
	}
	nick := read.Properties["nickname"].Value
	if !slices.Equal(nick.Type.Slice(), []string{"string", "null"}) || nick.MaxLength == nil || *nick.MaxLength != 40 {
		t.Errorf("nickname: type %v maxLength %v, want [string null] and 40", nick.Type.Slice(), nick.MaxLength)
	}
	badge := doc.Components.Schemas["UserUpdate"].Value.Properties["badge"].Value
	if !slices.Equal(badge.Enum, []any{"gold", nil}) {
		t.Errorf("a nullable enum's values %v, want null among them", badge.Enum)
	}
	create := doc.Components.Schemas["UserCreate"].Value
	if age := create.Properties["age"].Value; age.Default != 18.0 || age.Format != "int64" {
		t.Errorf("age at registration: default %v format %q", age.Default, age.Format)
	}
	if !slices.Equal(create.Required, []string{"email", "password"}) {
		t.Errorf("UserCreate requires %v", create.Required)
	}
	// The schemas are what a client validates with: a user object with a
	// role outside the enum or an over-long nickname does not pass.
	valid := map[string]any{"id": "0b7e0a3c-6a40-4a6b-9a51-2f2b6f9e5c1d", "email": "a@example.com", "is_active": true,
		"is_superuser": false, "is_verified": false, "full_name": nil, "role": "member", "nickname": nil, "badge": "gold"}
	if err := read.VisitJSON(valid, openapi3.EnableJSONSchema2020()); err != nil {
		t.Errorf("a valid user object is refused: %v", err)
	}
	for key, bad := range map[string]any{"role": "owner", "nickname": strings.Repeat("n", 41)} {
		u := map[string]any{}
		for k, v := range valid {
			u[k] = v
		}
		u[key] = bad
		if err := read.VisitJSON(u, openapi3.EnableJSONSchema2020()); err == nil {
			t.Errorf("a user object with %s = %v passes", key, bad)
		}
	}
}

// TestOperationsNamedAsFastAPI: operation ids and summaries are those
// FastAPI derives from fastapi-users' route names, so that generated
// clients name their functions alike.
func TestOperationsNamedAsFastAPI(t *testing.T) {
	_, doc := build(t, layouts[0], nil)
	cases := []struct{ method, path, id, summary string }{
		{"POST", "/auth/jwt/login", "auth_jwt_login_auth_jwt_login_post", "Auth:Jwt.Login"},
		{"POST", "/auth/register", "register_register_auth_register_post", "Register:Register"},
		{"POST", "/auth/request-verify-token", "verify_request_token_auth_request_verify_token_post", "Verify:Request-Token"},
		{"PATCH", "/users/me", "users_patch_current_user_users_me_patch", "Users:Patch Current User"},
		{"GET", "/users/{id}", "users_user_users__id__get", "Users:User"},
		{"DELETE", "/users/{id}", "users_delete_user_users__id__delete", "Users:Delete User"},
	}
	for _, c := range cases {
		op := doc.Paths.Value(c.path).GetOperation(c.method)
		if op == nil || op.OperationID != c.id || op.Summary != c.summary {
			t.Errorf("%s %s: %+v, want id %s, summary %s", c.method, c.path, op, c.id, c.summary)
		}
	}
	form := doc.Components.Schemas["Body_auth_jwt_login_auth_jwt_login_post"]
	if form == nil || !slices.Equal(form.Value.Required, []string{"username", "password"}) {
		t.Errorf("login form %+v: FastAPI's OAuth2PasswordRequestForm, named after the route", form)
	}
}

// TestUnknownRoute: a route the package does not describe is an error, not
// a silent gap in the document.
func TestUnknownRoute(t *testing.T) {
	d := httpapi.Description{Routes: []httpapi.Route{{Method: "GET", Path: "/x", Name: "users:teleport"}}}
	if _, err := openapi.New(d, openapi.Info{}); err == nil || !strings.Contains(err.Error(), "users:teleport") {
		t.Fatalf("err = %v, want one naming the route", err)
	}
}

// TestDefaultDescription: the default layout is MountAll's with keylin
// serve's defaults, and its document is valid.
func TestDefaultDescription(t *testing.T) {
	d, err := openapi.DefaultDescription()
	if err != nil {
		t.Fatal(err)
	}
	if !d.RefreshTokens || d.CookieName != "" || d.RequireVerification || len(d.Routes) != 23-3 {
		t.Fatalf("default description %+v", d)
	}
	doc, err := openapi.New(d, openapi.Info{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(doc)
	if err != nil || !strings.Contains(string(b), `"title":"keylin"`) {
		t.Fatalf("%v %s", err, b)
	}
	reload(t, doc)
}
