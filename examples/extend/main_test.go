package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/userschema"

	"github.com/keylin/keylin/examples/extend/ent"
	"github.com/keylin/keylin/examples/extend/ent/migrate"
	"github.com/keylin/keylin/examples/extend/ent/migrate/migrations"
	"github.com/keylin/keylin/examples/extend/ent/privacy"
	"github.com/keylin/keylin/examples/extend/ent/user"
)

const (
	secret   = "extend-example-test-secret-0123456789abcdef"
	password = "extend example passphrase"
)

// TestExtend runs the application on SQLite and PostgreSQL and checks its
// own user fields go through keylin's API as their annotations say.
func TestExtend(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d string) {
		// The test reaches into the database as the system: the User policy
		// denies a context without an authenticated user.
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		db := testDB(t, d)
		if err := migrateUp(ctx, db); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		client := ent.NewClient(ent.Driver(db.Driver()))
		e, _, err := newApp(testSettings(), client)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(e)
		defer srv.Close()
		c := &apiClient{t: t, base: srv.URL}

		// Register accepts nickname, ignores role (superuser-only) and
		// internal_note (hidden, never set through the API).
		code, neo, raw := c.do("POST", "/auth/register", "", map[string]any{
			"email": "neo@example.com", "password": password,
			"nickname": "neo", "role": "admin", "internal_note": "from the client"})
		if code != 201 || neo["nickname"] != "neo" || neo["role"] != "member" {
			t.Fatalf("register: %d %s", code, raw)
		}
		noHidden(t, "register", raw)
		neoID := uuid.MustParse(neo["id"].(string))
		if u := client.User.GetX(ctx, neoID); u.InternalNote != nil || u.Role != "member" {
			t.Fatalf("stored after register: role %q internal_note %v", u.Role, u.InternalNote)
		}

		// The application's code sets the hidden field; the API never shows it.
		client.User.UpdateOneID(neoID).SetInternalNote("watch this one").ExecX(ctx)
		neoTok := c.login("neo@example.com")
		code, me, raw := c.do("GET", "/users/me", neoTok, nil)
		if code != 200 || me["nickname"] != "neo" || me["role"] != "member" {
			t.Fatalf("GET /users/me: %d %s", code, raw)
		}
		noHidden(t, "GET /users/me", raw)
		// The generated ent.UserRead is the same object, for the app's own routes.
		if want, _ := json.Marshal(ent.NewUserRead(client.User.GetX(ctx, neoID))); !jsonEqual(t, want, []byte(raw)) {
			t.Fatalf("ent.NewUserRead = %s, GET /users/me = %s", want, raw)
		}

		// A user changes their nickname, not their role nor the hidden field.
		code, me, raw = c.do("PATCH", "/users/me", neoTok, map[string]any{
			"nickname": "trinity", "role": "admin", "internal_note": "erased"})
		if code != 200 || me["nickname"] != "trinity" || me["role"] != "member" {
			t.Fatalf("PATCH /users/me: %d %s", code, raw)
		}
		noHidden(t, "PATCH /users/me", raw)
		code, body, _ := c.do("PATCH", "/users/me", neoTok, map[string]any{"nickname": strings.Repeat("n", 41)})
		wantFieldError(t, "a 41-character nickname", code, body, "nickname")
		if detail := body["detail"].([]any)[0].(map[string]any); detail["type"] != "string_too_long" {
			t.Fatalf("a 41-character nickname: %v, want string_too_long", detail)
		}
		// Characters, not bytes, end to end: 40 × "é" is 80 bytes.
		code, me, raw = c.do("PATCH", "/users/me", neoTok, map[string]any{"nickname": strings.Repeat("é", 40)})
		if code != 200 || me["nickname"] != strings.Repeat("é", 40) {
			t.Fatalf("a 40-character nickname of 80 bytes: %d %s", code, raw)
		}
		if n := *client.User.GetX(ctx, neoID).Nickname; n != strings.Repeat("é", 40) {
			t.Fatalf("stored nickname %q", n)
		}
		code, me, raw = c.do("PATCH", "/users/me", neoTok, map[string]any{"nickname": "trinity"})
		if code != 200 || me["nickname"] != "trinity" {
			t.Fatalf("PATCH /users/me: %d %s", code, raw)
		}
		code, body, _ = c.do("PATCH", "/users/me", neoTok, map[string]any{"nickname": 42})
		wantFieldError(t, "a number for nickname", code, body, "nickname")

		// A superuser sets role; an invalid value is a 422 naming the field.
		c.do("POST", "/auth/register", "", map[string]any{"email": "root@example.com", "password": password})
		client.User.Update().Where(user.Email("root@example.com")).SetIsSuperuser(true).ExecX(ctx)
		rootTok := c.login("root@example.com")
		code, u, raw := c.do("PATCH", "/users/"+neoID.String(), rootTok, map[string]any{"role": "admin", "internal_note": "erased"})
		if code != 200 || u["role"] != "admin" || u["nickname"] != "trinity" {
			t.Fatalf("superuser PATCH /users/{id}: %d %s", code, raw)
		}
		noHidden(t, "PATCH /users/{id}", raw)
		code, body, _ = c.do("PATCH", "/users/"+neoID.String(), rootTok, map[string]any{"role": "owner"})
		wantFieldError(t, "role owner", code, body, "role")
		if u := client.User.GetX(ctx, neoID); u.Role != "admin" || u.InternalNote == nil || *u.InternalNote != "watch this one" {
			t.Fatalf("stored after the patches: role %q internal_note %v", u.Role, u.InternalNote)
		}
		for _, path := range []string{"/users/" + neoID.String(), "/users"} {
			code, _, raw := c.do("GET", path, rootTok, nil)
			if code != 200 {
				t.Fatalf("GET %s: %d %s", path, code, raw)
			}
			noHidden(t, "GET "+path, raw)
		}

		// The application's own route, for superusers only.
		if code, _, raw := c.do("GET", "/admin/nicknames", "", nil); code != 401 {
			t.Fatalf("/admin/nicknames without a token: %d %s", code, raw)
		}
		if code, _, raw := c.do("GET", "/admin/nicknames", neoTok, nil); code != 403 {
			t.Fatalf("/admin/nicknames as a user (role admin is not superuser): %d %s", code, raw)
		}
		code, body, raw = c.do("GET", "/admin/nicknames", rootTok, nil)
		if code != 200 || !reflect.DeepEqual(body["nicknames"], []any{"trinity"}) {
			t.Fatalf("/admin/nicknames: %d %s", code, raw)
		}
	})
}

// TestOrders: the application's own entity, protected by the privacy
// rules keylin generated from the OwnedBy annotation, with the user keylin
// put in the request's context: each user sees and changes only their own
// orders, a superuser all of them, nobody without a token; deleting a user
// who still owns orders is refused (409), losing nothing.
func TestOrders(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d string) {
		sys := privacy.DecisionContext(context.Background(), privacy.Allow)
		db := testDB(t, d)
		if err := migrateUp(sys, db); err != nil {
			t.Fatal(err)
		}
		client := ent.NewClient(ent.Driver(db.Driver()))
		e, _, err := newApp(testSettings(), client)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(e)
		defer srv.Close()
		c := &apiClient{t: t, base: srv.URL}
		for _, email := range []string{"ann@example.com", "bob@example.com", "boss@example.com"} {
			if code, _, raw := c.do("POST", "/auth/register", "", map[string]any{"email": email, "password": password}); code != 201 {
				t.Fatalf("register %s: %d %s", email, code, raw)
			}
		}
		client.User.Update().Where(user.Email("boss@example.com")).SetIsSuperuser(true).ExecX(sys)
		ann, bob, boss := c.login("ann@example.com"), c.login("bob@example.com"), c.login("boss@example.com")

		orderIDs := map[string][]float64{}
		for tok, items := range map[string][]string{ann: {"apples", "pears"}, bob: {"bread"}} {
			for _, item := range items {
				code, o, raw := c.do("POST", "/orders", tok, map[string]any{"item": item, "quantity": 2})
				if code != 201 {
					t.Fatalf("create %s: %d %s", item, code, raw)
				}
				orderIDs[tok] = append(orderIDs[tok], o["id"].(float64))
			}
		}
		items := func(tok string) []string {
			t.Helper()
			req, _ := http.NewRequest("GET", srv.URL+"/orders", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var os []struct {
				Item string `json:"item"`
			}
			if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&os) != nil {
				t.Fatalf("GET /orders: %d", res.StatusCode)
			}
			var out []string
			for _, o := range os {
				out = append(out, o.Item)
			}
			return out
		}
		if got := items(ann); !reflect.DeepEqual(got, []string{"apples", "pears"}) {
			t.Fatalf("ann sees %v", got)
		}
		if got := items(bob); !reflect.DeepEqual(got, []string{"bread"}) {
			t.Fatalf("bob sees %v", got)
		}
		if got := items(boss); len(got) != 3 {
			t.Fatalf("the superuser sees %v, want all 3", got)
		}
		if code, _, _ := c.do("GET", "/orders", "", nil); code != 401 {
			t.Fatalf("GET /orders without a token: %d", code)
		}
		// Bob cannot delete Ann's order: for him it does not exist.
		annOrder := fmt.Sprint(int(orderIDs[ann][0]))
		if code, _, raw := c.do("DELETE", "/orders/"+annOrder, bob, nil); code != 404 {
			t.Fatalf("bob deletes ann's order: %d %s", code, raw)
		}
		if got := items(ann); len(got) != 2 {
			t.Fatalf("ann's orders after bob's attempt: %v", got)
		}
		if code, _, raw := c.do("DELETE", "/orders/"+annOrder, ann, nil); code != 204 {
			t.Fatalf("ann deletes her order: %d %s", code, raw)
		}
		// Outside a request, the application's own code sees nothing
		// without a user (the policy denies), and everything as the system.
		if _, err := client.Order.Query().All(context.Background()); err == nil {
			t.Fatal("a query without a user in the context was allowed")
		}
		if _, err := client.User.Query().All(context.Background()); err == nil {
			t.Fatal("a user query without a user in the context was allowed")
		}
		if n := client.Order.Query().CountX(sys); n != 2 {
			t.Fatalf("%d orders left, want 2", n)
		}

		// Deleting a user who owns orders: 409, nothing lost.
		bobID := client.User.Query().Where(user.Email("bob@example.com")).OnlyIDX(sys)
		code, body, raw := c.do("DELETE", "/users/"+bobID.String(), boss, nil)
		if code != 409 || body["detail"] != "USER_HAS_DATA" {
			t.Fatalf("delete a user who owns orders: %d %s", code, raw)
		}
		if code, _, _ := c.do("GET", "/users/me", bob, nil); code != 200 {
			t.Fatal("bob lost his account")
		}
		if n := client.Order.Query().CountX(sys); n != 2 {
			t.Fatalf("%d orders after the refused delete, want 2", n)
		}
		// Once his orders are gone, he can be deleted.
		client.Order.Delete().ExecX(sys)
		if code, _, raw := c.do("DELETE", "/users/"+bobID.String(), boss, nil); code != 204 {
			t.Fatalf("delete bob without orders: %d %s", code, raw)
		}
	})
}

// TestMigrationsMatchSchema checks the committed migrations build exactly
// the schema of the generated code. After a schema edit, write the next
// migration with keylin's command (a tool of this module):
//
//	go tool keylin migrate diff --schema ./ent/schema --dir ./ent/migrate/migrations NAME
func TestMigrationsMatchSchema(t *testing.T) {
	forEachDialect(t, func(t *testing.T, d string) {
		ctx := context.Background()
		var dev *database.DB
		if d == dialect.SQLite {
			var err error
			if dev, err = database.Open(ctx, "sqlite://:memory:"); err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
		} else {
			dev = testDB(t, d)
		}
		stmts, err := database.Drift(ctx, dev, migrations.FS, database.Tables(migrate.Tables))
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) > 0 {
			t.Fatalf("the migrations are behind the schema; run `go tool keylin migrate diff --schema ./ent/schema --dir ./ent/migrate/migrations NAME`. Missing:\n%s", strings.Join(stmts, "\n"))
		}
	})
}

func testSettings() Settings {
	s := config.Defaults()
	s.JWTSecret, s.VerificationSecret, s.ResetPasswordSecret = secret, secret, secret
	s.HashMemoryKiB, s.HashIterations, s.HashParallelism = 19456, 2, 1
	s.RateLimitStore = "off"
	return Settings{Settings: s}
}

// noHidden fails when a response shows the hidden field.
func noHidden(t *testing.T, what string, raw []byte) {
	t.Helper()
	if bytes.Contains(raw, []byte("internal_note")) || bytes.Contains(raw, []byte("watch this one")) {
		t.Fatalf("%s shows the hidden field: %s", what, raw)
	}
}

// wantFieldError checks a 422 whose first error is at ["body", field].
func wantFieldError(t *testing.T, what string, code int, body map[string]any, field string) {
	t.Helper()
	detail, _ := body["detail"].([]any)
	if code != 422 || len(detail) == 0 {
		t.Fatalf("%s: %d %v, want 422", what, code, body)
	}
	first, _ := detail[0].(map[string]any)
	if !reflect.DeepEqual(first["loc"], []any{"body", field}) {
		t.Fatalf("%s: loc %v, want [body %s]", what, first["loc"], field)
	}
}

// apiClient talks JSON to the application.
type apiClient struct {
	t    *testing.T
	base string
}

func (c *apiClient) do(method, path, token string, body any) (int, map[string]any, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(req)
}

func (c *apiClient) send(req *http.Request) (int, map[string]any, []byte) {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, m, raw
}

func (c *apiClient) login(email string) string {
	c.t.Helper()
	form := url.Values{"username": {email}, "password": {password}}
	req, err := http.NewRequest("POST", c.base+"/auth/jwt/login", strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body, raw := c.send(req)
	tok, _ := body["access_token"].(string)
	if code != 200 || tok == "" {
		c.t.Fatalf("login %s: %d %s", email, code, raw)
	}
	return tok
}

// forEachDialect runs f as a subtest on SQLite and on PostgreSQL.
func forEachDialect(t *testing.T, f func(t *testing.T, d string)) {
	t.Helper()
	for _, d := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(database.DialectDir(d), func(t *testing.T) { f(t, d) })
	}
}

// testDB returns an empty database of the dialect, removed when t ends: a
// SQLite file, or a throwaway database on the PostgreSQL server of
// KEYLIN_TEST_POSTGRES_URL (default the local server; "off" skips).
func testDB(t *testing.T, d string) *database.DB {
	t.Helper()
	ctx := context.Background()
	if d == dialect.SQLite {
		db, err := database.Open(ctx, "file:"+filepath.Join(t.TempDir(), "extend.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	admin := os.Getenv("KEYLIN_TEST_POSTGRES_URL")
	switch admin {
	case "off":
		t.Skip("PostgreSQL tests are off (KEYLIN_TEST_POSTGRES_URL=off)")
	case "":
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	db, drop, err := database.CreateTempPostgres(ctx, admin, "keylin_extend")
	if err != nil {
		t.Fatalf("create throwaway PostgreSQL database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Errorf("drop throwaway database: %v", err)
		}
	})
	return db
}

// jsonEqual compares two JSON documents as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// TestGeneratedAppendJSON checks the generated writer of the application's
// fields against what ReadFields (encoding/json) produces for them.
func TestGeneratedAppendJSON(t *testing.T) {
	nick := func(s string) *string { return &s }
	schema := ent.KeylinUserSchema()
	appender, ok := schema.(interface {
		AppendJSON([]byte, any) []byte
	})
	if !ok {
		t.Fatal("the generated schema does not implement userschema.Appender")
	}
	for _, x := range []*ent.UserExtra{
		{Role: user.RoleMember},
		{Role: user.RoleAdmin, Nickname: nick("")},
		{Role: user.RoleMember, Nickname: nick("<script>&\"\\ \u2028 \x00 \xff Zoë")},
	} {
		var want []byte
		for _, f := range schema.ReadFields(x) {
			name, _ := json.Marshal(f.Name)
			want = append(append(append(want, ','), name...), ':')
			want = append(want, f.Value...)
		}
		if got := appender.AppendJSON(nil, x); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON(%+v):\n got %s\nwant %s", x, got, want)
		}
	}
	if got := appender.AppendJSON(nil, nil); len(got) != 0 {
		t.Errorf("AppendJSON(nil) = %s, want nothing", got)
	}
}

// TestGeneratedFieldsMatchDecoders: the description of the application's
// fields (userschema.Describer, which the OpenAPI document is built from)
// says what the generated decoders and the user object do: a field is
// described as set at registration, by the user or by a superuser exactly
// when that decoder takes it, and as read exactly when the user object has
// it; internal_note, which the API never touches, is not described.
func TestGeneratedFieldsMatchDecoders(t *testing.T) {
	schema := ent.KeylinUserSchema()
	describer, ok := schema.(userschema.Describer)
	if !ok {
		t.Fatal("the generated schema does not implement userschema.Describer")
	}
	fields := describer.Fields()
	read := map[string]bool{}
	for _, f := range schema.ReadFields(&ent.UserExtra{Role: user.RoleMember}) {
		read[f.Name] = true
	}
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
		value := `"x"`
		if len(f.Enum) > 0 {
			value = `"` + f.Enum[len(f.Enum)-1] + `"`
		}
		body := map[string]json.RawMessage{f.Name: json.RawMessage(value)}
		created, errs := schema.DecodeCreate(body)
		self, errs2 := schema.DecodeSelfUpdate(body)
		super, errs3 := schema.DecodeSuperuserUpdate(body)
		if len(errs)+len(errs2)+len(errs3) > 0 {
			t.Fatalf("%s = %s: %v %v %v", f.Name, value, errs, errs2, errs3)
		}
		got := [4]bool{read[f.Name], created != nil, self != nil, super != nil}
		if want := [4]bool{f.Read, f.Create, f.UpdateSelf, f.UpdateSuperuser}; got != want {
			t.Errorf("%s: read/create/self/superuser by the code %v, described %v", f.Name, got, want)
		}
	}
	if !reflect.DeepEqual(names, []string{"role", "nickname"}) {
		t.Fatalf("described fields %v, want role and nickname (internal_note is never in the API)", names)
	}
}

// TestOpenAPI: the application's document, served at /openapi.json and
// generated as ent/openapi.json, is valid and shows each field of its own
// as annotated: role (an enum, default member) readable and set by
// superusers only; nickname (up to 40 characters, null allowed) readable
// and set at registration, by the user and by superusers; internal_note
// (hidden, never set through the API) nowhere.
func TestOpenAPI(t *testing.T) {
	db := testDB(t, dialect.SQLite)
	e, _, err := newApp(testSettings(), ent.NewClient(ent.Driver(db.Driver())))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d %v", resp.StatusCode, err)
	}
	generated, err := os.ReadFile(filepath.Join("ent", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	var shapes [2]map[string]any
	for i, b := range [][]byte{served, generated} {
		if bytes.Contains(b, []byte("internal_note")) {
			t.Errorf("document %d mentions the hidden internal_note", i)
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("document %d is not valid: %v", i, err)
		}
		s := doc.Components.Schemas
		for shape, want := range map[string][]string{
			"UserRead":            {"role", "nickname"},
			"UserCreate":          {"nickname"},
			"UserUpdate":          {"nickname"},
			"UserUpdateSuperuser": {"role", "nickname"},
		} {
			for _, f := range []string{"role", "nickname"} {
				if _, ok := s[shape].Value.Properties[f]; ok != slices.Contains(want, f) {
					t.Errorf("document %d: %s has %s: %v", i, shape, f, ok)
				}
			}
		}
		role, nick := s["UserRead"].Value.Properties["role"].Value, s["UserRead"].Value.Properties["nickname"].Value
		if !reflect.DeepEqual(role.Enum, []any{"member", "admin"}) || !role.Type.Is("string") {
			t.Errorf("document %d: role %+v", i, role)
		}
		if !reflect.DeepEqual(nick.Type.Slice(), []string{"string", "null"}) || nick.MaxLength == nil || *nick.MaxLength != 40 {
			t.Errorf("document %d: nickname %+v", i, nick)
		}
		raw, _ := json.Marshal(map[string]any{"read": s["UserRead"], "create": s["UserCreate"], "self": s["UserUpdate"], "super": s["UserUpdateSuperuser"]})
		_ = json.Unmarshal(raw, &shapes[i])
	}
	if !reflect.DeepEqual(shapes[0], shapes[1]) {
		t.Errorf("the served and the generated document differ in the user shapes:\n%v\n%v", shapes[0], shapes[1])
	}
}
