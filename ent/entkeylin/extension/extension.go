// Package extension is keylin's entc extension. Added to an ent package's
// code generation, it writes the glue keylin's authn and httpapi packages
// need over that package's own client — the authn.Store implementation
// (NewAuthnStore), the application's user fields for the API
// (KeylinUserSchema, UserRead) — and ent privacy rules on keylin's user
// (the keylinrule package). It turns on the ent features it needs itself.
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
	"embed"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/ent/entkeylin"
)

//go:embed template/*.tmpl
var templates embed.FS

// Extension generates keylin's glue. Create it with [New].
type Extension struct {
	entc.DefaultExtension
}

// New returns keylin's extension.
func New() *Extension { return &Extension{} }

// Templates adds keylin's templates to the generation.
func (*Extension) Templates() []*gen.Template {
	return []*gen.Template{
		gen.MustParse(gen.NewTemplate("keylin").Funcs(funcs).ParseFS(templates, "template/*.tmpl")),
	}
}

// Hooks check the schema has what keylin needs before generating.
func (*Extension) Hooks() []gen.Hook {
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
			return next.Generate(g)
		})
	}}
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
