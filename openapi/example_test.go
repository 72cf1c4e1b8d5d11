package openapi_test

import (
	"context"
	"fmt"
	"log"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
	"github.com/keylin/keylin/openapi"
)

// ExampleMount serves an application's description of keylin's routes,
// under its own prefix, with the docs page: GET /api/openapi.json and
// GET /api/docs.
func ExampleMount() {
	ctx := context.Background()
	var s config.Settings
	if err := config.Load(ctx, &s); err != nil {
		log.Fatal(err)
	}
	db, err := database.Open(ctx, s.DatabaseURL)
	if err != nil {
		log.Fatal(err)
	}
	svc, err := keylin.New(s, ent.NewAuthnStore(ent.NewClient(ent.Driver(db.Driver()))))
	if err != nil {
		log.Fatal(err)
	}
	e := echo.New()
	api := e.Group("/api")
	svc.API.MountAuth(api.Group("/auth/jwt"))
	svc.API.MountRegister(api.Group("/auth"))
	svc.API.MountUsers(api.Group("/users"))
	// After keylin's routes: the document lists those mounted.
	if err := openapi.Mount(api, svc.API, openapi.Info{Title: "shop", Version: "1.0.0"}); err != nil {
		log.Fatal(err)
	}
	log.Fatal(e.Start(":8080"))
}

// ExampleNew writes the document of an API as JSON, for a client
// generator or a gateway.
func ExampleNew() {
	d, err := openapi.DefaultDescription() // or svc.API.Describe() after mounting
	if err != nil {
		log.Fatal(err)
	}
	doc, err := openapi.New(d, openapi.Info{Title: "keylin", Version: "1.0.0"})
	if err != nil {
		log.Fatal(err)
	}
	b, err := doc.MarshalJSON()
	if err != nil {
		log.Fatal(err)
	}
	_ = b // write it to openapi.json
	fmt.Println(doc.OpenAPI, doc.Paths.Len(), "paths; OAuth2 token URL",
		doc.Components.SecuritySchemes["OAuth2PasswordBearer"].Value.Flows.Password.TokenURL)
	// Output: 3.1.0 15 paths; OAuth2 token URL /auth/jwt/login
}
