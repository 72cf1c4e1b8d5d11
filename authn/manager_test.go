package authn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/internal/dbtest"
)

const (
	testAccessSecret = authtest.AccessSecret
	testPassword     = authtest.Password
)

// captureHooks records the tokens the flows hand out.
type captureHooks struct {
	authn.NopHooks
	mu           sync.Mutex
	verify       map[string]string // email → token
	reset        map[string]string
	updates      []map[string]any
	failForgot   bool
	vetoDelete   bool
	deleted      []uuid.UUID
	registered   int
	existing     []string // emails of AfterRegisterExisting
	emailChanges [][2]string
	hookFailures []error
}

func (h *captureHooks) AfterRegisterExisting(_ context.Context, u *authn.User) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.existing = append(h.existing, u.Email)
	return nil
}

func (h *captureHooks) AfterEmailChanged(_ context.Context, u *authn.User, old string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.emailChanges = append(h.emailChanges, [2]string{old, u.Email})
	return nil
}

func newCaptureHooks() *captureHooks {
	return &captureHooks{verify: map[string]string{}, reset: map[string]string{}}
}

func (h *captureHooks) AfterRegister(context.Context, *authn.User) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.registered++
	return nil
}

func (h *captureHooks) AfterRequestVerify(_ context.Context, u *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verify[u.Email] = tok
	return nil
}

func (h *captureHooks) AfterForgotPassword(_ context.Context, u *authn.User, tok string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reset[u.Email] = tok
	if h.failForgot {
		return errors.New("smtp: connection refused")
	}
	return nil
}

// token returns the last token the hooks got for email.
func (h *captureHooks) token(kind map[string]string, email string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return kind[email]
}

func (h *captureHooks) AfterUpdate(_ context.Context, _ *authn.User, changed map[string]any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.updates = append(h.updates, changed)
	return nil
}

func (h *captureHooks) BeforeDelete(context.Context, *authn.User) error {
	if h.vetoDelete {
		return errors.New("user owns open invoices")
	}
	return nil
}

func (h *captureHooks) AfterDelete(_ context.Context, u *authn.User) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.deleted = append(h.deleted, u.ID)
	return nil
}

type env struct {
	m      *authn.Manager
	store  *ent.AuthnStore
	client *ent.Client
	db     *database.DB
	hooks  *captureHooks
	tokens *authn.Tokens
}

var (
	newManagerTokens = authtest.Tokens
	newHasher        = authtest.Hasher
)

// newEnvOn builds a Manager over an already migrated database.
func newEnvOn(t testing.TB, db *database.DB, opts ...authn.Option) *env {
	t.Helper()
	client := ent.NewClient(ent.Driver(db.Driver()))
	store := ent.NewAuthnStore(client)
	hooks := newCaptureHooks()
	tokens := newManagerTokens(t)
	all := append([]authn.Option{authn.WithHasher(newHasher(t)), authn.WithHooks(hooks), authn.WithLimits(authn.NoLimits()), authn.WithLogger(slog.New(slog.DiscardHandler)),
		authn.WithHookErrorHandler(func(_ context.Context, _ string, _ *authn.User, err error) {
			hooks.mu.Lock()
			defer hooks.mu.Unlock()
			hooks.hookFailures = append(hooks.hookFailures, err)
		})}, opts...)
	m, err := authn.NewManager(store, tokens, all...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{m: m, store: store, client: client, db: db, hooks: hooks, tokens: tokens}
}

func newEnv(t testing.TB, d string, opts ...authn.Option) *env {
	t.Helper()
	return newEnvOn(t, dbtest.Migrated(t, d), opts...)
}

// login logs in and returns the access token.
func (e *env) login(t testing.TB, email, password string) string {
	t.Helper()
	g, err := e.m.Login(context.Background(), email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	return g.AccessToken
}

func (e *env) register(t testing.TB, email string) *authn.User {
	t.Helper()
	u, err := e.m.Register(context.Background(), authn.UserCreate{Email: email, Password: testPassword})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

func TestRegister(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		yes := true
		name := "Ada Lovelace"
		u, err := e.m.Register(ctx, authn.UserCreate{Email: "Ada.Lovelace@EXAMPLE.COM", Password: testPassword, FullName: &name,
			IsActive: new(bool), IsSuperuser: &yes, IsVerified: &yes})
		if err != nil {
			t.Fatal(err)
		}
		t.Run("SafeCreateIgnoresFlags", func(t *testing.T) {
			if !u.IsActive || u.IsSuperuser || u.IsVerified {
				t.Fatalf("flags = active %v superuser %v verified %v, want true false false", u.IsActive, u.IsSuperuser, u.IsVerified)
			}
		})
		t.Run("EmailDomainLowercasedLocalKept", func(t *testing.T) {
			if u.Email != "Ada.Lovelace@example.com" {
				t.Fatalf("email = %q", u.Email)
			}
			if u.FullName == nil || *u.FullName != name {
				t.Fatalf("full name = %v", u.FullName)
			}
		})
		t.Run("PasswordStoredHashed", func(t *testing.T) {
			if !strings.HasPrefix(u.HashedPassword, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("hash = %q", u.HashedPassword)
			}
		})
		for _, email := range []string{"ada.lovelace@example.com", "ADA.LOVELACE@example.com", "Ada.Lovelace@Example.Com"} {
			t.Run("ErrUserAlreadyExists/"+email, func(t *testing.T) {
				_, err := e.m.Register(ctx, authn.UserCreate{Email: email, Password: testPassword})
				if !errors.Is(err, authn.ErrUserAlreadyExists) {
					t.Fatalf("err = %v, want ErrUserAlreadyExists", err)
				}
			})
		}
		t.Run("PasswordValidatedBeforeExistence", func(t *testing.T) {
			_, err := e.m.Register(ctx, authn.UserCreate{Email: "ada.lovelace@example.com", Password: "short"})
			var ip *authn.InvalidPasswordError
			if !errors.As(err, &ip) || ip.Reason == "" {
				t.Fatalf("err = %v, want *InvalidPasswordError", err)
			}
		})
		t.Run("ErrInvalidEmail", func(t *testing.T) {
			for _, bad := range []string{"", "no-at", "a@b", "a@@b.io", ".a@b.io", "a b@c.io"} {
				if _, err := e.m.Register(ctx, authn.UserCreate{Email: bad, Password: testPassword}); !errors.Is(err, authn.ErrInvalidEmail) {
					t.Errorf("%q: err = %v, want ErrInvalidEmail", bad, err)
				}
			}
		})
		t.Run("UnsafeCreateHonoursFlags", func(t *testing.T) {
			no := false
			su, err := e.m.CreateUser(ctx, authn.UserCreate{Email: "root@example.com", Password: testPassword, IsSuperuser: &yes, IsVerified: &yes, IsActive: &no})
			if err != nil {
				t.Fatal(err)
			}
			if su.IsActive || !su.IsSuperuser || !su.IsVerified {
				t.Fatalf("flags = %v %v %v", su.IsActive, su.IsSuperuser, su.IsVerified)
			}
		})
	})
}

// TestConcurrentRegisterOneEmail: 50 registrations of one address in
// differing case end with exactly one user; every other call gets
// ErrUserAlreadyExists and none an internal error.
func TestConcurrentRegisterOneEmail(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, authn.WithHasher(newHasher(t, authn.WithMaxConcurrentHashes(4), authn.WithMaxHashWait(time.Minute))))
		const n = 50
		var (
			wg       sync.WaitGroup
			ok, dup  atomic.Int32
			mu       sync.Mutex
			otherErr []error
			start    = make(chan struct{})
		)
		for i := range n {
			email := "race@example.com"
			if i%2 == 1 {
				email = "RACE@example.com"
			}
			if i%3 == 0 {
				email = "Race@Example.com"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := e.m.Register(context.Background(), authn.UserCreate{Email: email, Password: testPassword})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, authn.ErrUserAlreadyExists):
					dup.Add(1)
				default:
					mu.Lock()
					otherErr = append(otherErr, err)
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if len(otherErr) > 0 {
			t.Fatalf("%d unexpected errors, first: %v", len(otherErr), otherErr[0])
		}
		if ok.Load() != 1 || dup.Load() != n-1 {
			t.Fatalf("created %d, duplicates %d; want 1 and %d", ok.Load(), dup.Load(), n-1)
		}
		count, err := e.client.User.Query().Count(context.Background())
		if err != nil || count != 1 {
			t.Fatalf("rows = %d (%v), want 1", count, err)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.register(t, "Bob@Example.com")
		inactive := e.register(t, "inactive@example.com")
		no := false
		if _, err := e.m.UpdateAsSuperuser(ctx, inactive, authn.UserUpdate{IsActive: &no}); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, email, password string
			want                  error
		}{
			{"OK", "Bob@Example.com", testPassword, nil},
			{"CaseInsensitiveEmail", "BOB@EXAMPLE.COM", testPassword, nil},
			{"WrongPassword", "bob@example.com", testPassword + "!", authn.ErrBadCredentials},
			{"UnknownEmail", "nobody@example.com", testPassword, authn.ErrBadCredentials},
			{"InactiveUser", "inactive@example.com", testPassword, authn.ErrBadCredentials},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := e.m.Authenticate(ctx, c.email, c.password)
				if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				if c.want == nil && got.ID != u.ID {
					t.Fatalf("got user %v, want %v", got.ID, u.ID)
				}
			})
		}
		t.Run("ErrUserNotVerified", func(t *testing.T) {
			strict := newEnvOn(t, e.db, authn.WithRequireVerification(true))
			if _, err := strict.m.Authenticate(ctx, "bob@example.com", testPassword); !errors.Is(err, authn.ErrUserNotVerified) {
				t.Fatalf("err = %v, want ErrUserNotVerified", err)
			}
			if _, err := strict.m.Authenticate(ctx, "bob@example.com", "wrong password"); !errors.Is(err, authn.ErrBadCredentials) {
				t.Fatalf("wrong password with verification required: err = %v, want ErrBadCredentials", err)
			}
		})
	})
}

// TestRehashOnLogin: a user whose stored hash is bcrypt or argon2id with
// other parameters gets a current hash at the next successful login.
func TestRehashOnLogin(t *testing.T) {
	vectors := rehashVectors(t)
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		schemes := map[string]bool{}
		for i, v := range vectors {
			if !v.Valid {
				continue
			}
			// Verifying a hash does not depend on the database; storing the
			// new one does. PostgreSQL gets one vector per scheme, SQLite
			// every one (each costs seconds under the race detector).
			if d == dialect.Postgres && schemes[v.Scheme] {
				continue
			}
			schemes[v.Scheme] = true
			t.Run(fmt.Sprintf("%d_%s_%s", i, v.Scheme, strings.ReplaceAll(v.Params, " ", "_")), func(t *testing.T) {
				email := fmt.Sprintf("vector%d@example.com", i)
				u, err := e.store.CreateUser(ctx, &authn.User{Email: email, HashedPassword: v.Hash, IsActive: true}, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := e.m.Authenticate(ctx, email, v.Password)
				if err != nil {
					t.Fatalf("login with vector hash: %v", err)
				}
				stored, err := e.store.GetUserByID(ctx, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if stored.HashedPassword == v.Hash || !strings.HasPrefix(stored.HashedPassword, "$argon2id$v=19$m=19456,t=2,p=1$") {
					t.Fatalf("stored hash not replaced by a current one: %q", stored.HashedPassword)
				}
				if got.HashedPassword != stored.HashedPassword {
					t.Fatal("Authenticate did not return the rehashed user")
				}
				if _, err := e.m.Authenticate(ctx, email, v.Password); err != nil {
					t.Fatalf("login after rehash: %v", err)
				}
			})
		}
	})
}

func TestLogoutRevokesToken(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.register(t, "carol@example.com")
		tok1 := e.login(t, "carol@example.com", testPassword)
		tok2 := e.login(t, "carol@example.com", testPassword)
		u, claims, err := e.m.UserFromToken(ctx, tok1)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.m.Logout(ctx, u, claims); err != nil {
			t.Fatal(err)
		}
		if err := e.m.Logout(ctx, u, claims); err != nil {
			t.Fatalf("second logout of one token: %v", err)
		}
		if _, _, err := e.m.UserFromToken(ctx, tok1); !errors.Is(err, authn.ErrInvalidToken) {
			t.Fatalf("logged-out token: err = %v, want ErrInvalidToken", err)
		}
		if _, _, err := e.m.UserFromToken(ctx, tok2); err != nil {
			t.Fatalf("other token of the user: %v", err)
		}
		t.Run("HoldsAcrossInstances", func(t *testing.T) {
			other := newEnvOn(t, e.db) // a second keylin instance on the same database
			if _, _, err := other.m.UserFromToken(ctx, tok1); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("second instance accepted a logged-out token: %v", err)
			}
		})

	})
}

// fastapiUsersToken makes an access token the way fastapi-users does: only
// sub, aud and exp.
func fastapiUsersToken(t *testing.T, id uuid.UUID) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": id.String(),
		"aud": []string{"fastapi-users:auth"},
		"exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(testAccessSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestRevocation(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		login := func(t *testing.T, email, pw string) string {
			t.Helper()
			return e.login(t, email, pw)
		}
		valid := func(t *testing.T, tok string) error {
			t.Helper()
			_, _, err := e.m.UserFromToken(ctx, tok)
			return err
		}
		t.Run("FastAPIUsersTokenAcceptedUntilLogout", func(t *testing.T) {
			u := e.register(t, "py@example.com")
			ptok := fastapiUsersToken(t, u.ID)
			if err := valid(t, ptok); err != nil {
				t.Fatalf("fastapi-users token of a user who never logged out: %v", err)
			}
			_, claims, _ := e.m.UserFromToken(ctx, ptok)
			if claims.SessionID != uuid.Nil || !claims.IssuedAt.IsZero() {
				t.Fatalf("claims = %+v, want no sid/iat", claims)
			}
			if err := e.m.Logout(ctx, u, claims); err != nil {
				t.Fatal(err)
			}
			if err := valid(t, ptok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("after logout: err = %v", err)
			}
			if err := valid(t, login(t, "py@example.com", testPassword)); err != nil {
				t.Fatalf("fresh login after logout: %v", err)
			}
		})
		t.Run("PasswordChangeRevokesEarlierTokens", func(t *testing.T) {
			u := e.register(t, "pw@example.com")
			before := login(t, "pw@example.com", testPassword)
			ptok := fastapiUsersToken(t, u.ID)
			np := "another good passphrase"
			if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
			if err := valid(t, before); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("token issued before the change: err = %v", err)
			}
			if err := valid(t, ptok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("fastapi-users token after the change: err = %v", err)
			}
			// A token issued right after the change (same second) works.
			if err := valid(t, login(t, "pw@example.com", np)); err != nil {
				t.Fatalf("token issued after the change: %v", err)
			}
		})
		t.Run("DeactivationRevokes", func(t *testing.T) {
			u := e.register(t, "deact@example.com")
			tok := login(t, "deact@example.com", testPassword)
			no, yes := false, true
			if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{IsActive: &no}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{IsActive: &yes}); err != nil {
				t.Fatal(err)
			}
			if err := valid(t, tok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("token from before deactivation: err = %v", err)
			}
		})
		t.Run("DeletionRevokes", func(t *testing.T) {
			u := e.register(t, "gone@example.com")
			tok := login(t, "gone@example.com", testPassword)
			if err := e.m.Delete(ctx, u); err != nil {
				t.Fatal(err)
			}
			if err := valid(t, tok); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("token of a deleted user: err = %v", err)
			}
		})
		t.Run("ResetTokenIsNotAnAccessToken", func(t *testing.T) {
			u := e.register(t, "kinds@example.com")
			rt, err := e.tokens.IssueReset(u.ID, "fgpt", u.Email)
			if err != nil {
				t.Fatal(err)
			}
			if err := valid(t, rt); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("reset token as access token: err = %v", err)
			}
		})
	})
}

// countingDriver counts the statements sent to the database.
type countingDriver struct {
	dialect.Driver
	n atomic.Int32
}

func (c *countingDriver) Query(ctx context.Context, q string, args, v any) error {
	c.n.Add(1)
	return c.Driver.Query(ctx, q, args, v)
}

func (c *countingDriver) Exec(ctx context.Context, q string, args, v any) error {
	c.n.Add(1)
	return c.Driver.Exec(ctx, q, args, v)
}

// TestUserFromTokenIsOneQuery: the revocation check rides on the query
// that loads the user.
func TestUserFromTokenIsOneQuery(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		db := dbtest.Migrated(t, d)
		cd := &countingDriver{Driver: db.Driver()}
		client := ent.NewClient(ent.Driver(cd))
		m, err := authn.NewManager(ent.NewAuthnStore(client), newManagerTokens(t), authn.WithHasher(newHasher(t)))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := m.Register(ctx, authn.UserCreate{Email: "q@example.com", Password: testPassword}); err != nil {
			t.Fatal(err)
		}
		g, err := m.Login(ctx, "q@example.com", testPassword)
		if err != nil {
			t.Fatal(err)
		}
		tok, u := g.AccessToken, g.User
		for name, token := range map[string]string{"KeylinToken": tok, "FastAPIUsersToken": fastapiUsersToken(t, u.ID)} {
			t.Run(name, func(t *testing.T) {
				cd.n.Store(0)
				if _, _, err := m.UserFromToken(ctx, token); err != nil {
					t.Fatal(err)
				}
				if got := cd.n.Load(); got != 1 {
					t.Fatalf("UserFromToken ran %d statements, want 1", got)
				}
			})
		}
	})
}

func TestVerify(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.register(t, "vera@example.com")
		t.Run("SilentForUnknown", func(t *testing.T) {
			if err := e.m.RequestVerify(ctx, "nobody@example.com"); err != nil {
				t.Fatal(err)
			}
			if len(e.hooks.verify) != 0 {
				t.Fatal("a token was issued for an unknown email")
			}
		})
		if err := e.m.RequestVerify(ctx, "VERA@example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.hooks.verify["vera@example.com"]
		if tok == "" {
			t.Fatal("AfterRequestVerify got no token")
		}
		t.Run("ErrVerifyBadToken", func(t *testing.T) {
			for _, bad := range []string{"", "garbage", tok + "x", fastapiUsersToken(t, u.ID)} {
				if _, err := e.m.Verify(ctx, bad); !errors.Is(err, authn.ErrVerifyBadToken) {
					t.Errorf("err = %v, want ErrVerifyBadToken", err)
				}
			}
		})
		got, err := e.m.Verify(ctx, tok)
		if err != nil || !got.IsVerified {
			t.Fatalf("verify: %v, verified=%v", err, got != nil && got.IsVerified)
		}
		t.Run("ErrAlreadyVerified", func(t *testing.T) {
			if _, err := e.m.Verify(ctx, tok); !errors.Is(err, authn.ErrAlreadyVerified) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("SilentForVerified", func(t *testing.T) {
			delete(e.hooks.verify, "vera@example.com")
			if err := e.m.RequestVerify(ctx, "vera@example.com"); err != nil || e.hooks.verify["vera@example.com"] != "" {
				t.Fatalf("err %v, token issued for a verified user: %v", err, e.hooks.verify["vera@example.com"] != "")
			}
		})
		t.Run("TokenDiesWithEmailChange", func(t *testing.T) {
			w := e.register(t, "walt@example.com")
			if err := e.m.RequestVerify(ctx, "walt@example.com"); err != nil {
				t.Fatal(err)
			}
			wt := e.hooks.verify["walt@example.com"]
			ne := "walter@example.com"
			if _, err := e.m.UpdateSelf(ctx, w, uuid.Nil, authn.UserUpdate{Email: &ne}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Verify(ctx, wt); !errors.Is(err, authn.ErrVerifyBadToken) {
				t.Fatalf("verify token after email change: err = %v", err)
			}
		})
		t.Run("SilentForInactive", func(t *testing.T) {
			i := e.register(t, "idle@example.com")
			no := false
			if _, err := e.m.UpdateAsSuperuser(ctx, i, authn.UserUpdate{IsActive: &no}); err != nil {
				t.Fatal(err)
			}
			if err := e.m.RequestVerify(ctx, "idle@example.com"); err != nil || e.hooks.verify["idle@example.com"] != "" {
				t.Fatalf("err %v; token issued for an inactive user", err)
			}
		})
	})
}

func TestResetPassword(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.register(t, "rita@example.com")
		g, err := e.m.Login(ctx, "rita@example.com", testPassword)
		access := ""
		if g != nil {
			access = g.AccessToken
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := e.m.ForgotPassword(ctx, "nobody@example.com"); err != nil {
			t.Fatalf("unknown email: %v", err)
		}
		if err := e.m.ForgotPassword(ctx, "Rita@Example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.hooks.reset["rita@example.com"]
		if tok == "" || len(e.hooks.reset) != 1 {
			t.Fatalf("reset tokens handed out: %v", len(e.hooks.reset))
		}
		t.Run("InvalidPassword", func(t *testing.T) {
			var ip *authn.InvalidPasswordError
			if _, err := e.m.ResetPassword(ctx, tok, "short"); !errors.As(err, &ip) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("BadToken", func(t *testing.T) {
			vt, _ := e.tokens.IssueVerify(u.ID, u.Email)
			for _, bad := range []string{"", "x.y.z", vt, access} {
				if _, err := e.m.ResetPassword(ctx, bad, "a brand new passphrase"); !errors.Is(err, authn.ErrResetBadToken) {
					t.Errorf("err = %v, want ErrResetBadToken", err)
				}
			}
		})
		if _, err := e.m.ResetPassword(ctx, tok, "a brand new passphrase"); err != nil {
			t.Fatal(err)
		}
		t.Run("SingleUse", func(t *testing.T) {
			if _, err := e.m.ResetPassword(ctx, tok, "yet another passphrase"); !errors.Is(err, authn.ErrResetBadToken) {
				t.Fatalf("reused reset token: err = %v", err)
			}
		})
		t.Run("NewPasswordWorksOldDoesNot", func(t *testing.T) {
			if _, err := e.m.Authenticate(ctx, "rita@example.com", "a brand new passphrase"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Authenticate(ctx, "rita@example.com", testPassword); !errors.Is(err, authn.ErrBadCredentials) {
				t.Fatalf("old password: %v", err)
			}
		})
		t.Run("AccessTokensRevoked", func(t *testing.T) {
			if _, _, err := e.m.UserFromToken(ctx, access); !errors.Is(err, authn.ErrInvalidToken) {
				t.Fatalf("access token from before the reset: %v", err)
			}
		})
		t.Run("InactiveUser", func(t *testing.T) {
			i := e.register(t, "ivan@example.com")
			if err := e.m.ForgotPassword(ctx, "ivan@example.com"); err != nil {
				t.Fatal(err)
			}
			it := e.hooks.reset["ivan@example.com"]
			no := false
			if _, err := e.m.UpdateAsSuperuser(ctx, i, authn.UserUpdate{IsActive: &no}); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.ResetPassword(ctx, it, "a brand new passphrase"); !errors.Is(err, authn.ErrResetBadToken) {
				t.Fatalf("reset of an inactive user: %v", err)
			}
			delete(e.hooks.reset, "ivan@example.com")
			if err := e.m.ForgotPassword(ctx, "ivan@example.com"); err != nil || e.hooks.reset["ivan@example.com"] != "" {
				t.Fatalf("err %v; token issued for an inactive user", err)
			}
		})
	})
}

// TestHookFailureLosesNothing: a failing mail hook neither fails the flow
// nor invalidates the token it was handed.
func TestHookFailureLosesNothing(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil))
	e := newEnv(t, dialect.SQLite, authn.WithLogger(logger))
	ctx := context.Background()
	e.register(t, "mail@example.com")
	e.hooks.failForgot = true
	if err := e.m.ForgotPassword(ctx, "mail@example.com"); err != nil {
		t.Fatalf("flow failed because its hook did: %v", err)
	}
	var he *authn.HookError
	if len(e.hooks.hookFailures) != 1 || !errors.As(e.hooks.hookFailures[0], &he) || he.Hook != "AfterForgotPassword" {
		t.Fatalf("hook failures = %v", e.hooks.hookFailures)
	}
	tok := e.hooks.reset["mail@example.com"]
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	if !strings.Contains(logged, "hook=AfterForgotPassword") || !strings.Contains(logged, "smtp: connection refused") {
		t.Fatalf("the failure was not logged: %q", logged)
	}
	if strings.Contains(logged, tok) {
		t.Fatal("the token reached the log")
	}
	if _, err := e.m.ResetPassword(ctx, tok, "the token still works"); err != nil {
		t.Fatalf("token handed to the failing hook: %v", err)
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestPasswordValidator: the app's rule runs after keylin's policy, at
// registration (no user yet) and at update (with the user), and its text
// is the reason shown.
func TestPasswordValidator(t *testing.T) {
	var sawUser atomic.Bool
	rule := func(_ context.Context, pw string, u *authn.User) error {
		if u != nil {
			sawUser.Store(true)
			if strings.Contains(strings.ToLower(pw), strings.ToLower(strings.Split(u.Email, "@")[0])) {
				return errors.New("Password should not contain your email.")
			}
		}
		if strings.Contains(pw, "keylin") {
			return errors.New("Password should not contain the product's name.")
		}
		return nil
	}
	e := newEnv(t, dialect.SQLite, authn.WithPasswordValidator(rule))
	ctx := context.Background()
	var ip *authn.InvalidPasswordError
	if _, err := e.m.Register(ctx, authn.UserCreate{Email: "val@example.com", Password: "my keylin passphrase"}); !errors.As(err, &ip) || ip.Reason != "Password should not contain the product's name." {
		t.Fatalf("register: %v", err)
	}
	u := e.register(t, "val@example.com")
	bad := "val is my passphrase"
	if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &bad}); !errors.As(err, &ip) || ip.Reason != "Password should not contain your email." {
		t.Fatalf("update: %v", err)
	}
	if !sawUser.Load() {
		t.Fatal("the validator never got the user")
	}
}

func TestUpdate(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		u := e.register(t, "ursula@example.com")
		e.register(t, "taken@example.com")
		yes := true
		t.Run("SafeIgnoresFlags", func(t *testing.T) {
			got, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{IsSuperuser: &yes, IsVerified: &yes})
			if err != nil || got.IsSuperuser || got.IsVerified {
				t.Fatalf("err %v, got %+v", err, got)
			}
		})
		t.Run("UnsafeSetsFlags", func(t *testing.T) {
			got, err := e.m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{IsSuperuser: &yes, IsVerified: &yes})
			if err != nil || !got.IsSuperuser || !got.IsVerified {
				t.Fatalf("err %v, got %+v", err, got)
			}
			u = got
		})
		t.Run("ErrEmailAlreadyExists", func(t *testing.T) {
			taken := "TAKEN@example.com"
			if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Email: &taken}); !errors.Is(err, authn.ErrEmailAlreadyExists) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("EmailChangeResetsVerified", func(t *testing.T) {
			ne := "Ursula.New@Example.com"
			got, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Email: &ne})
			if err != nil || got.Email != "Ursula.New@example.com" || got.IsVerified {
				t.Fatalf("err %v, got %+v", err, got)
			}
			u = got
		})
		t.Run("InvalidPassword", func(t *testing.T) {
			bad := "1234567"
			var ip *authn.InvalidPasswordError
			if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &bad}); !errors.As(err, &ip) {
				t.Fatalf("err = %v", err)
			}
		})
		t.Run("FullNameSetAndCleared", func(t *testing.T) {
			n := "Ursula K."
			got, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{SetFullName: true, FullName: &n})
			if err != nil || got.FullName == nil || *got.FullName != n {
				t.Fatalf("err %v, got %+v", err, got)
			}
			got, err = e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{SetFullName: true})
			if err != nil || got.FullName != nil {
				t.Fatalf("err %v, full name %v", err, got.FullName)
			}
		})
		t.Run("HookGetsChangedFieldsNotPassword", func(t *testing.T) {
			np := "a fresh passphrase"
			if _, err := e.m.UpdateSelf(ctx, u, uuid.Nil, authn.UserUpdate{Password: &np}); err != nil {
				t.Fatal(err)
			}
			last := e.hooks.updates[len(e.hooks.updates)-1]
			if v, ok := last["password"]; !ok || v != nil {
				t.Fatalf("changed = %v", last)
			}
		})
	})
}

func TestDeleteAndList(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d)
		ctx := context.Background()
		var users []*authn.User
		for i := range 7 {
			users = append(users, e.register(t, fmt.Sprintf("user%d@example.com", i)))
		}
		t.Run("Paging", func(t *testing.T) {
			seen := map[uuid.UUID]bool{}
			for off := 0; off < 7; off += 3 {
				p, err := e.m.List(ctx, authn.ListParams{Offset: off, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				if p.Total != 7 {
					t.Fatalf("total = %d", p.Total)
				}
				for _, u := range p.Users {
					if seen[u.ID] {
						t.Fatalf("user %v on two pages", u.ID)
					}
					seen[u.ID] = true
				}
			}
			if len(seen) != 7 {
				t.Fatalf("paged through %d users, want 7", len(seen))
			}
			if p, err := e.m.List(ctx, authn.ListParams{Limit: 100000}); err != nil || p.Limit != authn.MaxPageSize {
				t.Fatalf("limit not capped: %v %v", p, err)
			}
			if _, err := e.m.List(ctx, authn.ListParams{Offset: -1}); err == nil {
				t.Fatal("negative offset accepted")
			}
		})
		t.Run("BeforeDeleteVetoes", func(t *testing.T) {
			e.hooks.vetoDelete = true
			defer func() { e.hooks.vetoDelete = false }()
			var he *authn.HookError
			if err := e.m.Delete(ctx, users[0]); !errors.As(err, &he) {
				t.Fatalf("err = %v", err)
			}
			if _, err := e.m.Get(ctx, users[0].ID); err != nil {
				t.Fatalf("vetoed user is gone: %v", err)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			if err := e.m.Delete(ctx, users[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := e.m.Get(ctx, users[0].ID); !errors.Is(err, authn.ErrUserNotFound) {
				t.Fatalf("err = %v", err)
			}
			if err := e.m.Delete(ctx, users[0]); !errors.Is(err, authn.ErrUserNotFound) {
				t.Fatalf("second delete: %v", err)
			}
			if len(e.hooks.deleted) != 1 {
				t.Fatalf("AfterDelete ran %d times", len(e.hooks.deleted))
			}
		})
		t.Run("GetByEmail", func(t *testing.T) {
			u, err := e.m.GetByEmail(ctx, "USER3@EXAMPLE.COM")
			if err != nil || u.ID != users[3].ID {
				t.Fatalf("err %v", err)
			}
		})
	})
}

type rehashVector struct {
	Scheme   string `json:"scheme"`
	Params   string `json:"params"`
	Password string `json:"password"`
	Hash     string `json:"hash"`
	Valid    bool   `json:"valid"`
}

// rehashVectors reads the password hashes of the interop vectors.
func rehashVectors(t *testing.T) []rehashVector {
	t.Helper()
	b, err := os.ReadFile("testdata/fastapi-users-interop.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Hashes []rehashVector `json:"hashes"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Hashes) == 0 {
		t.Fatal("no hash vectors")
	}
	return f.Hashes
}

// TestResetTokenSingleUseUnderConcurrency: of several resets racing with
// one token, exactly one succeeds.
func TestResetTokenSingleUseUnderConcurrency(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		e := newEnv(t, d, authn.WithHasher(newHasher(t, authn.WithMaxConcurrentHashes(8), authn.WithMaxHashWait(time.Minute))))
		ctx := context.Background()
		e.register(t, "race-reset@example.com")
		if err := e.m.ForgotPassword(ctx, "race-reset@example.com"); err != nil {
			t.Fatal(err)
		}
		tok := e.hooks.reset["race-reset@example.com"]
		const n = 6
		var (
			wg       sync.WaitGroup
			ok, bad  atomic.Int32
			otherErr atomic.Value
		)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.m.ResetPassword(ctx, tok, fmt.Sprintf("racing passphrase %d", i))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, authn.ErrResetBadToken):
					bad.Add(1)
				default:
					otherErr.Store(err)
				}
			}()
		}
		wg.Wait()
		if err := otherErr.Load(); err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if ok.Load() != 1 || bad.Load() != n-1 {
			t.Fatalf("%d resets succeeded, %d refused; want 1 and %d", ok.Load(), bad.Load(), n-1)
		}
	})
}

// TestNoEnumerationByWork: flows that must not reveal whether an account
// exists spend a hash even when it does not. With the only hashing slot
// held, each of them must wait for it (and so answers ErrOverloaded), as
// it would for an existing account.
func TestNoEnumerationByWork(t *testing.T) {
	h := newHasher(t, authn.WithMaxConcurrentHashes(1), authn.WithMaxHashWait(20*time.Millisecond))
	e := newEnv(t, dialect.SQLite, authn.WithHasher(h))
	ctx := context.Background()
	inactive := e.register(t, "sleepy@example.com")
	no := false
	if _, err := e.m.UpdateAsSuperuser(ctx, inactive, authn.UserUpdate{IsActive: &no}); err != nil {
		t.Fatal(err)
	}
	const bcryptHash = "$2b$10$4DdUcQO0oEjBQ3hefcu8Ze8ExSGjugZDH.7Pij/fXnG3nfjb1hPA2" // an interop vector
	if _, err := authn.ParseHash(bcryptHash); err != nil {
		t.Fatalf("the bcrypt fixture must be a supported hash: %v", err)
	}
	if _, err := e.store.CreateUser(ctx, &authn.User{Email: "bcrypt@example.com", HashedPassword: bcryptHash, IsActive: true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.CreateUser(ctx, &authn.User{Email: "weird@example.com", HashedPassword: "$md5$not-supported", IsActive: true}, nil); err != nil {
		t.Fatal(err)
	}
	release := authn.HoldSlot(h)
	defer release()
	cases := map[string]func() error{
		"LoginUnknown": func() error { _, err := e.m.Authenticate(ctx, "nobody@example.com", testPassword); return err },
		"LoginBcryptOver72Bytes": func() error {
			_, err := e.m.Authenticate(ctx, "bcrypt@example.com", strings.Repeat("x", 80))
			return err
		},
		"LoginUnsupportedHash": func() error { _, err := e.m.Authenticate(ctx, "weird@example.com", testPassword); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			if err := f(); !errors.Is(err, authn.ErrOverloaded) {
				t.Fatalf("err = %v: the flow did not spend a hash", err)
			}
		})
	}

	// forgot-password never takes a slot a login needs (anonymous requests
	// must not starve logins), but spends the same fingerprint work for an
	// unknown, an inactive and a real account.
	forgot := map[string]string{"Unknown": "nobody@example.com", "Inactive": "sleepy@example.com", "Known": "bcrypt@example.com"}
	for name, email := range forgot {
		t.Run("ForgotPassword"+name+"/OffLoginSlots", func(t *testing.T) {
			if err := e.m.ForgotPassword(ctx, email); err != nil {
				t.Fatalf("with the login slot held: err = %v, want nil", err)
			}
		})
	}
	releaseFgpt := authn.HoldFingerprintSlots(e.m, 20*time.Millisecond)
	defer releaseFgpt()
	for name, email := range forgot {
		t.Run("ForgotPassword"+name+"/SpendsFingerprintWork", func(t *testing.T) {
			if err := e.m.ForgotPassword(ctx, email); !errors.Is(err, authn.ErrOverloaded) {
				t.Fatalf("err = %v: the flow did not spend the fingerprint's hash", err)
			}
		})
	}
}
