// Package schema is the application's ent schema: its User is keylin's
// user (entkeylin.UserMixin) plus fields of its own, whose entkeylin
// annotations say how keylin's API treats them.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/keylin/keylin/ent/entkeylin"
)

// User is keylin's user with the application's fields.
type User struct {
	ent.Schema
}

// Mixin carries keylin's user fields (id, email, hashed_password, …).
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{entkeylin.UserMixin{}}
}

// Fields are the application's own fields.
func (User) Fields() []ent.Field {
	return []ent.Field{
		// Readable; set only by superusers (PATCH /users/{id}): the default,
		// spelled out.
		field.Enum("role").Values("member", "admin").Default("member").
			Annotations(entkeylin.Field(entkeylin.SuperuserOnlyRead)),
		// Readable; set at registration and by the user (PATCH /users/me).
		field.String("nickname").MaxLen(40).Optional().Nillable().
			Annotations(entkeylin.Field(entkeylin.Register, entkeylin.SelfUpdate)),
		// Never in the user object, and never set through keylin's API: the
		// application's own code writes it with the ent client.
		field.String("internal_note").Optional().Nillable().
			Annotations(entkeylin.Field(entkeylin.Hidden, entkeylin.NoSuperuserUpdate)),
	}
}

// Annotations put the entity in keylin's "users" table.
func (User) Annotations() []schema.Annotation {
	return entkeylin.UserAnnotations()
}
