// Package authn is keylin's domain: users' credentials and the flows on them.
//
// It owns password hashing (argon2id, with bcrypt and foreign argon2 hashes
// verified and rehashed on login), the JWT access, verify and reset tokens of
// the fastapi-users contract, and the account flows of the [Manager]:
// register, authenticate, logout, verify, forgot/reset password, update,
// delete, get and list. It knows nothing of HTTP: the httpapi package maps
// its errors to status codes.
//
// authn reaches the database only through the [Store] interface, which
// keylin's generated ent client satisfies (and so does an application's own
// ent client generated with keylin's extension). [MemoryStore] keeps
// everything in memory, for tests and examples; package authn/authntest
// checks a Store against the interface's contract.
//
// The common call:
//
//	tokens, err := authn.NewTokens(authn.TokenConfig{AccessSecret: jwt, VerifySecret: verify, ResetSecret: reset})
//	m, err := authn.NewManager(ent.NewAuthnStore(client), tokens, authn.WithHooks(hooks))
//	u, err := m.Register(ctx, authn.UserCreate{Email: "a@example.com", Password: "…"})
//	tok, u, err := m.Login(ctx, "a@example.com", "…")
package authn
