package entkeylin

import (
	"entgo.io/ent/schema"
)

// stringField is what MaxChars needs of ent's string field builder (the
// *stringBuilder that field.String returns).
type stringField[B any] interface {
	Validate(fn func(string) error) B
	SchemaType(types map[string]string) B
	Annotations(annotations ...schema.Annotation) B
}

// MaxChars limits a string field to n characters, as keylin's API and
// pydantic count them — unlike ent's MaxLen, whose validator counts bytes
// (MaxLen(40) refuses 21 × "é"). The database column is varchar(n) on
// PostgreSQL, which counts characters too; SQLite does not enforce sizes.
// The limit holds for every writer: keylin's API answers 422
// string_too_long, and the ent client refuses the value.
//
//	entkeylin.MaxChars(field.String("nickname"), 40).Optional().Nillable().
//		Annotations(entkeylin.Field(entkeylin.Register, entkeylin.SelfUpdate))
func MaxChars[B stringField[B]](f B, n int) B {
	return f.Validate(maxRunes(n)).SchemaType(varchar(n)).Annotations(Annotation{MaxChars: n})
}
