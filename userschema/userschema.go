// Package userschema is the contract between the code keylin's ent
// extension generates for an application's User schema and keylin's HTTP
// API: the application's own user fields, read and validated without
// reflection. It is a leaf package — standard library only — so that
// neither httpapi nor the generated ent package pulls in the other's
// dependencies.
//
//	api, err := httpapi.NewAPI(m, httpapi.WithUserSchema(ent.KeylinUserSchema()))
package userschema

import (
	"encoding/json"
	"strings"
)

// Schema is the application's own user fields in keylin's API. The
// code keylin's extension generates in an ent package implements it
// (ent.KeylinUserSchema()); httpapi uses it to read and validate those
// fields without reflection.
type Schema interface {
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
