package entkeylin

import (
	"encoding/json"

	"entgo.io/ent/schema"
)

// AnnotationName is the name keylin's field annotation is stored under.
const AnnotationName = "Keylin"

// Annotation says how keylin's API treats an application's own user field.
// Without one, a field is readable in the user object and settable only by
// a superuser (PATCH /users/{id}); a Sensitive field is never readable.
//
//	entkeylin.MaxChars(field.String("nickname"), 40).Optional().Nillable().
//		Annotations(entkeylin.Field(entkeylin.Register, entkeylin.SelfUpdate))
type Annotation struct {
	// Hidden keeps the field out of the user object. It does not stop a
	// superuser from setting it: add NoSuperuserUpdate for a field keylin's
	// API never touches.
	Hidden bool `json:"hidden,omitempty"`
	// Register lets POST /auth/register set the field.
	Register bool `json:"register,omitempty"`
	// SelfUpdate lets the user set the field with PATCH /users/me.
	SelfUpdate bool `json:"self_update,omitempty"`
	// NoSuperuserUpdate keeps even superusers from setting the field with
	// PATCH /users/{id} (immutable fields are never settable).
	NoSuperuserUpdate bool `json:"no_superuser_update,omitempty"`
	// MaxChars is a string field's length limit in characters (see
	// [MaxChars]); 0 for none.
	MaxChars int `json:"max_chars,omitempty"`
}

var _ schema.Merger = Annotation{}

// Name implements ent's schema.Annotation.
func (Annotation) Name() string { return AnnotationName }

// Merge implements ent's schema.Merger: several annotations on one field
// add up.
func (a Annotation) Merge(other schema.Annotation) schema.Annotation {
	var b Annotation
	switch o := other.(type) {
	case Annotation:
		b = o
	case *Annotation:
		b = *o
	default:
		return a
	}
	a.Hidden = a.Hidden || b.Hidden
	a.Register = a.Register || b.Register
	a.SelfUpdate = a.SelfUpdate || b.SelfUpdate
	a.NoSuperuserUpdate = a.NoSuperuserUpdate || b.NoSuperuserUpdate
	a.MaxChars = max(a.MaxChars, b.MaxChars)
	return a
}

// Access is one permission of [Field].
type Access int

// Permissions for [Field].
const (
	// Register: settable at POST /auth/register.
	Register Access = iota + 1
	// SelfUpdate: settable by the user on PATCH /users/me.
	SelfUpdate
	// Hidden: not in the user object.
	Hidden
	// SuperuserWrite is the default, spelled out: readable by everyone,
	// settable only by superusers (PATCH /users/{id}).
	SuperuserWrite
	// NoSuperuserUpdate: not settable even by superusers.
	NoSuperuserUpdate
)

// SuperuserOnlyRead is the old name of SuperuserWrite, which says what it
// means: the field is readable by everyone and written only by superusers.
//
// Deprecated: use SuperuserWrite.
const SuperuserOnlyRead = SuperuserWrite

// Field returns the annotation granting the given permissions.
func Field(access ...Access) Annotation {
	var a Annotation
	for _, x := range access {
		switch x {
		case Register:
			a.Register = true
		case SelfUpdate:
			a.SelfUpdate = true
		case Hidden:
			a.Hidden = true
		case NoSuperuserUpdate:
			a.NoSuperuserUpdate = true
		}
	}
	return a
}

// DecodeAnnotation reads the annotation as entc stores it (a JSON-decoded
// map); the zero Annotation when absent.
func DecodeAnnotation(v any) (Annotation, error) {
	var a Annotation
	if v == nil {
		return a, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return a, err
	}
	return a, json.Unmarshal(b, &a)
}

// CoreFields are the fields of [UserMixin]: keylin's API handles them
// itself; every other field of the User schema is the application's.
var CoreFields = []string{
	"id", "email", "hashed_password", "full_name", "is_active", "is_superuser",
	"is_verified", "created_at", "updated_at", "tokens_valid_after", "credential_version",
}
