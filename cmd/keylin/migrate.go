package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	entmigrate "github.com/keylin/keylin/ent/migrate"
	"github.com/keylin/keylin/ent/migrate/migrations"
)

// defaultDevPostgres is the server `migrate diff` creates its throwaway
// database on, unless --dev-url or KEYLIN_DEV_POSTGRES_URL says otherwise.
const defaultDevPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

func migrateCommand() *command {
	return &command{
		name:    "migrate",
		summary: "apply, inspect and write database migrations: keylin's own, or an application's",
		help:    migrateHelp,
		subs: []*command{
			{
				name:    "apply",
				summary: "apply pending migrations (keylin's, embedded in the binary, unless --dir or --dialect-dir is given)",
				usage:   "[--url URL] [--dir DIR | --dialect-dir DIR] [--baseline VERSION]",
				help:    applyHelp,
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					url := fs.String("url", "", "database URL (default: $DATABASE_URL, else the SQLite file keylin.db)")
					dir := fs.String("dir", "", "directory holding one migration folder per dialect (postgres/, sqlite/): the database's is applied (default: keylin's, embedded)")
					dialectDir := fs.String("dialect-dir", "", "one dialect's migration folder, instead of --dir")
					baseline := fs.String("baseline", "", "record VERSION as applied without running it (for a database created by another tool)")
					return func(ctx context.Context, e *env, _ []string) error {
						db, m, err := openMigrator(ctx, *url, *dir, *dialectDir, *baseline)
						if err != nil {
							return err
						}
						defer db.Close()
						res, err := m.Apply(ctx)
						if res != nil {
							for _, f := range res.Applied {
								fmt.Fprintf(e.stdout, "applied %s (%d statements, %s)\n", f.Name, f.Statements, f.Duration.Round(1e6))
							}
						}
						if err != nil {
							return err
						}
						if len(res.Applied) == 0 {
							fmt.Fprintf(e.stdout, "no pending migrations: %s is at version %s\n", db.URL.Redacted, res.Current)
							return nil
						}
						fmt.Fprintf(e.stdout, "%s is now at version %s\n", db.URL.Redacted, res.Current)
						return nil
					}
				},
			},
			{
				name:    "status",
				summary: "show the current version, pending files and whether the database matches the directory",
				usage:   "[--url URL] [--dir DIR | --dialect-dir DIR]",
				help:    applyHelp,
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					url := fs.String("url", "", "database URL (default: $DATABASE_URL, else the SQLite file keylin.db)")
					dir := fs.String("dir", "", "directory holding one migration folder per dialect (postgres/, sqlite/): the database's is compared (default: keylin's, embedded)")
					dialectDir := fs.String("dialect-dir", "", "one dialect's migration folder, instead of --dir")
					return func(ctx context.Context, e *env, _ []string) error {
						db, m, err := openMigrator(ctx, *url, *dir, *dialectDir, "")
						if err != nil {
							return err
						}
						defer db.Close()
						st, err := m.Status(ctx)
						if err != nil {
							return err
						}
						cur := st.Current
						if cur == "" {
							cur = "none"
						}
						fmt.Fprintf(e.stdout, "database: %s\nmigrations: %s\ncurrent version: %s\npending: %d\n", db.URL.Redacted, m.Dir(), cur, len(st.Pending))
						for _, p := range st.Pending {
							fmt.Fprintf(e.stdout, "  %s\n", p)
						}
						for _, p := range st.Problems {
							fmt.Fprintf(e.stdout, "problem: %s\n", p)
						}
						if st.InSync() {
							fmt.Fprintln(e.stdout, "in sync: yes")
							return nil
						}
						fmt.Fprintln(e.stdout, "in sync: no")
						if len(st.Problems) > 0 {
							return errors.New("the database does not match the migration directory")
						}
						return nil
					}
				},
			},
			{
				name:    "diff",
				summary: "write the next migration for both dialects from an ent schema: keylin's own, or --schema DIR",
				usage:   "[--schema DIR] [--dir DIR] [--dev-url POSTGRES_URL] [--dialect postgres|sqlite|all] NAME",
				help:    diffHelp,
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					schemaDir := fs.String("schema", "", "ent schema package to diff, e.g. ./ent/schema (default: keylin's own schema, built into this binary)")
					dir := fs.String("dir", "ent/migrate/migrations", "directory holding one migration folder per dialect (postgres/, sqlite/)")
					devURL := fs.String("dev-url", envOr("KEYLIN_DEV_POSTGRES_URL", defaultDevPostgres), "PostgreSQL server to create the throwaway dev database on")
					only := fs.String("dialect", "all", "which dialect to write: postgres, sqlite or all")
					return func(ctx context.Context, e *env, args []string) error {
						if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
							return errors.New("migrate diff needs exactly one NAME, e.g. keylin migrate diff add_nickname")
						}
						schema, what, err := loadSchema(*schemaDir)
						if err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "schema: %s\n", what)
						for _, d := range dialectsFor(*only) {
							name, err := database.DiffDir(ctx, d, *dir, *devURL, args[0], schema)
							if err != nil {
								return err
							}
							if name == "" {
								fmt.Fprintf(e.stdout, "%s: no changes\n", database.DialectDir(d))
							} else {
								fmt.Fprintf(e.stdout, "%s: wrote %s\n", database.DialectDir(d), filepath.Join(*dir, database.DialectDir(d), name))
							}
						}
						return nil
					}
				},
			},
			{
				name:    "hash",
				summary: "re-compute atlas.sum of each migration folder after an intended edit",
				usage:   "[--dir DIR]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					dir := fs.String("dir", "ent/migrate/migrations", "directory holding one migration folder per dialect (postgres/, sqlite/)")
					return func(_ context.Context, e *env, _ []string) error {
						for _, d := range dialectsFor("all") {
							p := filepath.Join(*dir, database.DialectDir(d))
							ld, err := migrate.NewLocalDir(p)
							if err != nil {
								return err
							}
							sum, err := ld.Checksum()
							if err != nil {
								return err
							}
							if err := migrate.WriteSumFile(ld, sum); err != nil {
								return err
							}
							fmt.Fprintf(e.stdout, "%s: atlas.sum written\n", p)
						}
						return nil
					}
				},
			},
		},
	}
}

func dialectsFor(only string) []string {
	switch only {
	case "postgres":
		return []string{dialect.Postgres}
	case "sqlite":
		return []string{dialect.SQLite}
	default:
		return []string{dialect.Postgres, dialect.SQLite}
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// databaseURL is --url, else DATABASE_URL from the environment or .env,
// else the embedded default. Migration commands do not need JWT_SECRET.
func databaseURL(ctx context.Context, flagURL string) (string, error) {
	if flagURL != "" {
		return flagURL, nil
	}
	var s struct {
		DatabaseURL string `env:"DATABASE_URL, default=sqlite://keylin.db"`
	}
	if err := config.Load(ctx, &s); err != nil {
		return "", err
	}
	return s.DatabaseURL, nil
}

// openMigrator opens the database and a Migrator over the migrations the
// flags name: --dir (one folder per dialect), --dialect-dir (one folder,
// passed with its name so that a postgres or sqlite folder is checked by
// it) or keylin's embedded migrations.
func openMigrator(ctx context.Context, flagURL, dir, dialectDir, baseline string) (*database.DB, *database.Migrator, error) {
	if dir != "" && dialectDir != "" {
		return nil, nil, errors.New("give --dir or --dialect-dir, not both")
	}
	var (
		fsys fs.FS = migrations.FS
		opts       = []database.MigratorOption{database.WithOperatorVersion("keylin " + versionString())}
	)
	switch {
	case dir != "":
		fsys = os.DirFS(dir)
	case dialectDir != "":
		abs, err := filepath.Abs(dialectDir)
		if err != nil {
			return nil, nil, err
		}
		fsys = os.DirFS(filepath.Dir(abs))
		opts = append(opts, database.WithDir(filepath.Base(abs)))
	}
	if baseline != "" {
		opts = append(opts, database.WithBaseline(baseline))
	}
	raw, err := databaseURL(ctx, flagURL)
	if err != nil {
		return nil, nil, err
	}
	db, err := database.Open(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	m, err := database.NewMigrator(db, fsys, opts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, m, nil
}

// loadSchema is the schema `migrate diff` writes migrations for: the ent
// schema package at dir, loaded with entc.LoadGraph (it compiles and runs
// the package, from the module of the working directory), or keylin's own
// schema, compiled into this binary, when dir is "".
func loadSchema(dir string) (database.Schema, string, error) {
	if dir == "" {
		return database.Tables(entmigrate.Tables), "keylin's own (github.com/keylin/keylin/ent/schema, built in)", nil
	}
	g, err := entc.LoadGraph(dir, &gen.Config{})
	if err != nil {
		return nil, "", fmt.Errorf("load the ent schema %s: %w", dir, err)
	}
	return g, fmt.Sprintf("%s (%s)", dir, g.Config.Schema), nil
}

// Help texts of the migrate commands.
const (
	migrateHelp = `The migrations are Atlas-format folders, one per dialect (postgres/,
sqlite/, each with its atlas.sum): keylin's own are embedded in this
binary; an application that owns its ent schema keeps its own and passes
--dir (apply, status, diff, hash) and --schema (diff). Reads DATABASE_URL
(apply, status) and KEYLIN_DEV_POSTGRES_URL (diff); not JWT_SECRET.`

	applyHelp = `Without --dir or --dialect-dir the migrations are keylin's own, embedded.
A folder written for another dialect than the database's is refused
before anything runs. Reads DATABASE_URL (unless --url), from the
environment or .env; nothing else.`

	diffHelp = `Replays each dialect's folder under --dir on a scratch database (an
in-memory SQLite; a throwaway PostgreSQL database created and dropped on
--dev-url) and writes the difference to the ent schema as the next file,
updating atlas.sum. keylin's migration options are added (the unique index
on lower(email)).

Which schema: without --schema, keylin's own (its ent/schema, built into
this binary). An application that owns its ent schema passes its schema
package, from its module's root:

  go run github.com/keylin/keylin/cmd/keylin migrate diff \
      --schema ./ent/schema --dir ./ent/migrate/migrations add_orders

Reads KEYLIN_DEV_POSTGRES_URL (the default of --dev-url); not DATABASE_URL
or JWT_SECRET.`
)
