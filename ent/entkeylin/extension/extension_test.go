package extension

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/entc/load"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	"github.com/keylin/keylin/ent/entkeylin"
	"github.com/keylin/keylin/openapi"
)

// Schemas of a test application: keylin's user with one field per rule.
type (
	testUser struct {
		ent.Schema
		fields []ent.Field
		edges  []ent.Edge
	}
	testSession      struct{ entkeylin.Session }
	testRefreshToken struct{ entkeylin.RefreshToken }
	testRateLimit    struct{ entkeylin.RateLimit }
	testOrder        struct {
		ent.Schema
		owner entkeylin.Owner
	}
)

func (testUser) Mixin() []ent.Mixin               { return []ent.Mixin{entkeylin.UserMixin{}} }
func (testUser) Annotations() []schema.Annotation { return entkeylin.UserAnnotations() }
func (u testUser) Fields() []ent.Field            { return u.fields }
func (u testUser) Edges() []ent.Edge              { return u.edges }
func (testOrder) Fields() []ent.Field {
	return []ent.Field{field.String("item"), field.UUID("buyer", uuid.UUID{})}
}
func (o testOrder) Annotations() []schema.Annotation { return []schema.Annotation{o.owner} }
func (testOrder) Edges() []ent.Edge {
	return []ent.Edge{edge.From("owner", testUser.Type).Ref("orders").Unique(), edge.From("watchers", testUser.Type).Ref("watched")}
}

// graph builds the generation graph of the schemas, as entc would.
func graph(t *testing.T, named map[string]ent.Interface) (*gen.Graph, error) {
	t.Helper()
	var schemas []*load.Schema
	for _, name := range []string{"User", "Session", "RefreshToken", "RateLimit", "Order"} {
		s, ok := named[name]
		if !ok {
			continue
		}
		b, err := load.MarshalSchema(s)
		if err != nil {
			t.Fatal(err)
		}
		ls, err := load.UnmarshalSchema(b)
		if err != nil {
			t.Fatal(err)
		}
		ls.Name = name
		for _, e := range ls.Edges {
			e.Type = strings.TrimPrefix(e.Type, "test")
		}
		schemas = append(schemas, ls)
	}
	return gen.NewGraph(&gen.Config{Package: "example.com/app/ent"}, schemas...)
}

// checkedUser is the user node of keylin's schemas with user, which check
// must accept.
func checkedUser(t *testing.T, user testUser) *gen.Type {
	t.Helper()
	g, err := graph(t, keylinSchemas(user))
	if err != nil {
		t.Fatal(err)
	}
	if err := check(g); err != nil {
		t.Fatalf("check: %v", err)
	}
	u, err := userNode(g)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func keylinSchemas(user testUser) map[string]ent.Interface {
	return map[string]ent.Interface{
		"User": user, "Session": testSession{}, "RefreshToken": testRefreshToken{}, "RateLimit": testRateLimit{},
	}
}

// TestAnnotationRules: who may read and who may set each field, as the
// annotations say (README, "Extending the user model").
func TestAnnotationRules(t *testing.T) {
	user := testUser{fields: []ent.Field{
		field.String("plain").Optional(),
		field.String("at_register").Optional().Annotations(entkeylin.Field(entkeylin.Register)),
		field.String("by_self").Optional().Annotations(entkeylin.Field(entkeylin.SelfUpdate)),
		field.String("hidden").Optional().Annotations(entkeylin.Field(entkeylin.Hidden)),
		field.String("frozen").Optional().Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.String("explicit_default").Optional().Annotations(entkeylin.Field(entkeylin.SuperuserWrite)),
		field.String("secret").Optional().Sensitive(),
		field.String("set_once").Optional().Immutable(),
		field.String("both").Optional().Annotations(entkeylin.Field(entkeylin.Register), entkeylin.Field(entkeylin.SelfUpdate)),
		entkeylin.MaxChars(field.String("nick"), 12).Optional(),
		field.String("register_frozen").Optional().Annotations(entkeylin.Field(entkeylin.Register, entkeylin.NoSuperuserUpdate)),
		field.String("self_once").Optional().Immutable().Annotations(entkeylin.Field(entkeylin.SelfUpdate)),
	}}
	u := checkedUser(t, user)
	extra := extraFields(u)
	var names []string
	for _, f := range extra {
		names = append(names, f.Name)
	}
	if slices.ContainsFunc(names, func(n string) bool { return slices.Contains(entkeylin.CoreFields, n) }) {
		t.Fatalf("keylin's own fields counted as the application's: %v", names)
	}
	readableNames := map[string]bool{}
	for _, f := range readable(extra) {
		readableNames[f.Name] = true
	}
	byName := map[string]*gen.Field{}
	for _, f := range extra {
		byName[f.Name] = f
	}
	want := []struct {
		field                           string
		read, register, self, superuser bool
	}{
		{"plain", true, false, false, true},
		{"at_register", true, true, false, true},
		{"by_self", true, false, true, true},
		{"hidden", false, false, false, true},
		{"frozen", true, false, false, false},
		{"explicit_default", true, false, false, true},
		{"secret", false, false, false, true},
		{"set_once", true, false, false, false},
		{"both", true, true, true, true},
		{"nick", true, false, false, true},
		{"register_frozen", true, true, false, false},
		{"self_once", true, false, false, false},
	}
	for _, w := range want {
		t.Run(w.field, func(t *testing.T) {
			f := byName[w.field]
			x := fieldAccess(f)
			got := [4]bool{x.Read, x.Create, x.Self, x.Super}
			if got != [4]bool{w.read, w.register, w.self, w.superuser} || x.Read != readableNames[w.field] {
				t.Fatalf("read/register/self/superuser = %v, want %v", got, [4]bool{w.read, w.register, w.self, w.superuser})
			}
			d := describe(f)
			if d.Read != x.Read || d.Create != x.Create || d.UpdateSelf != x.Self || d.UpdateSuperuser != x.Super {
				t.Fatalf("described as %+v, not as its access %+v", d, x)
			}
			if settable(f) != (w.register || w.self || w.superuser) {
				t.Fatalf("settable = %v", settable(f))
			}
		})
	}
	if maxChars(byName["nick"]) != 12 || maxChars(byName["plain"]) != 0 {
		t.Fatalf("MaxChars read as %d / %d", maxChars(byName["nick"]), maxChars(byName["plain"]))
	}
}

// TestRefusals: schemas keylin cannot serve are refused at generation,
// with a message that names the field and the fix.
func TestRefusals(t *testing.T) {
	cases := []struct {
		name    string
		schemas func() map[string]ent.Interface
		want    string
	}{
		{"RequiredWithoutDatabaseDefault", func() map[string]ent.Interface {
			return keylinSchemas(testUser{fields: []ent.Field{field.String("code")}})
		}, "User.code must be Optional() or have a literal Default"},
		{"DefaultFunc", func() map[string]ent.Interface {
			return keylinSchemas(testUser{fields: []ent.Field{field.String("code").DefaultFunc(func() string { return "x" })}})
		}, "User.code must be Optional() or have a literal Default"},
		{"MaxLenOnASettableField", func() map[string]ent.Interface {
			return keylinSchemas(testUser{fields: []ent.Field{field.String("nickname").MaxLen(40).Optional()}})
		}, `entkeylin.MaxChars(field.String("nickname"), 40)`},
		{"TypeTheAPICannotRead", func() map[string]ent.Interface {
			return keylinSchemas(testUser{fields: []ent.Field{field.JSON("prefs", map[string]any{}).Optional()}})
		}, "User.prefs has type map[string]interface {}, which keylin's API does not read"},
		{"OwnerEdgeNotUnique", func() map[string]ent.Interface {
			m := keylinSchemas(testUser{edges: []ent.Edge{edge.To("orders", testOrder.Type), edge.To("watched", testOrder.Type)}})
			m["Order"] = testOrder{owner: entkeylin.OwnedBy("watchers")}
			return m
		}, `Order is OwnedBy("watchers"), which must name a unique edge of Order to User`},
		{"OwnerEdgeMissing", func() map[string]ent.Interface {
			m := keylinSchemas(testUser{edges: []ent.Edge{edge.To("orders", testOrder.Type), edge.To("watched", testOrder.Type)}})
			m["Order"] = testOrder{owner: entkeylin.OwnedBy("nobody")}
			return m
		}, `Order is OwnedBy("nobody")`},
		{"OwnerFieldNotUUID", func() map[string]ent.Interface {
			m := keylinSchemas(testUser{edges: []ent.Edge{edge.To("orders", testOrder.Type), edge.To("watched", testOrder.Type)}})
			m["Order"] = testOrder{owner: entkeylin.OwnedByField("item")}
			return m
		}, `Order is OwnedByField("item"), which must name a UUID field`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g, err := graph(t, c.schemas())
			if err == nil {
				err = check(g)
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	t.Run("MissingEntity", func(t *testing.T) {
		m := keylinSchemas(testUser{})
		delete(m, "Session")
		g, err := graph(t, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := entityNode(g, entkeylin.RoleSession); err == nil || !strings.Contains(err.Error(), "type Session struct{ entkeylin.Session }") {
			t.Fatalf("err = %v, want the declaration to add", err)
		}
	})
	t.Run("OwnerAccepted", func(t *testing.T) {
		m := keylinSchemas(testUser{edges: []ent.Edge{edge.To("orders", testOrder.Type), edge.To("watched", testOrder.Type)}})
		for _, o := range []entkeylin.Owner{entkeylin.OwnedBy("owner"), entkeylin.OwnedByField("buyer")} {
			m["Order"] = testOrder{owner: o}
			g, err := graph(t, m)
			if err != nil {
				t.Fatal(err)
			}
			owned, err := ownedNodes(g)
			if err != nil || len(owned) != 1 || owned[0].IDGetter == "" {
				t.Fatalf("%+v: owned %v, %v", o, owned, err)
			}
		}
	})
}

// TestOptionsTurnOnFeatures: an entc.go that passes only the extension gets
// the features keylin's generated code needs.
func TestOptionsTurnOnFeatures(t *testing.T) {
	cfg := &gen.Config{}
	for _, o := range New().Options() {
		if err := o(cfg); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, f := range cfg.Features {
		names = append(names, f.Name)
	}
	for _, want := range []string{"sql/versioned-migration", "sql/modifier", "sql/upsert", "privacy"} {
		if !slices.Contains(names, want) {
			t.Errorf("features %v lack %s", names, want)
		}
	}
}

// TestDescribe: each field's JSON form in the API description follows its
// ent type, and the generated literal says the same.
func TestDescribe(t *testing.T) {
	user := testUser{fields: []ent.Field{
		field.Enum("role").Values("member", "admin").Default("member").Comment("What the user may do."),
		entkeylin.MaxChars(field.String("nickname"), 40).Optional().Nillable().
			Annotations(entkeylin.Field(entkeylin.Register, entkeylin.SelfUpdate)),
		field.String("code").MaxLen(8).Optional().Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.Bool("newsletter").Default(true),
		field.Int("age").Optional(),
		field.Int32("level").Default(3).Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.Float("score").Optional(),
		field.UUID("team", uuid.UUID{}).Optional().Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.Time("birthday").Optional().Nillable().Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.JSON("prefs", map[string]any{}).Optional().Annotations(entkeylin.Field(entkeylin.NoSuperuserUpdate)),
		field.String("note").Optional().Annotations(entkeylin.Field(entkeylin.Hidden, entkeylin.NoSuperuserUpdate)),
	}}
	u := checkedUser(t, user)
	byName := map[string]*gen.Field{}
	for _, f := range extraFields(u) {
		byName[f.Name] = f
	}
	cases := []struct {
		field, literal string
	}{
		{"role", `{Name: "role", Description: "What the user may do.", Type: "string", Enum: []string{"member", "admin"}, Default: "member", Read: true, UpdateSuperuser: true}`},
		{"nickname", `{Name: "nickname", Type: "string", MaxLength: 40, Nullable: true, Read: true, Create: true, UpdateSelf: true, UpdateSuperuser: true}`},
		{"code", `{Name: "code", Type: "string", MaxLength: 8, Read: true}`},
		{"newsletter", `{Name: "newsletter", Type: "boolean", Default: true, Read: true, UpdateSuperuser: true}`},
		{"age", `{Name: "age", Type: "integer", Format: "int64", Read: true, UpdateSuperuser: true}`},
		{"level", `{Name: "level", Type: "integer", Format: "int32", Default: 3, Read: true}`},
		{"score", `{Name: "score", Type: "number", Format: "double", Read: true, UpdateSuperuser: true}`},
		{"team", `{Name: "team", Type: "string", Format: "uuid", Read: true}`},
		{"birthday", `{Name: "birthday", Type: "string", Format: "date-time", Nullable: true, Read: true}`},
		{"prefs", `{Name: "prefs", Read: true}`},
	}
	for _, c := range cases {
		t.Run(c.field, func(t *testing.T) {
			if got := describeLiteral(byName[c.field]); got != c.literal {
				t.Fatalf("got  %s\nwant %s", got, c.literal)
			}
		})
	}
	var names []string
	for _, d := range describedFields(u) {
		names = append(names, d.Name)
	}
	if slices.Contains(names, "note") || len(names) != len(cases) {
		t.Fatalf("described fields %v: want every field but the one the API never touches (note)", names)
	}
}

// TestWriteOpenAPI: generation writes openapi.json next to the generated
// code, with the schema's fields as annotated (a hidden field the API
// never touches is not in it) and the title WithOpenAPIInfo gives.
func TestWriteOpenAPI(t *testing.T) {
	user := testUser{fields: []ent.Field{
		entkeylin.MaxChars(field.String("nickname"), 40).Optional().Nillable().
			Annotations(entkeylin.Field(entkeylin.Register, entkeylin.SelfUpdate)),
		field.String("secret_note").Optional().Annotations(entkeylin.Field(entkeylin.Hidden, entkeylin.NoSuperuserUpdate)),
	}}
	g, err := graph(t, keylinSchemas(user))
	if err != nil {
		t.Fatal(err)
	}
	g.Config.Target = t.TempDir()
	if err := New(WithOpenAPIInfo(openapi.Info{Title: "shop", Version: "2.0.0"})).writeOpenAPI(g); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(g.Config.Target, OpenAPIFile))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string
		Info       struct{ Title, Version string }
		Components struct {
			Schemas map[string]struct{ Properties map[string]any }
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title != "shop" || doc.Info.Version != "2.0.0" {
		t.Fatalf("document %s %+v", doc.OpenAPI, doc.Info)
	}
	for _, shape := range []string{"UserRead", "UserCreate", "UserUpdate", "UserUpdateSuperuser"} {
		if _, ok := doc.Components.Schemas[shape].Properties["nickname"]; !ok {
			t.Errorf("%s lacks nickname", shape)
		}
	}
	if strings.Contains(string(b), "secret_note") {
		t.Error("the hidden field the API never touches is in the document")
	}
}
