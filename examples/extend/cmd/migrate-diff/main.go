// Command migrate-diff writes the application's next migration, for
// PostgreSQL and SQLite, from its ent schema: keylin's database.Diff over
// the application's own migrate.Tables. Run it from examples/extend after
// `go generate ./ent/...`:
//
//	go run ./cmd/migrate-diff add_something
//
// Each directory is replayed on a scratch database (an in-memory SQLite; a
// throwaway PostgreSQL database created on KEYLIN_DEV_POSTGRES_URL, default
// the local server, and dropped afterwards) and the difference to the schema
// is written as the next file, with atlas.sum updated.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"entgo.io/ent/dialect"

	"github.com/keylin/keylin/database"

	entmigrate "github.com/keylin/keylin/examples/extend/ent/migrate"
)

const defaultDevPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func main() {
	dir := flag.String("dir", filepath.Join("ent", "migrate", "migrations"), "directory holding one migration directory per dialect")
	devURL := flag.String("dev-url", os.Getenv("KEYLIN_DEV_POSTGRES_URL"), "PostgreSQL server for the throwaway dev database (default: $KEYLIN_DEV_POSTGRES_URL, else the local server)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: migrate-diff [--dir DIR] [--dev-url URL] NAME")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if *devURL == "" {
		*devURL = defaultDevPostgres
	}
	ctx := context.Background()
	for _, d := range []string{dialect.Postgres, dialect.SQLite} {
		name, err := diff(ctx, d, *dir, *devURL, flag.Arg(0))
		if err != nil {
			log.Fatal(err)
		}
		if name == "" {
			fmt.Printf("%s: no changes\n", database.DialectDir(d))
		} else {
			fmt.Printf("%s: wrote %s\n", database.DialectDir(d), filepath.Join(*dir, database.DialectDir(d), name))
		}
	}
}

func diff(ctx context.Context, d, root, devURL, name string) (string, error) {
	return database.DiffDir(ctx, d, root, devURL, name, entmigrate.Tables)
}
