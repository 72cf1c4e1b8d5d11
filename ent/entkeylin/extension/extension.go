// Package extension is keylin's entc extension. Added to an ent package's
// code generation, it writes the glue keylin's authn and httpapi packages
// need over that package's own client — the authn.Store implementation
// (NewAuthnStore), the application's user fields for the API
// (KeylinUserSchema, UserRead) — ent privacy rules on keylin's user (the
// keylinrule package), and openapi.json: the OpenAPI 3.1 document of
// keylin's routes as MountAll mounts them, with the application's fields
// where their annotations put them, for client generators. It turns on
// the ent features it needs itself.
//
//	// ent/entc.go
//	err := entc.Generate("./schema", &gen.Config{}, entc.Extensions(extension.New()))
//
// The schema must have a User entity built on entkeylin.UserMixin (with
// entkeylin.UserAnnotations()) and keylin's other entities, declared by
// embedding:
//
//	type Session struct{ entkeylin.Session }
//	type RefreshToken struct{ entkeylin.RefreshToken }
//	type RateLimit struct{ entkeylin.RateLimit }
package extension

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/ent/entkeylin"
	"github.com/keylin/keylin/openapi"
)

// OpenAPIFile is the name of the document the extension writes in the
// generated package's directory.
const OpenAPIFile = "openapi.json"

//go:embed template/*.tmpl
var templates embed.FS

// Extension generates keylin's glue. Create it with [New].
type Extension struct {
	entc.DefaultExtension
	info openapi.Info
}

// Option configures [New].
type Option func(*Extension)

// WithOpenAPIInfo sets the title and version of the generated
// openapi.json (default: "keylin", "0.1.0").
func WithOpenAPIInfo(info openapi.Info) Option {
	return func(e *Extension) { e.info = info }
}

// New returns keylin's extension.
func New(opts ...Option) *Extension {
	e := &Extension{}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Templates adds keylin's templates to the generation.
func (*Extension) Templates() []*gen.Template {
	return []*gen.Template{
		gen.MustParse(gen.NewTemplate("keylin").Funcs(funcs).ParseFS(templates, "template/*.tmpl")),
	}
}

// Hooks check the schema has what keylin needs before generating, and
// write openapi.json after.
func (e *Extension) Hooks() []gen.Hook {
	return []gen.Hook{func(next gen.Generator) gen.Generator {
		return gen.GenerateFunc(func(g *gen.Graph) error {
			for _, role := range []string{entkeylin.RoleUser, entkeylin.RoleSession, entkeylin.RoleRefreshToken, entkeylin.RoleRateLimit} {
				if _, err := entityNode(g, role); err != nil {
					return err
				}
			}
			if err := check(g); err != nil {
				return err
			}
			if err := next.Generate(g); err != nil {
				return err
			}
			return e.writeOpenAPI(g)
		})
	}}
}

// writeOpenAPI writes the document of the default layout
// (openapi.DefaultDescription) with the schema's own fields, indented for
// readable diffs.
func (e *Extension) writeOpenAPI(g *gen.Graph) error {
	u, err := userNode(g)
	if err != nil {
		return err
	}
	d, err := openapi.DefaultDescription()
	if err != nil {
		return err
	}
	d.Fields = describedFields(u)
	doc, err := openapi.New(d, e.info)
	if err != nil {
		return fmt.Errorf("keylin extension: %w", err)
	}
	b, err := doc.MarshalJSON()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	return os.WriteFile(filepath.Join(g.Config.Target, OpenAPIFile), out.Bytes(), 0o644)
}

// Options turn on the ent features keylin's generated code relies on:
// versioned migrations, query modifiers, upserts, and privacy (the
// keylinrule package builds ent privacy rules on keylin's user). An
// application's entc.go needs nothing but the extension.
func (*Extension) Options() []entc.Option {
	names := make([]string, len(features))
	for i, f := range features {
		names[i] = f.Name
	}
	return []entc.Option{entc.FeatureNames(names...)}
}

// features are the ent features keylin's generated code relies on.
var features = []gen.Feature{gen.FeatureVersionedMigration, gen.FeatureModifier, gen.FeatureUpsert, gen.FeaturePrivacy}
