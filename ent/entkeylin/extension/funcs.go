package extension

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/ent/entkeylin"
)

// funcs are the template functions keylin's templates use.
var funcs = template.FuncMap{
	"keylinUser":            userNode,
	"keylinEntity":          entityNode,
	"keylinOwned":           ownedNodes,
	"keylinEmailLowerIndex": func() string { return entkeylin.EmailLowerIndex },
	"keylinExtra":           extraFields,
	"keylinSettable":        settable,
	"keylinReadable":        readable,
	"keylinKind":            kind,
	"keylinErrType":         errType,
	"keylinErrMsg":          errMsg,
	"keylinMaxChars":        maxChars,
	"keylinAccess":          fieldAccess,
	"keylinDescribe":        describeLiteral,
}

func userNode(g *gen.Graph) (*gen.Type, error) { return entityNode(g, entkeylin.RoleUser) }

// entityNode finds keylin's entity of a role by its entkeylin.Entity
// annotation (for the user, also by the name User).
func entityNode(g *gen.Graph, role string) (*gen.Type, error) {
	var found []*gen.Type
	for _, n := range g.Nodes {
		if v, ok := n.Annotations[entkeylin.EntityAnnotationName].(map[string]any); ok && v["role"] == role {
			found = append(found, n)
		}
	}
	if len(found) == 0 && role == entkeylin.RoleUser {
		for _, n := range g.Nodes {
			if n.Name == "User" {
				found = append(found, n)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		hint := map[string]string{
			entkeylin.RoleUser:         "a User schema with Mixin entkeylin.UserMixin{} and Annotations entkeylin.UserAnnotations()",
			entkeylin.RoleSession:      "type Session struct{ entkeylin.Session }",
			entkeylin.RoleRefreshToken: "type RefreshToken struct{ entkeylin.RefreshToken }",
			entkeylin.RoleRateLimit:    "type RateLimit struct{ entkeylin.RateLimit }",
		}[role]
		return nil, fmt.Errorf("keylin extension: the schema has no %s entity; add %s", role, hint)
	}
	return nil, fmt.Errorf("keylin extension: %d entities are marked as keylin's %s", len(found), role)
}

// owned is an entity annotated entkeylin.OwnedBy: its owner is reached by
// Edge (a unique edge to the user) or Field (a UUID field).
type owned struct {
	Node, User *gen.Type
	Edge       *gen.Edge
	Field      *gen.Field
	// IDGetter is the mutation method that returns the owner's id.
	IDGetter string
}

// ownedNodes are the entities annotated entkeylin.OwnedBy, checked.
func ownedNodes(g *gen.Graph) ([]owned, error) {
	u, err := userNode(g)
	if err != nil {
		return nil, err
	}
	var out []owned
	for _, n := range g.Nodes {
		v, ok := n.Annotations[entkeylin.OwnerAnnotationName]
		if !ok {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		var a entkeylin.Owner
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, err
		}
		o := owned{Node: n, User: u}
		switch {
		case a.Edge != "" && a.Field == "":
			for _, e := range n.Edges {
				if e.Name == a.Edge {
					o.Edge = e
				}
			}
			if o.Edge == nil || o.Edge.Type != u || !o.Edge.Unique {
				return nil, fmt.Errorf("keylin extension: %s is OwnedBy(%q), which must name a unique edge of %s to %s", n.Name, a.Edge, n.Name, u.Name)
			}
			o.IDGetter = o.Edge.StructField() + "ID"
		case a.Field != "" && a.Edge == "":
			for _, f := range n.Fields {
				if f.Name == a.Field {
					o.Field = f
				}
			}
			if o.Field == nil || !o.Field.IsUUID() {
				return nil, fmt.Errorf("keylin extension: %s is OwnedByField(%q), which must name a UUID field of %s", n.Name, a.Field, n.Name)
			}
			o.IDGetter = o.Field.StructField()
		default:
			return nil, fmt.Errorf("keylin extension: %s's owner annotation must name an edge or a field", n.Name)
		}
		if n == u {
			return nil, fmt.Errorf("keylin extension: %s cannot be owned by itself", n.Name)
		}
		out = append(out, o)
	}
	return out, nil
}

// extraFields are the User fields beyond keylin's own, in schema order.
func extraFields(n *gen.Type) []*gen.Field {
	var out []*gen.Field
	for _, f := range n.Fields {
		if !slices.Contains(entkeylin.CoreFields, f.Name) {
			out = append(out, f)
		}
	}
	return out
}

func annotation(f *gen.Field) entkeylin.Annotation {
	a, _ := entkeylin.DecodeAnnotation(f.Annotations[entkeylin.AnnotationName])
	return a
}

// access says who reads and sets an application field through keylin's
// API. It is the one place the annotation rules live (README, "Extending
// the user model"): the generated decoders, the user object and the API
// description all follow it.
type access struct {
	Read   bool // in the user object
	Create bool // set at POST /auth/register
	Self   bool // set by the user, PATCH /users/me
	Super  bool // set by a superuser, PATCH /users/{id}
}

func fieldAccess(f *gen.Field) access {
	a := annotation(f)
	return access{
		Read:   !a.Hidden && !f.Sensitive(),
		Create: a.Register,
		Self:   a.SelfUpdate && !f.Immutable,
		Super:  !a.NoSuperuserUpdate && !f.Immutable,
	}
}

// settable: somebody may set the field through the API.
func settable(f *gen.Field) bool {
	x := fieldAccess(f)
	return x.Create || x.Self || x.Super
}

func readable(fs []*gen.Field) []*gen.Field {
	var out []*gen.Field
	for _, f := range fs {
		if fieldAccess(f).Read {
			out = append(out, f)
		}
	}
	return out
}

// kind is the decoder a field's JSON goes through; "" when unsupported.
func kind(f *gen.Field) string {
	switch {
	case f.IsString(), f.IsEnum():
		return "String"
	case f.IsBool():
		return "Bool"
	case f.IsInt(), f.IsInt64():
		return "Int"
	case f.Type != nil && f.Type.String() == "float64":
		return "Float"
	}
	return ""
}

// maxChars is a string field's length limit in characters
// (entkeylin.MaxChars), 0 for none. The generated decoder checks it before
// ent's own validators run, so that an over-long value is a 422
// string_too_long, as pydantic reports it.
func maxChars(f *gen.Field) int {
	if !f.IsString() {
		return 0
	}
	return annotation(f).MaxChars
}

func errType(f *gen.Field) string {
	if f.IsEnum() {
		return "enum"
	}
	return map[string]string{"String": "string_type", "Bool": "bool_type", "Int": "int_type", "Float": "float_type"}[kind(f)]
}

func errMsg(f *gen.Field) string {
	if f.IsEnum() {
		vals := f.EnumValues()
		quoted := make([]string, len(vals))
		for i, v := range vals {
			quoted[i] = "'" + v + "'"
		}
		if len(quoted) == 1 {
			return "Input should be " + quoted[0]
		}
		return "Input should be " + strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
	}
	return map[string]string{"String": "Input should be a valid string", "Bool": "Input should be a valid boolean",
		"Int": "Input should be a valid integer", "Float": "Input should be a valid number"}[kind(f)]
}

// check refuses schemas keylin cannot serve: an application field must be
// nullable or carry a database default (so services that do not know it
// can still insert users), and a field the API sets must have a JSON type
// keylin reads.
func check(g *gen.Graph) error {
	n, err := userNode(g)
	if err != nil {
		return err
	}
	var errs []string
	for _, f := range extraFields(n) {
		if !f.Optional && (!f.Default || f.DefaultFunc()) {
			errs = append(errs, fmt.Sprintf("User.%s must be Optional() or have a literal Default(...) (a database default), so that services that do not know it can still insert users", f.Name))
		}
		if settable(f) && f.IsString() && f.Column().Size > 0 && annotation(f).MaxChars == 0 {
			errs = append(errs, fmt.Sprintf("User.%s has MaxLen, whose validator counts bytes, while keylin's API counts characters as pydantic does (MaxLen(40) would refuse 21 × \"é\"): write entkeylin.MaxChars(field.String(%q), %d) instead", f.Name, f.Name, f.Column().Size))
		}
		if settable(f) && kind(f) == "" {
			errs = append(errs, fmt.Sprintf("User.%s has type %s, which keylin's API does not read: annotate it entkeylin.Field(entkeylin.Hidden, entkeylin.NoSuperuserUpdate)", f.Name, f.Type))
		}
	}
	if _, err := ownedNodes(g); err != nil {
		errs = append(errs, strings.TrimPrefix(err.Error(), "keylin extension: "))
	}
	if len(errs) > 0 {
		return fmt.Errorf("keylin extension: %s", strings.Join(errs, "; "))
	}
	return nil
}
