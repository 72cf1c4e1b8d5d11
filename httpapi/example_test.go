package httpapi_test

import (
	"context"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/httpapi"
)

// Example mounts keylin's routers under an application's own prefixes, next
// to its own routes, and protects one of them. The application keeps its
// own error handler: keylin answers its errors itself.
func Example() {
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite:///var/lib/app/app.db")
	if err != nil {
		log.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(db.Driver()))
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte("JWT_SECRET"),
		VerifySecret: []byte("VERIFICATION_SECRET"),
		ResetSecret:  []byte("RESET_PASSWORD_SECRET"),
	})
	if err != nil {
		log.Fatal(err)
	}
	m, err := authn.NewManager(ent.NewAuthnStore(client), tokens)
	if err != nil {
		log.Fatal(err)
	}
	api, err := httpapi.NewAPI(m, httpapi.WithCookie(httpapi.CookieConfig{}))
	if err != nil {
		log.Fatal(err)
	}

	e := echo.New()
	e.HTTPErrorHandler = myErrorHandler // untouched by keylin

	v1 := e.Group("/api/v1")
	api.MountAuth(v1.Group("/auth/jwt"))
	api.MountCookieAuth(v1.Group("/auth/cookie"))
	auth := v1.Group("/auth")
	api.MountRegister(auth)
	api.MountResetPassword(auth)
	api.MountVerify(auth)
	api.MountUsers(v1.Group("/users"))

	v1.GET("/notes", func(c echo.Context) error {
		u := httpapi.CurrentUser(c)
		return c.JSON(http.StatusOK, map[string]string{"owner": u.Email})
	}, api.RequireVerifiedUser())

	log.Fatal(e.Start(":8000"))
}

func myErrorHandler(err error, c echo.Context) { c.Echo().DefaultHTTPErrorHandler(err, c) }
