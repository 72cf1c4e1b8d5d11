//go:build ignore

// entc.go runs ent's code generation with keylin's extension, which adds
// ent.NewAuthnStore, ent.KeylinUserSchema and the keylinrule package, and
// turns on the ent features they need.
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
