// Command getuser is the Python keylin README's usage example in Go: an
// endpoint that loads a user by id through the ent client, and answers with
// the contract's user object (ent.UserRead, generated from the schema).
//
//	DATABASE_URL=sqlite://keylin.db go run ./examples/getuser
//	curl localhost:8081/users/<id>
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
)

// newApp serves GET /users/:id from the ent client.
func newApp(client *ent.Client) *echo.Echo {
	e := echo.New()
	e.GET("/users/:id", func(c echo.Context) error {
		id, err := uuid.Parse(c.Param("id"))
		if err != nil {
			return c.JSON(http.StatusNotFound, map[string]string{"detail": "Not Found"})
		}
		u, err := client.User.Get(c.Request().Context(), id)
		if ent.IsNotFound(err) {
			return c.JSON(http.StatusNotFound, map[string]string{"detail": "Not Found"})
		}
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, ent.NewUserRead(u)) // the contract's user object, generated from the schema
	})
	return e
}

func main() {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = "sqlite://keylin.db"
	}
	db, err := database.Open(context.Background(), url)
	if err != nil {
		log.Fatal(err)
	}
	client := ent.NewClient(ent.Driver(db.Driver()))
	defer client.Close()
	log.Fatal(newApp(client).Start(":8081"))
}
