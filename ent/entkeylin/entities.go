package entkeylin

import (
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
)

// Roles of the entities keylin's extension generates its store over.
const (
	RoleUser         = "user"
	RoleSession      = "session"
	RoleRefreshToken = "refresh_token"
	RoleRateLimit    = "rate_limit"
)

// EntityAnnotationName is the name the [Entity] annotation is stored under.
const EntityAnnotationName = "KeylinEntity"

// Entity marks an ent schema as one of keylin's entities, so that the
// extension finds it whatever the application names it.
type Entity struct {
	Role string `json:"role"`
}

// Name implements ent's schema.Annotation.
func (Entity) Name() string { return EntityAnnotationName }

// Tables of keylin's own entities, prefixed so that they do not collide
// with an application's tables in a shared database.
const (
	SessionsTable      = "keylin_sessions"
	RefreshTokensTable = "keylin_refresh_tokens"
	RateLimitsTable    = "keylin_rate_limits"
)

// Session is keylin's session entity: one row per login (authn.Session).
// An application's schema package declares it by embedding:
//
//	type Session struct{ entkeylin.Session }
type Session struct {
	ent.Schema
}

// Fields of a session.
func (Session) Fields() []ent.Field {
	return []ent.Field{
		field.UUID("id", uuid.UUID{}).Immutable(),
		field.UUID("user_id", uuid.UUID{}).Immutable().Comment("The user; no foreign key, so that services unaware of sessions can delete users (keylin deletes the sessions with the user)."),
		field.Time("created_at").Immutable().Annotations(nowDefault),
		field.Time("last_used_at").Annotations(nowDefault).Comment("The login or the last refresh."),
		field.Time("expires_at"),
		field.Time("ended_at").Optional().Nillable().Comment("Set by logout or an explicit end; the row stays for KnownClient until pruned."),
		field.String("user_agent").MaxLen(authn.MaxUserAgentLength).SchemaType(varchar(authn.MaxUserAgentLength)).Default(""),
		field.String("ip").MaxLen(authn.MaxIPLength).SchemaType(varchar(authn.MaxIPLength)).Default(""),
		field.Int64("credential_version").Comment("The user's credential version at login; the session is over once the user's moves on."),
	}
}

// Indexes of a session: by user (and address, for known clients), and by
// expiry for pruning.
func (Session) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("user_id", "ip"),
		index.Fields("expires_at"),
	}
}

// Annotations name the table and mark the entity for the extension.
func (Session) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table(SessionsTable), Entity{Role: RoleSession}}
}

// RefreshToken is keylin's refresh token entity: the hash of each refresh
// token (authn.RefreshToken), kept until it expires so that reuse of a
// rotated token is recognised. Declare it by embedding:
//
//	type RefreshToken struct{ entkeylin.RefreshToken }
type RefreshToken struct {
	ent.Schema
}

// Fields of a refresh token.
func (RefreshToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64).NotEmpty().Immutable().SchemaType(varchar(64)).Comment("Hex SHA-256 of the token."),
		field.UUID("session_id", uuid.UUID{}).Immutable(),
		field.Time("created_at").Immutable().Annotations(nowDefault),
		field.Time("expires_at").Immutable(),
		field.Time("used_at").Optional().Nillable().Comment("When it was exchanged for the next one."),
	}
}

// Indexes of a refresh token.
func (RefreshToken) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("session_id"),
		index.Fields("expires_at"),
	}
}

// Annotations name the table and mark the entity for the extension.
func (RefreshToken) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table(RefreshTokensTable), Entity{Role: RoleRefreshToken}}
}

// RateLimit is keylin's rate limiter counter: one theoretical arrival time
// per key (authn.LimitStore). Declare it by embedding:
//
//	type RateLimit struct{ entkeylin.RateLimit }
type RateLimit struct {
	ent.Schema
}

// Fields of a rate limiter counter.
func (RateLimit) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").MaxLen(64).NotEmpty().Immutable().SchemaType(varchar(64)).Comment("Digest of the limit and its subject."),
		field.Int64("tat").Comment("Theoretical arrival time, Unix milliseconds."),
		field.Bool("allowed").Default(true).Comment("Whether the last charge was allowed."),
	}
}

// Indexes of a rate limiter counter.
func (RateLimit) Indexes() []ent.Index {
	return []ent.Index{index.Fields("tat")}
}

// Annotations name the table and mark the entity for the extension.
func (RateLimit) Annotations() []schema.Annotation {
	return []schema.Annotation{entsql.Table(RateLimitsTable), Entity{Role: RoleRateLimit}}
}

// OwnerAnnotationName is the name the [OwnedBy] annotation is stored under.
const OwnerAnnotationName = "KeylinOwner"

// Owner marks an application's entity as owned by a user; see [OwnedBy].
type Owner struct {
	// Edge is the name of the entity's unique edge to the User entity, or
	// Field the name of its UUID field holding the owner's id: one of them.
	Edge  string `json:"edge,omitempty"`
	Field string `json:"field,omitempty"`
}

// Name implements ent's schema.Annotation.
func (Owner) Name() string { return OwnerAnnotationName }

// OwnedBy marks an entity as owned by the user its edge (a unique edge to
// User, such as edge.From("owner", User.Type).Ref("orders").Unique()) names.
// keylin's extension then generates ent privacy rules for it in the
// keylinrule package of the application's ent: only the owner sees and
// changes its rows, a superuser all of them, nobody without a user.
//
//	func (Order) Annotations() []schema.Annotation {
//		return []schema.Annotation{entkeylin.OwnedBy("owner")}
//	}
func OwnedBy(edge string) Owner { return Owner{Edge: edge} }

// OwnedByField is [OwnedBy] for an entity that holds its owner's id in a
// UUID field instead of an edge.
func OwnedByField(field string) Owner { return Owner{Field: field} }
