package extension

import (
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	"github.com/keylin/keylin/userschema"
)

// describedFields are the application fields keylin's API reads or
// writes, described as the generated Fields method returns them.
func describedFields(n *gen.Type) []userschema.Field {
	var out []userschema.Field
	for _, f := range extraFields(n) {
		if d := describe(f); d.Read || d.Create || d.UpdateSelf || d.UpdateSuperuser {
			out = append(out, d)
		}
	}
	return out
}

// describe is an application field as an API description states it: its
// JSON form, from its ent type, and who reads and sets it, from its
// annotation (fieldAccess).
func describe(f *gen.Field) userschema.Field {
	x := fieldAccess(f)
	d := userschema.Field{
		Name:            f.Name,
		Description:     f.Comment(),
		Nullable:        f.Nillable,
		Read:            x.Read,
		Create:          x.Create,
		UpdateSelf:      x.Self,
		UpdateSuperuser: x.Super,
	}
	if f.Type == nil {
		return d
	}
	switch t := f.Type.Type; {
	case t == field.TypeEnum:
		d.Type, d.Enum = "string", f.EnumValues()
	case t == field.TypeString:
		d.Type = "string"
		if d.MaxLength = maxChars(f); d.MaxLength == 0 {
			// ent's MaxLen counts bytes: no more characters than that.
			d.MaxLength = int(f.Column().Size)
		}
	case t == field.TypeBool:
		d.Type = "boolean"
	case t == field.TypeUUID:
		d.Type, d.Format = "string", "uuid"
	case t == field.TypeTime:
		d.Type, d.Format = "string", "date-time"
	case t == field.TypeBytes:
		d.Type, d.Format = "string", "byte" // encoding/json writes base64
	case t == field.TypeInt8, t == field.TypeInt16, t == field.TypeInt32,
		t == field.TypeUint8, t == field.TypeUint16:
		d.Type, d.Format = "integer", "int32"
	case t.Integer():
		d.Type, d.Format = "integer", "int64"
	case t == field.TypeFloat32:
		d.Type, d.Format = "number", "float"
	case t == field.TypeFloat64:
		d.Type, d.Format = "number", "double"
	}
	if f.Default && !f.DefaultFunc() {
		switch v := f.DefaultValue().(type) {
		case string, bool, float64, int, int64:
			d.Default = v
		}
	}
	return d
}

// describeLiteral is describe(f) as a Go composite literal of
// userschema.Field, without its zero fields, for the generated Fields.
func describeLiteral(f *gen.Field) string {
	d := describe(f)
	parts := []string{"Name: " + strconv.Quote(d.Name)}
	str := func(name, v string) {
		if v != "" {
			parts = append(parts, name+": "+strconv.Quote(v))
		}
	}
	flag := func(name string, v bool) {
		if v {
			parts = append(parts, name+": true")
		}
	}
	str("Description", d.Description)
	str("Type", d.Type)
	str("Format", d.Format)
	if len(d.Enum) > 0 {
		q := make([]string, len(d.Enum))
		for i, v := range d.Enum {
			q[i] = strconv.Quote(v)
		}
		parts = append(parts, "Enum: []string{"+strings.Join(q, ", ")+"}")
	}
	if d.MaxLength > 0 {
		parts = append(parts, "MaxLength: "+strconv.Itoa(d.MaxLength))
	}
	flag("Nullable", d.Nullable)
	if d.Default != nil {
		parts = append(parts, fmt.Sprintf("Default: %#v", d.Default))
	}
	flag("Read", d.Read)
	flag("Create", d.Create)
	flag("UpdateSelf", d.UpdateSelf)
	flag("UpdateSuperuser", d.UpdateSuperuser)
	return "{" + strings.Join(parts, ", ") + "}"
}
