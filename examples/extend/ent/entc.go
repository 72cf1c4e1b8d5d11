//go:build ignore

// entc.go runs ent's code generation with keylin's extension, which adds
// ent.NewAuthnStore, ent.OpenURL and ent.KeylinUserSchema to the package.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/ent/entkeylin/extension"
)

func main() {
	err := entc.Generate("./schema", &gen.Config{
		Package:  "github.com/keylin/keylin/examples/extend/ent",
		Features: extension.Features,
	}, entc.Extensions(extension.New()))
	if err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
