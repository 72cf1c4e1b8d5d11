package database_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// ExampleMigrate applies keylin's embedded migrations in one call: the
// folder of the database's dialect is picked from the embedded postgres/
// and sqlite/. A second call finds nothing to do.
func ExampleMigrate() {
	dir, err := os.MkdirTemp("", "keylin-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite:///"+filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	res, err := database.Migrate(ctx, db, migrations.FS)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range res.Applied {
		fmt.Println("applied", f.Name)
	}
	res, err = database.Migrate(ctx, db, migrations.FS)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(res.Applied), "applied the second time; at version", res.Current)
	// Output:
	// applied 20261127031536_init.sql
	// applied 20261202005307_sessions_refresh_rate_limits.sql
	// 0 applied the second time; at version 20261202005307
}

// ExampleNewMigrator inspects a database before applying anything.
func ExampleNewMigrator() {
	dir, err := os.MkdirTemp("", "keylin-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := database.Open(ctx, "sqlite:///"+filepath.Join(dir, "app.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	m, err := database.NewMigrator(db, migrations.FS)
	if err != nil {
		log.Fatal(err)
	}
	pending, err := m.Pending(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pending:", pending)
	if _, err := m.Apply(ctx); err != nil {
		log.Fatal(err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("in sync:", st.InSync(), "at", st.Current)
	// Output:
	// pending: [20261127031536_init.sql 20261202005307_sessions_refresh_rate_limits.sql]
	// in sync: true at 20261202005307
}
