//go:build ignore

package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/ent/entkeylin/extension"
)

func main() {
	err := entc.Generate("./schema", &gen.Config{}, entc.Extensions(extension.New()))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
