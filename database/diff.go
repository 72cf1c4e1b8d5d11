package database

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"

	"github.com/keylin/keylin/ent/entkeylin"
)

// Schema is an ent schema: what [Diff] writes migrations for and [Drift]
// compares them with. Two kinds of value have its method:
//
//   - the graph [entc.LoadGraph] loads from a schema package
//     (*gen.Graph), which is what `keylin migrate diff --schema DIR` uses;
//   - an ent package's generated tables, as [Tables](migrate.Tables).
//
// The tables are ent's (entgo.io/ent/dialect/sql/schema), not Atlas's:
// they are what ent's code generation produces, and all Diff and Drift
// need. keylin's [entkeylin.MigrateOptions] (the unique index on
// lower(email)) are added to every schema.
//
// [entc.LoadGraph]: https://pkg.go.dev/entgo.io/ent/entc#LoadGraph
type Schema interface {
	Tables() ([]*entschema.Table, error)
}

// Tables is the generated migrate.Tables of an ent package as a [Schema]:
//
//	stmts, err := database.Drift(ctx, dev, migrations.FS, database.Tables(migrate.Tables))
type Tables []*entschema.Table

// Tables returns t.
func (t Tables) Tables() ([]*entschema.Table, error) { return t, nil }

// Diff writes the next migration file, named name, into root's folder for
// the dialect of dev (root/postgres or root/sqlite, created if missing):
// the changes that bring a database built by replaying that folder to
// schema, with its atlas.sum updated. dev must be an empty scratch
// database (an in-memory SQLite, a throwaway PostgreSQL database); it is
// left empty. Diff returns the name of the file written, or "" when the
// folder is up to date.
func Diff(ctx context.Context, dev *DB, root, name string, schema Schema) (string, error) {
	tables, err := schema.Tables()
	if err != nil {
		return "", fmt.Errorf("database: diff: load the schema: %w", err)
	}
	p := filepath.Join(root, DialectDir(dev.Dialect))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	dir, err := migrate.NewLocalDir(p)
	if err != nil {
		return "", err
	}
	before, err := dir.Files()
	if err != nil {
		return "", err
	}
	if err := diff(ctx, dev, dir, name, tables); err != nil {
		if errors.Is(err, migrate.ErrNoPlan) {
			return "", nil
		}
		return "", err
	}
	after, err := dir.Files()
	if err != nil {
		return "", err
	}
	if len(after) == len(before) {
		return "", nil
	}
	return after[len(after)-1].Name(), nil
}

// Drift replays the migrations of fsys on the scratch database dev and
// compares the result with schema. It returns the statements that would
// still be needed: none means the migrations yield exactly the schema ent
// would create. fsys is read as by [NewMigrator] (a directory holding
// postgres/ and sqlite/, of which dev's is taken, or one dialect's
// folder), and a folder for another dialect is an error wrapping
// [ErrDialectMismatch]. dev must be empty and is left empty.
//
// An application's test that its committed migrations keep up with its
// ent schema:
//
//	stmts, err := database.Drift(ctx, dev, migrations.FS, database.Tables(migrate.Tables))
//	if len(stmts) > 0 { t.Fatalf("run keylin migrate diff; missing:\n%s", strings.Join(stmts, "\n")) }
func Drift(ctx context.Context, dev *DB, fsys fs.FS, schema Schema) ([]string, error) {
	tables, err := schema.Tables()
	if err != nil {
		return nil, fmt.Errorf("database: drift: load the schema: %w", err)
	}
	src, err := readMigrationDir(fsys, "", dev.Dialect, dev.URL.Redacted)
	if err != nil {
		return nil, err
	}
	files, err := src.mem.Files()
	if err != nil {
		return nil, err
	}
	if err := migrate.Validate(src.mem); err != nil {
		return nil, dirError(err)
	}
	// Write the drift file into a copy: src stays as read.
	scratch := &migrate.MemDir{}
	for _, f := range files {
		if err := scratch.WriteFile(f.Name(), f.Bytes()); err != nil {
			return nil, err
		}
	}
	sum, err := src.mem.Checksum()
	if err != nil {
		return nil, dirError(err)
	}
	if err := migrate.WriteSumFile(scratch, sum); err != nil {
		return nil, err
	}
	err = diff(ctx, dev, scratch, "drift", tables)
	switch {
	case errors.Is(err, migrate.ErrNoPlan):
		return nil, nil
	case err != nil:
		return nil, err
	}
	after, err := scratch.Files()
	if err != nil {
		return nil, err
	}
	var stmts []string
	for _, f := range after[len(files):] {
		for _, s := range strings.Split(string(f.Bytes()), "\n") {
			if s = strings.TrimSpace(s); s != "" && !strings.HasPrefix(s, "--") {
				stmts = append(stmts, s)
			}
		}
	}
	return stmts, nil
}

func diff(ctx context.Context, dev *DB, dir migrate.Dir, name string, tables []*entschema.Table) error {
	opts := append([]entschema.MigrateOption{
		entschema.WithDir(dir),
		entschema.WithMigrationMode(entschema.ModeReplay),
		entschema.WithDialect(dev.Dialect),
		entschema.WithFormatter(migrate.DefaultFormatter),
		entschema.WithErrNoPlan(true),
	}, entkeylin.MigrateOptions(dev.Dialect)...)
	m, err := entschema.NewMigrate(dev.Driver(), opts...)
	if err != nil {
		return fmt.Errorf("database: diff: %w", err)
	}
	if err := m.NamedDiff(ctx, name, tables...); err != nil {
		if errors.Is(err, migrate.ErrNoPlan) {
			return err
		}
		return fmt.Errorf("database: diff %s: %w", DialectDir(dev.Dialect), err)
	}
	return nil
}

// DiffDir is [Diff] with its scratch database made and removed here: it
// writes the next migration named name for dialect d (dialect.Postgres or
// dialect.SQLite) into root/<DialectDir(d)>, creating the folder if
// needed. The SQLite scratch database lives in memory; the PostgreSQL one
// is a throwaway database on the server devPostgresURL names. It returns
// the file written, or "" when nothing changed.
func DiffDir(ctx context.Context, d, root, devPostgresURL, name string, schema Schema) (string, error) {
	var (
		dev  *DB
		err  error
		drop = func(context.Context) error { return nil }
	)
	switch d {
	case dialect.SQLite:
		dev, err = Open(ctx, "sqlite://:memory:")
	case dialect.Postgres:
		dev, drop, err = CreateTempPostgres(ctx, devPostgresURL, "keylin_dev")
	default:
		return "", fmt.Errorf("database: no migrations for dialect %q", d)
	}
	if err != nil {
		return "", fmt.Errorf("database: scratch database for %s: %w", DialectDir(d), err)
	}
	defer func() {
		_ = drop(context.WithoutCancel(ctx))
		dev.Close()
	}()
	return Diff(ctx, dev, root, name, schema)
}
