package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"

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
		summary: "apply, inspect and write database migrations",
		subs: []*command{
			{
				name:    "apply",
				summary: "apply pending migrations (embedded in the binary unless --dialect-dir is given)",
				usage:   "[--url URL] [--dialect-dir DIR] [--baseline VERSION]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					url := fs.String("url", "", "database URL (default: $DATABASE_URL, else the embedded SQLite file keylin.db)")
					dir := fs.String("dialect-dir", "", "migration directory for the database's dialect (default: the embedded one)")
					baseline := fs.String("baseline", "", "record VERSION as applied without running it (for a database created by another tool)")
					return func(ctx context.Context, e *env, _ []string) error {
						db, m, err := openMigrator(ctx, *url, *dir, *baseline)
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
				usage:   "[--url URL] [--dialect-dir DIR]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					url := fs.String("url", "", "database URL (default: $DATABASE_URL, else the embedded SQLite file keylin.db)")
					dir := fs.String("dialect-dir", "", "migration directory for the database's dialect (default: the embedded one)")
					return func(ctx context.Context, e *env, _ []string) error {
						db, m, err := openMigrator(ctx, *url, *dir, "")
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
						fmt.Fprintf(e.stdout, "database: %s\ncurrent version: %s\npending: %d\n", db.URL.Redacted, cur, len(st.Pending))
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
				summary: "write the next migration for both dialects from the ent schema",
				usage:   "[--dir DIR] [--dev-url POSTGRES_URL] [--dialect postgres|sqlite|all] NAME",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					dir := fs.String("dir", "ent/migrate/migrations", "directory holding one migration directory per dialect")
					devURL := fs.String("dev-url", envOr("KEYLIN_DEV_POSTGRES_URL", defaultDevPostgres), "PostgreSQL server to create the throwaway dev database on")
					only := fs.String("dialect", "all", "which dialect to write: postgres, sqlite or all")
					return func(ctx context.Context, e *env, args []string) error {
						if len(args) != 1 || strings.TrimSpace(args[0]) == "" {
							return errors.New("migrate diff needs exactly one NAME, e.g. keylin migrate diff add_nickname")
						}
						for _, d := range dialectsFor(*only) {
							name, err := database.DiffDir(ctx, d, *dir, *devURL, args[0], entmigrate.Tables)
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
				summary: "re-compute atlas.sum of each migration directory after an intended edit",
				usage:   "[--dir DIR]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					dir := fs.String("dir", "ent/migrate/migrations", "directory holding one migration directory per dialect")
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

func openMigrator(ctx context.Context, flagURL, dialectDir, baseline string) (*database.DB, *database.Migrator, error) {
	raw, err := databaseURL(ctx, flagURL)
	if err != nil {
		return nil, nil, err
	}
	db, err := database.Open(ctx, raw)
	if err != nil {
		return nil, nil, err
	}
	var dir migrate.Dir
	if dialectDir != "" {
		dir, err = migrate.NewLocalDir(dialectDir)
	} else {
		dir, err = database.DirFS(migrations.FS, database.DialectDir(db.Dialect))
	}
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	var opts []database.MigratorOption
	opts = append(opts, database.WithOperatorVersion("keylin "+versionString()))
	if baseline != "" {
		opts = append(opts, database.WithBaseline(baseline))
	}
	m, err := database.NewMigrator(db, dir, opts...)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, m, nil
}
