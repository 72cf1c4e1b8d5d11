// Package schema holds keylin's ent schemas. It is the single source of truth
// for the user table: edit it, then run `make generate` and
// `make migrate-diff NAME=…`.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"

	"github.com/keylin/keylin/ent/entkeylin"
)

// User is keylin's user: fastapi-users' fields (see entkeylin.UserMixin).
// Add fields of your own below the mixin.
type User struct {
	ent.Schema
}

// Mixin carries keylin's user fields.
func (User) Mixin() []ent.Mixin {
	return []ent.Mixin{entkeylin.UserMixin{}}
}

// Fields are the application's own fields, beyond keylin's.
func (User) Fields() []ent.Field {
	return nil
}

// Annotations put the entity in the "users" table.
func (User) Annotations() []schema.Annotation {
	return entkeylin.UserAnnotations()
}
