package authn_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/keylin/keylin/authn"
)

// A Manager over a MemoryStore: the account flows without a database, as
// in an application's unit tests.
func ExampleManager() {
	ctx := context.Background()
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte("JWT_SECRET value, at least 32 bytes"),
		VerifySecret: []byte("VERIFICATION_SECRET value, 32 bytes"),
		ResetSecret:  []byte("RESET_PASSWORD_SECRET value, 32 bytes"),
	})
	if err != nil {
		panic(err)
	}
	// OWASP's minimum argon2id parameters: fast enough for tests.
	hasher, err := authn.NewHasher(authn.WithHashParams(authn.HashParams{
		Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32,
	}))
	if err != nil {
		panic(err)
	}
	m, err := authn.NewManager(authn.NewMemoryStore(), tokens,
		authn.WithHasher(hasher),
		authn.WithLogger(slog.New(slog.DiscardHandler)), // and the audit log with it
	)
	if err != nil {
		panic(err)
	}

	u, err := m.Register(ctx, authn.UserCreate{Email: "Ada@Example.com", Password: "correct horse battery"})
	if err != nil {
		panic(err)
	}
	fmt.Println("registered:", u.Email, "active:", u.IsActive, "verified:", u.IsVerified)

	// The email matches in any case.
	grant, err := m.Login(ctx, "ada@example.com", "correct horse battery")
	if err != nil {
		panic(err)
	}
	fmt.Println("logged in:", grant.User.Email)

	who, claims, err := m.UserFromToken(ctx, grant.AccessToken)
	if err != nil {
		panic(err)
	}
	sessions, _ := m.Sessions(ctx, who)
	fmt.Println("token of:", who.Email, "sessions:", len(sessions))

	_, err = m.Login(ctx, "ada@example.com", "wrong password")
	fmt.Println("wrong password:", errors.Is(err, authn.ErrBadCredentials))

	if err := m.Logout(ctx, who, claims); err != nil {
		panic(err)
	}
	_, _, err = m.UserFromToken(ctx, grant.AccessToken)
	fmt.Println("token after logout:", errors.Is(err, authn.ErrInvalidToken))
	// Output:
	// registered: Ada@example.com active: true verified: false
	// logged in: Ada@example.com
	// token of: Ada@example.com sessions: 1
	// wrong password: true
	// token after logout: true
}
