package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema"

	"github.com/keylin/keylin/ent/entkeylin"
)

// RevokedToken lists access tokens revoked by logout; keylin needs it.
type RevokedToken struct {
	ent.Schema
}

// Mixin carries keylin's revoked-token fields.
func (RevokedToken) Mixin() []ent.Mixin {
	return []ent.Mixin{entkeylin.RevokedTokenMixin{}}
}

// Annotations put the entity in keylin's "revoked_tokens" table.
func (RevokedToken) Annotations() []schema.Annotation {
	return entkeylin.RevokedTokenAnnotations()
}
