package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/keylin/keylin/ent/entkeylin"

	"github.com/keylin/keylin/examples/extend/ent/keylinrule"
)

// Order is the application's own entity, owned by a user: each user sees
// and changes only their own orders, a superuser all of them.
type Order struct {
	ent.Schema
}

// Fields of an order.
func (Order) Fields() []ent.Field {
	return []ent.Field{
		field.String("item").NotEmpty().MaxLen(200),
		field.Int("quantity").Positive().Default(1),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Edges: the owner, required.
func (Order) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("owner", User.Type).Ref("orders").Unique().Required(),
	}
}

// Annotations mark the entity as owned through its owner edge, for
// keylin's generated privacy rules.
func (Order) Annotations() []schema.Annotation {
	return []schema.Annotation{entkeylin.OwnedBy("owner")}
}

// Policy: keylin's rules for an owned entity.
func (Order) Policy() ent.Policy {
	return keylinrule.OwnerPolicy()
}
