package database_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/database"
	entmigrate "github.com/keylin/keylin/ent/migrate"
	"github.com/keylin/keylin/ent/migrate/migrations"
	"github.com/keylin/keylin/internal/dbtest"
)

// embedded is keylin's embedded migration folder of dialect d, as an fs.FS
// holding that one folder.
func embedded(t *testing.T, d string) fs.FS {
	t.Helper()
	sub, err := fs.Sub(migrations.FS, database.DialectDir(d))
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// embeddedFiles reads the embedded folder of dialect d with Atlas, for the
// checks on what was recorded.
func embeddedFiles(t *testing.T, d string) ([]migrate.File, migrate.HashFile) {
	t.Helper()
	src := &migrate.MemDir{}
	entries, err := fs.ReadDir(migrations.FS, database.DialectDir(d))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := fs.ReadFile(migrations.FS, path.Join(database.DialectDir(d), e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := src.WriteFile(e.Name(), b); err != nil {
			t.Fatal(err)
		}
	}
	files, err := src.Files()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := src.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	return files, sum
}

func newMigrator(t *testing.T, db *database.DB, fsys fs.FS, opts ...database.MigratorOption) *database.Migrator {
	t.Helper()
	m, err := database.NewMigrator(db, fsys, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// copyDir copies the embedded folder of a dialect, plus extra files, into
// a new fs.FS holding postgres/ or sqlite/, and re-hashes it.
func copyDir(t *testing.T, d string, extra map[string]string) fstest.MapFS {
	t.Helper()
	files, _ := embeddedFiles(t, d)
	body := map[string]string{}
	for _, f := range files {
		body[f.Name()] = string(f.Bytes())
	}
	maps.Copy(body, extra)
	return dialectFS(t, database.DialectDir(d), body)
}

// dialectFS is an fs.FS holding the folder name with the files of body
// and their atlas.sum.
func dialectFS(t *testing.T, name string, body map[string]string) fstest.MapFS {
	t.Helper()
	mem := &migrate.MemDir{}
	fsys := fstest.MapFS{}
	for file, b := range body {
		if err := mem.WriteFile(file, []byte(b)); err != nil {
			t.Fatal(err)
		}
		fsys[path.Join(name, file)] = &fstest.MapFile{Data: []byte(b)}
	}
	sum, err := mem.Checksum()
	if err != nil {
		t.Fatal(err)
	}
	text, err := sum.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	fsys[path.Join(name, migrate.HashFileName)] = &fstest.MapFile{Data: text}
	return fsys
}

func tables(t *testing.T, db *database.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if db.Dialect == dialect.Postgres {
		q = `SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema IN ('public','atlas_schema_revisions') ORDER BY 1`
	}
	rows, err := db.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestApplyIsIdempotent(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Empty(t, d)
		m := newMigrator(t, db, embedded(t, d))
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Current != "" || len(st.Pending) == 0 || st.InSync() {
			t.Fatalf("fresh database status = %+v", st)
		}
		res, err := m.Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Applied) != len(st.Pending) || res.Current == "" {
			t.Fatalf("first apply = %+v, pending were %v", res, st.Pending)
		}
		again, err := m.Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(again.Applied) != 0 || again.Current != res.Current {
			t.Fatalf("second apply = %+v, want nothing applied at %s", again, res.Current)
		}
		st, err = m.Status(ctx)
		if err != nil || !st.InSync() || st.Current != res.Current {
			t.Fatalf("status after apply = %+v, %v", st, err)
		}
		got := strings.Join(tables(t, db), ",")
		for _, want := range []string{"users", "keylin_sessions", "atlas_schema_revisions"} {
			if !strings.Contains(got, want) {
				t.Fatalf("tables = %s, missing %s", got, want)
			}
		}
	})
}

// TestRevisionsTableLayout checks the revisions table has the Atlas CLI's
// columns and location, and the row the CLI would write.
func TestRevisionsTableLayout(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Migrated(t, d)
		table := "atlas_schema_revisions"
		if d == dialect.Postgres {
			table = `"atlas_schema_revisions"."atlas_schema_revisions"`
		}
		var (
			version, desc, hash, op string
			typ, applied, total     int
		)
		row := db.QueryRowContext(ctx, `SELECT version, description, type, applied, total, hash, operator_version FROM `+table)
		if err := row.Scan(&version, &desc, &typ, &applied, &total, &hash, &op); err != nil {
			t.Fatal(err)
		}
		files, sums := embeddedFiles(t, d)
		if version != files[0].Version() || desc != "init" || typ != int(migrate.RevisionTypeExecute) || applied != total || total == 0 || hash == "" {
			t.Fatalf("revision = %s %s type %d applied %d/%d hash %q", version, desc, typ, applied, total, hash)
		}
		if want, _ := sums.SumByName(files[0].Name()); want != hash {
			t.Fatalf("hash %q, want the atlas.sum entry %q", hash, want)
		}
		if d == dialect.Postgres {
			var n int
			err := db.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_schema='atlas_schema_revisions' AND table_name='atlas_schema_revisions'`).Scan(&n)
			if err != nil || n != 12 {
				t.Fatalf("revisions table has %d columns (%v), the CLI's has 12", n, err)
			}
		}
	})
}

func TestTamperedDirectoryRefused(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Empty(t, d)
		dir := copyDir(t, d, nil)
		files, _ := embeddedFiles(t, d)
		// Edit the first migration without re-hashing.
		dir[path.Join(database.DialectDir(d), files[0].Name())].Data = append(files[0].Bytes(), []byte("\n-- sneaky edit\n")...)
		m := newMigrator(t, db, dir)
		_, err := m.Apply(ctx)
		if !errors.Is(err, database.ErrDirChecksum) {
			t.Fatalf("err = %v, want ErrDirChecksum", err)
		}
		if !strings.Contains(err.Error(), "atlas.sum") {
			t.Fatalf("error does not say what is wrong: %v", err)
		}
		if got := tables(t, db); len(got) != 0 {
			t.Fatalf("a tampered directory changed the database: %v", got)
		}
	})
}

// TestFailingStatement: a failing statement is reported with file and
// statement, and the database stays at the last good version: nothing of
// the failing file remains.
func TestFailingStatement(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Empty(t, d)
		m := newMigrator(t, db, embedded(t, d))
		first, err := m.Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bad := copyDir(t, d, map[string]string{
			"29990101000000_broken.sql": "CREATE TABLE good_part (id integer);\nINSERT INTO no_such_table VALUES (1);\n",
		})
		_, err = newMigrator(t, db, bad).Apply(ctx)
		var ae *database.ApplyError
		if !errors.As(err, &ae) {
			t.Fatalf("err = %v, want *ApplyError", err)
		}
		if ae.File != "29990101000000_broken.sql" || !strings.Contains(ae.Statement, "no_such_table") || ae.Current != first.Current {
			t.Fatalf("ApplyError = %+v", ae)
		}
		for _, want := range []string{"29990101000000_broken.sql", "no_such_table", first.Current} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		}
		for _, tb := range tables(t, db) {
			if strings.HasSuffix(tb, "good_part") {
				t.Fatal("the failing file was partly applied")
			}
		}
		st, err := newMigrator(t, db, bad).Status(ctx)
		if err != nil || st.Current != first.Current || len(st.Pending) != 1 {
			t.Fatalf("status = %+v, %v", st, err)
		}
	})
}

// TestUpgradeKeepsData: a database at the older version, with rows, is
// upgraded by a second migration with every row intact.
func TestUpgradeKeepsData(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Migrated(t, d)
		ph := func(n int) string {
			if d == dialect.Postgres {
				return fmt.Sprintf("$%d", n)
			}
			return "?"
		}
		want := map[string]string{}
		for i := range 25 {
			id, email := uuid.New(), fmt.Sprintf("User%02d@Example.com", i)
			want[id.String()] = email
			if _, err := db.ExecContext(ctx, `INSERT INTO users (id, email, hashed_password) VALUES (`+ph(1)+`, `+ph(2)+`, 'x')`, id, email); err != nil {
				t.Fatalf("insert with only the seed's columns: %v", err)
			}
		}
		upgrade := "ALTER TABLE users ADD COLUMN nickname varchar(40) NULL;\nCREATE INDEX users_nickname ON users (nickname);\n"
		if d == dialect.SQLite {
			upgrade = "ALTER TABLE `users` ADD COLUMN `nickname` text NULL;\nCREATE INDEX `users_nickname` ON `users` (`nickname`);\n"
		}
		res, err := newMigrator(t, db, copyDir(t, d, map[string]string{"29990101000000_add_nickname.sql": upgrade})).Apply(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Applied) != 1 || res.Current != "29990101000000" {
			t.Fatalf("apply = %+v", res)
		}
		rows, err := db.QueryContext(ctx, `SELECT id, email, is_active, is_superuser, is_verified, nickname FROM users`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var (
				id, email         string
				act, super, verif bool
				nick              *string
			)
			if err := rows.Scan(&id, &email, &act, &super, &verif, &nick); err != nil {
				t.Fatal(err)
			}
			if !act || super || verif || nick != nil {
				t.Fatalf("row %s lost its defaults: %v %v %v %v", id, act, super, verif, nick)
			}
			got[id] = email
		}
		if len(got) != len(want) {
			t.Fatalf("%d rows after upgrade, want %d", len(got), len(want))
		}
		for id, email := range want {
			if got[id] != email {
				t.Fatalf("row %s: email %q, want %q", id, got[id], email)
			}
		}
	})
}

// TestConcurrentApply: two runs at once never apply a file twice.
func TestConcurrentApply(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Empty(t, d)
		// A second pool on the same database: another keylin process.
		other, err := database.OpenURL(ctx, db.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		var (
			wg      sync.WaitGroup
			results = make([]*database.ApplyResult, 2)
			errs    = make([]error, 2)
		)
		for i, conn := range []*database.DB{db, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = newMigrator(t, conn, embedded(t, d)).Apply(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		files, _ := embeddedFiles(t, d)
		if n := len(results[0].Applied) + len(results[1].Applied); n != len(files) {
			t.Fatalf("files applied %d times in total, want %d (once each)", n, len(files))
		}
	})
}

// TestNoDrift: replaying the committed directory yields exactly the schema
// ent would create, on both dialects.
func TestNoDrift(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		var dev *database.DB
		if d == dialect.SQLite {
			var err error
			if dev, err = database.Open(ctx, "sqlite://:memory:"); err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
		} else {
			dev = dbtest.Empty(t, d)
		}
		stmts, err := database.Drift(ctx, dev, migrations.FS, database.Tables(entmigrate.Tables))
		if err != nil {
			t.Fatal(err)
		}
		if len(stmts) > 0 {
			t.Fatalf("the migration directory drifted from the ent schema; missing:\n%s", strings.Join(stmts, "\n"))
		}
		t.Run("DetectsDrift", func(t *testing.T) {
			// A folder without the last file must show drift.
			files, _ := embeddedFiles(t, d)
			body := map[string]string{}
			for _, f := range files[:len(files)-1] {
				body[f.Name()] = string(f.Bytes())
			}
			stmts, err := database.Drift(ctx, dev, dialectFS(t, database.DialectDir(d), body), database.Tables(entmigrate.Tables))
			if err != nil {
				t.Fatal(err)
			}
			if len(stmts) == 0 {
				t.Fatal("a folder without its last file showed no drift")
			}
		})
	})
}

// TestCaseInsensitiveUniqueEmail: the database itself refuses a second
// row whose email differs only in case, as a Python service would insert.
func TestCaseInsensitiveUniqueEmail(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Migrated(t, d)
		ins := `INSERT INTO users (id, email, hashed_password) VALUES ('%s', '%s', 'x')`
		if _, err := db.ExecContext(ctx, fmt.Sprintf(ins, uuid.New(), "A@x.io")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf(ins, uuid.New(), "a@X.IO")); err == nil {
			t.Fatal("the database accepted a@X.IO next to A@x.io")
		}
	})
}

// TestMigrateOneCall: Migrate takes the directory holding both dialects'
// folders and applies the database's; a second call applies nothing.
func TestMigrateOneCall(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Empty(t, d)
		res, err := database.Migrate(ctx, db, migrations.FS)
		if err != nil {
			t.Fatal(err)
		}
		files, _ := embeddedFiles(t, d)
		if len(res.Applied) != len(files) || res.Current != files[len(files)-1].Version() {
			t.Fatalf("Migrate = %+v, want the %d files of %s", res, len(files), database.DialectDir(d))
		}
		again, err := database.Migrate(ctx, db, migrations.FS)
		if err != nil || len(again.Applied) != 0 || again.Current != res.Current {
			t.Fatalf("second Migrate = %+v, %v", again, err)
		}
	})
}

// TestMigrateDirFromDisk: a single dialect's folder on disk, with a name
// that says nothing (so its files tell its dialect), as an application
// keeps it.
func TestMigrateDirFromDisk(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		tmp := t.TempDir()
		files, sum := embeddedFiles(t, d)
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(tmp, f.Name()), f.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		b, _ := sum.MarshalText()
		if err := os.WriteFile(filepath.Join(tmp, migrate.HashFileName), b, 0o644); err != nil {
			t.Fatal(err)
		}
		db := dbtest.Empty(t, d)
		m := newMigrator(t, db, os.DirFS(tmp))
		if m.Dir() != "." {
			t.Fatalf("Dir() = %q, want the root", m.Dir())
		}
		pending, err := m.Pending(ctx)
		if err != nil || len(pending) != len(files) {
			t.Fatalf("Pending = %v, %v", pending, err)
		}
		if _, err := m.Apply(ctx); err != nil {
			t.Fatal(err)
		}
		if pending, err := m.Pending(ctx); err != nil || len(pending) != 0 {
			t.Fatalf("Pending after Apply = %v, %v", pending, err)
		}
	})
}

// TestPendingWithBaseline: with a baseline, the files after it are
// pending, and Pending writes nothing.
func TestPendingWithBaseline(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Empty(t, dialect.SQLite)
	files, _ := embeddedFiles(t, dialect.SQLite)
	m := newMigrator(t, db, migrations.FS, database.WithBaseline(files[0].Version()))
	pending, err := m.Pending(ctx)
	if err != nil || len(pending) != len(files)-1 || pending[0] != files[1].Name() {
		t.Fatalf("Pending = %v, %v", pending, err)
	}
	if got := tables(t, db); len(got) != 0 {
		t.Fatalf("Pending changed the database: %v", got)
	}
	_, err = newMigrator(t, db, migrations.FS, database.WithBaseline("19990101000000")).Pending(ctx)
	if err == nil || !strings.Contains(err.Error(), "19990101000000") {
		t.Fatalf("unknown baseline: %v", err)
	}
}

// TestDialectMismatch: applying one dialect's folder to the other
// dialect's database fails before touching it, naming the folder and both
// dialects — whether the folder's name tells or its files do.
func TestDialectMismatch(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		other := dialect.Postgres
		if d == dialect.Postgres {
			other = dialect.SQLite
		}
		names := map[string]string{dialect.Postgres: "PostgreSQL", dialect.SQLite: "SQLite"}
		db := dbtest.Empty(t, d)
		check := func(t *testing.T, err error, want ...string) {
			t.Helper()
			if !errors.Is(err, database.ErrDialectMismatch) {
				t.Fatalf("err = %v, want ErrDialectMismatch", err)
			}
			for _, w := range append(want, names[other], names[d]) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if got := tables(t, db); len(got) != 0 {
				t.Fatalf("a mismatched folder changed the database: %v", got)
			}
		}
		t.Run("FolderName", func(t *testing.T) {
			_, err := database.Migrate(context.Background(), db, migrations.FS, database.WithDir(database.DialectDir(other)))
			check(t, err, `"`+database.DialectDir(other)+`"`, "by its name")
		})
		t.Run("Files", func(t *testing.T) {
			// The folder is the root of fsys: only its files tell.
			_, err := database.NewMigrator(db, embedded(t, other))
			check(t, err, "quotes identifiers with")
		})
		t.Run("FilesUnderAnotherName", func(t *testing.T) {
			files, _ := embeddedFiles(t, other)
			body := map[string]string{}
			for _, f := range files {
				body[f.Name()] = string(f.Bytes())
			}
			_, err := database.NewMigrator(db, dialectFS(t, "db/changes", body), database.WithDir("db/changes"))
			check(t, err, `"db/changes"`, files[0].Name())
		})
		t.Run("OnlyTheOtherFolder", func(t *testing.T) {
			_, err := database.NewMigrator(db, copyDir(t, other, nil))
			check(t, err, database.DialectDir(other)+"/")
		})
		t.Run("Drift", func(t *testing.T) {
			_, err := database.Drift(context.Background(), db, embedded(t, other), database.Tables(entmigrate.Tables))
			check(t, err)
		})
	})
}

func TestNoMigrations(t *testing.T) {
	db := dbtest.Empty(t, dialect.SQLite)
	_, err := database.NewMigrator(db, fstest.MapFS{"README": &fstest.MapFile{Data: []byte("x")}})
	if !errors.Is(err, database.ErrNoMigrations) {
		t.Fatalf("err = %v, want ErrNoMigrations", err)
	}
	if _, err := database.NewMigrator(db, migrations.FS, database.WithDir("../x")); err == nil {
		t.Fatal("WithDir accepted a path outside fsys")
	}
}

// TestStatusIgnoresAtlasCLIBookkeeping: the Atlas CLI writes a row of its
// own (.atlas_cloud_identifiers) into the revisions table; status and
// apply must not take it for a migration.
func TestStatusIgnoresAtlasCLIBookkeeping(t *testing.T) {
	dbtest.Run(t, func(t *testing.T, d string) {
		ctx := context.Background()
		db := dbtest.Migrated(t, d)
		table := "atlas_schema_revisions"
		if d == dialect.Postgres {
			table = `"atlas_schema_revisions"."atlas_schema_revisions"`
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO `+table+` (version, description, type, applied, total, executed_at, execution_time, hash, operator_version) `+
			`VALUES ('.atlas_cloud_identifiers', 'a1b2c3', 2, 0, 0, CURRENT_TIMESTAMP, 0, '', 'Atlas CLI v0.32.0')`); err != nil {
			t.Fatal(err)
		}
		m := newMigrator(t, db, embedded(t, d))
		st, err := m.Status(ctx)
		if err != nil || !st.InSync() {
			t.Fatalf("status = %+v, %v", st, err)
		}
		if res, err := m.Apply(ctx); err != nil || len(res.Applied) != 0 {
			t.Fatalf("apply = %+v, %v", res, err)
		}
	})
}

// TestSQLiteRebuildKeepsReferencingRows: Atlas rebuilds a SQLite table to
// alter it (PRAGMA foreign_keys = off; create, copy, drop, rename). Rows of
// other tables referencing users, with ON DELETE CASCADE, must survive.
func TestSQLiteRebuildKeepsReferencingRows(t *testing.T) {
	ctx := context.Background()
	db := dbtest.Migrated(t, dialect.SQLite)
	orders := copyDir(t, dialect.SQLite, map[string]string{
		"29990101000000_orders.sql": "CREATE TABLE `orders` (`id` integer NOT NULL PRIMARY KEY, `user_id` uuid NOT NULL REFERENCES `users` (`id`) ON DELETE CASCADE);\n",
	})
	if _, err := newMigrator(t, db, orders).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if _, err := db.ExecContext(ctx, "INSERT INTO users (id, email, hashed_password) VALUES (?, 'o@example.com', 'x')", id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO orders (id, user_id) VALUES (1, ?)", id); err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{}
	for name, f := range orders {
		if strings.HasSuffix(name, ".sql") {
			extra[path.Base(name)] = string(f.Data)
		}
	}
	// The rebuild as Atlas writes it: the users table under a new name, copy,
	// drop, rename.
	var create string
	if err := db.QueryRowContext(ctx, "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'users'").Scan(&create); err != nil {
		t.Fatal(err)
	}
	// SQLite keeps the table's name as the rename that made it wrote it.
	create = strings.Replace(strings.Replace(create, `"users"`, "`new_users`", 1), "`users`", "`new_users`", 1)
	extra["29990102000000_rebuild.sql"] = "PRAGMA foreign_keys = off;\n" + create + ";\n" +
		"INSERT INTO `new_users` SELECT * FROM `users`;\n" +
		"DROP TABLE `users`;\n" +
		"ALTER TABLE `new_users` RENAME TO `users`;\n" +
		"PRAGMA foreign_keys = on;\n"
	if _, err := newMigrator(t, db, copyDir(t, dialect.SQLite, extra)).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 1 {
		t.Fatalf("orders after rebuilding users: %d (%v), want 1", n, err)
	}
	var fk int
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign keys left off: %d %v", fk, err)
	}
	t.Run("ViolationRefused", func(t *testing.T) {
		extra["29990103000000_orphan.sql"] = "INSERT INTO `orders` (`id`, `user_id`) VALUES (2, 'no-such-user');\n"
		_, err := newMigrator(t, db, copyDir(t, dialect.SQLite, extra)).Apply(ctx)
		var ae *database.ApplyError
		if !errors.As(err, &ae) || !strings.Contains(err.Error(), "foreign key") {
			t.Fatalf("err = %v", err)
		}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM orders").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the violating file was applied: %d orders", n)
		}
	})
}
