package entkeylin

import (
	"encoding/json"
	"strings"

	"entgo.io/ent/schema"
)

// AnnotationName is the name keylin's field annotation is stored under.
const AnnotationName = "Keylin"

// Annotation says how keylin's API treats an application's own user field.
// Without one, a field is readable in the user object and settable only by
// a superuser (PATCH /users/{id}); a Sensitive field is never readable.
//
//	field.String("nickname").Optional().Nillable().MaxLen(40).
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
	// SuperuserOnlyRead is the default: readable, settable by superusers.
	// It exists to make the default explicit in a schema.
	SuperuserOnlyRead
	// NoSuperuserUpdate: not settable even by superusers.
	NoSuperuserUpdate
)

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

// UserSchema is the application's own user fields in keylin's API. The
// code keylin's extension generates in an ent package implements it
// (ent.KeylinUserSchema()); httpapi uses it to read and validate those
// fields without reflection.
type UserSchema interface {
	// DecodeCreate reads the fields settable at registration from a JSON
	// object body. It returns the value for authn.UserCreate.Extra (nil
	// when there is nothing to set) and the invalid fields.
	DecodeCreate(body map[string]json.RawMessage) (extra any, errs []FieldError)
	// DecodeUpdate reads the fields a user (superuser false) or a superuser
	// may set from a PATCH body. It returns the value for
	// authn.UserUpdate.Extra (nil when nothing is set) and the invalid
	// fields.
	DecodeUpdate(body map[string]json.RawMessage, superuser bool) (extra any, errs []FieldError)
	// ReadFields returns the readable fields of a stored user's Extra, in
	// schema order, as JSON values.
	ReadFields(extra any) []FieldValue
}

// FieldError is an invalid field of a request body.
type FieldError struct {
	Field string // JSON name
	Type  string // FastAPI/pydantic error type, e.g. "string_type", "enum"
	Msg   string // human message
}

// FieldValue is one readable field of the user object.
type FieldValue struct {
	Name  string
	Value json.RawMessage
}

// DecodeString reads a JSON string, strictly (no number or boolean
// coerced; no NUL character, which PostgreSQL text cannot hold). For
// generated code.
func DecodeString(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil || strings.ContainsRune(s, 0) {
		return "", false
	}
	return s, true
}

// DecodeBool reads a JSON true or false. For generated code.
func DecodeBool(raw json.RawMessage) (bool, bool) {
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, false
	}
	return b, true
}

// DecodeInt reads a JSON integer. For generated code.
func DecodeInt(raw json.RawMessage) (int64, bool) {
	var n int64
	if json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}

// DecodeFloat reads a JSON number. For generated code.
func DecodeFloat(raw json.RawMessage) (float64, bool) {
	var f float64
	if len(raw) == 0 || raw[0] == '"' || json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	return f, true
}
