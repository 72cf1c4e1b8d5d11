package database

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	entschema "entgo.io/ent/dialect/sql/schema"

	"github.com/keylin/keylin/ent/entkeylin"
)

// Diff writes the next migration file, named name, into dir: the changes
// that bring a database built by replaying dir to the schema of tables (an
// ent package's migrate.Tables). dev must be an empty scratch database of
// the directory's dialect (an in-memory SQLite, a throwaway PostgreSQL
// database); it is left empty. It returns the name of the file written, or
// "" when the directory is already up to date.
func Diff(ctx context.Context, dev *DB, dir migrate.Dir, name string, tables []*entschema.Table) (string, error) {
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

// Drift replays dir on the scratch database dev and compares the result
// with the schema of tables. It returns the statements that would still be
// needed: none means the directory yields exactly the schema ent would
// create. dir is not modified.
func Drift(ctx context.Context, dev *DB, dir migrate.Dir, tables []*entschema.Table) ([]string, error) {
	files, err := dir.Files()
	if err != nil {
		return nil, err
	}
	scratch := &migrate.MemDir{}
	for _, f := range files {
		if err := scratch.WriteFile(f.Name(), f.Bytes()); err != nil {
			return nil, err
		}
	}
	sum, err := dir.Checksum()
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
// dialect.SQLite) into root/<DialectDir(d)>, creating the directory if
// needed. The SQLite scratch database lives in memory; the PostgreSQL one
// is a throwaway database on the server devPostgresURL names. It returns
// the file written, or "" when nothing changed.
func DiffDir(ctx context.Context, d, root, devPostgresURL, name string, tables []*entschema.Table) (string, error) {
	p := filepath.Join(root, DialectDir(d))
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", err
	}
	dir, err := migrate.NewLocalDir(p)
	if err != nil {
		return "", err
	}
	var (
		dev  *DB
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
	return Diff(ctx, dev, dir, name, tables)
}
