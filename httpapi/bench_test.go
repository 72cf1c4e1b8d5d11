package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/dbtest"
)

// BenchmarkUsersMe measures GET /users/me through keylin (token parse,
// user and revocation check in one query, policy, JSON) against the
// baseline of NOTES.md: a bare Echo handler that parses the JWT with
// golang-jwt and loads the user by primary key with the ent client. Both
// run in the same process, on the same database, with parallel clients;
// compare the two ns/op of one run.
func BenchmarkUsersMe(b *testing.B) {
	for _, d := range dbtest.Dialects {
		b.Run(database.DialectDir(d), func(b *testing.B) {
			db := dbtest.Migrated(b, d)
			client := ent.NewClient(ent.Driver(db.Driver()))
			tokens, err := authn.NewTokens(authn.TokenConfig{AccessSecret: []byte(testAccessSecret),
				VerifySecret: []byte(testVerifySecret), ResetSecret: []byte(testResetSecret)})
			if err != nil {
				b.Fatal(err)
			}
			hasher, err := authn.NewHasher(authn.WithHashParams(cheapParams))
			if err != nil {
				b.Fatal(err)
			}
			m, err := authn.NewManager(ent.NewAuthnStore(client), tokens, authn.WithHasher(hasher))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := m.Register(ctx, authn.UserCreate{Email: "bench@example.com", Password: testPassword}); err != nil {
				b.Fatal(err)
			}
			g, err := m.Login(ctx, "bench@example.com", testPassword)
			if err != nil {
				b.Fatal(err)
			}
			tok := g.AccessToken
			api, err := httpapi.NewAPI(m)
			if err != nil {
				b.Fatal(err)
			}
			keylin := echo.New()
			api.MountAll(keylin)

			bare := echo.New()
			parser := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithAudience(authn.AccessAudience), jwt.WithExpirationRequired())
			bare.GET("/users/me", func(c echo.Context) error {
				raw := c.Request().Header.Get("Authorization")[len("Bearer "):]
				var claims jwt.RegisteredClaims
				if _, err := parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return []byte(testAccessSecret), nil }); err != nil {
					return c.NoContent(http.StatusUnauthorized)
				}
				id, err := uuid.Parse(claims.Subject)
				if err != nil {
					return c.NoContent(http.StatusUnauthorized)
				}
				u, err := client.User.Get(c.Request().Context(), id)
				if err != nil {
					return c.NoContent(http.StatusUnauthorized)
				}
				return c.JSON(http.StatusOK, map[string]any{"id": u.ID, "email": u.Email, "is_active": u.IsActive,
					"is_superuser": u.IsSuperuser, "is_verified": u.IsVerified, "full_name": u.FullName})
			})

			for _, c := range []struct {
				name string
				h    http.Handler
			}{{"baseline", bare}, {"keylin", keylin}} {
				b.Run(c.name, func(b *testing.B) {
					srv := httptest.NewServer(c.h)
					defer srv.Close()
					hc := srv.Client()
					hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
					b.SetParallelism(8)
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							req, _ := http.NewRequest(http.MethodGet, srv.URL+"/users/me", nil)
							req.Header.Set("Authorization", "Bearer "+tok)
							resp, err := hc.Do(req)
							if err != nil {
								b.Error(err)
								return
							}
							_, _ = io.Copy(io.Discard, resp.Body)
							resp.Body.Close()
							if resp.StatusCode != http.StatusOK {
								b.Errorf("status %d", resp.StatusCode)
								return
							}
						}
					})
				})
			}
		})
	}
}
