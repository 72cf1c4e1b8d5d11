package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keylin/keylin/ent/migrate/migrations"
	"github.com/keylin/keylin/internal/dbtest"
)

// runCLI runs the command line in-process and returns exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpAndUsage(t *testing.T) {
	cases := []struct {
		args     []string
		code     int
		contains string
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "migrate"},
		{[]string{"migrate", "--help"}, 0, "status"},
		{[]string{"migrate", "apply", "--help"}, 0, "--dialect-dir"},
		{[]string{"migrate", "apply", "--help"}, 0, "-dir DIR"},
		{[]string{"migrate", "diff", "--help"}, 0, "without --schema, keylin's own"},
		{[]string{"migrate", "diff", "--help"}, 0, "--schema ./ent/schema --dir ./ent/migrate/migrations"},
		{[]string{"migrate", "--help"}, 0, "not JWT_SECRET"},
		{[]string{"users", "create", "--help"}, 0, "HASH_MEMORY_KIB"},
		{[]string{"users", "--help"}, 0, "not\nJWT_SECRET"},
		{[]string{"migrate", "status", "-h"}, 0, "-url"},
		{[]string{"version"}, 0, "keylin "},
		{[]string{"nope"}, 2, "unknown command"},
		{[]string{"migrate", "apply", "--no-such-flag"}, 2, "no-such-flag"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			code, out, errOut := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(out+errOut, c.contains) {
				t.Fatalf("exit %d (want %d), output:\n%s%s", code, c.code, out, errOut)
			}
		})
	}
}

func TestMigrateApplyAndStatus(t *testing.T) {
	pg := dbtest.Empty(t, "postgres")
	pgURL, err := url.Parse(pg.URL.DSN)
	if err != nil {
		t.Fatal(err)
	}
	urls := map[string]string{
		"sqlite":   "sqlite:///" + filepath.Join(t.TempDir(), "k.db"),
		"postgres": pgURL.String(),
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "migrate", "status", "--url", u)
			if code != 0 || !strings.Contains(out, "current version: none") || !strings.Contains(out, "in sync: no") {
				t.Fatalf("status before: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = runCLI(t, "migrate", "apply", "--url", u)
			if code != 0 || !strings.Contains(out, "applied ") || !strings.Contains(out, "is now at version") {
				t.Fatalf("apply: %d\n%s%s", code, out, errOut)
			}
			code, out, _ = runCLI(t, "migrate", "apply", "--url", u)
			if code != 0 || !strings.Contains(out, "no pending migrations") || strings.Contains(out, "applied ") {
				t.Fatalf("second apply: %d\n%s", code, out)
			}
			code, out, _ = runCLI(t, "migrate", "status", "--url", u)
			if code != 0 || !strings.Contains(out, "pending: 0") || !strings.Contains(out, "in sync: yes") {
				t.Fatalf("status after: %d\n%s", code, out)
			}
		})
	}
}

func TestErrorsAreOneLineWithoutPassword(t *testing.T) {
	for _, u := range []string{
		"postgres://keylin:hunter2-secret@127.0.0.1:1/app?sslmode=disable",
		"mysql://keylin:hunter2-secret@db/app",
	} {
		code, out, errOut := runCLI(t, "migrate", "apply", "--url", u)
		if code != 1 || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
		if strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "keylin: ") {
			t.Fatalf("want one line on stderr, got %q", errOut)
		}
		if strings.Contains(errOut, "hunter2-secret") {
			t.Fatalf("password in the error: %q", errOut)
		}
	}
}

func TestMigrateTamperedDialectDir(t *testing.T) {
	dir := t.TempDir()
	files, err := fs.ReadDir(migrations.FS, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		b, _ := fs.ReadFile(migrations.FS, "sqlite/"+f.Name())
		if strings.HasSuffix(f.Name(), ".sql") {
			b = append(b, fmt.Appendf(nil, "\nCREATE TABLE sneaky%d (id integer);\n", i)...)
		}
		if err := os.WriteFile(filepath.Join(dir, f.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	db := "sqlite:///" + filepath.Join(t.TempDir(), "k.db")
	code, _, errOut := runCLI(t, "migrate", "apply", "--url", db, "--dialect-dir", dir)
	if code != 1 || !strings.Contains(errOut, "atlas.sum") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	// After re-hashing (an intended edit), the directory applies.
	root := t.TempDir()
	if err := os.Rename(dir, filepath.Join(root, "sqlite")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "postgres"), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, "migrate", "hash", "--dir", root); code != 0 {
		t.Fatalf("hash: %d %s%s", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, "migrate", "apply", "--url", db, "--dialect-dir", filepath.Join(root, "sqlite")); code != 0 || !strings.Contains(out, "applied") {
		t.Fatalf("apply after re-hash: %d %s%s", code, out, errOut)
	}
}

// TestMigrateDialectMismatch: the postgres folder on a SQLite database is
// refused before anything runs, in one line naming the folder and both
// dialects, not with a parse error.
func TestMigrateDialectMismatch(t *testing.T) {
	pgDir, err := filepath.Abs(filepath.Join("..", "..", "ent", "migrate", "migrations", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	// The same files under a name that says nothing: they tell.
	renamed := filepath.Join(t.TempDir(), "changes")
	if err := os.CopyFS(renamed, os.DirFS(pgDir)); err != nil {
		t.Fatal(err)
	}
	db := "sqlite:///" + filepath.Join(t.TempDir(), "k.db")
	for _, c := range []struct{ dir, want string }{
		{pgDir, `"postgres" is for PostgreSQL (by its name)`},
		{renamed, `"changes" is for PostgreSQL (`},
	} {
		code, out, errOut := runCLI(t, "migrate", "apply", "--url", db, "--dialect-dir", c.dir)
		if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Fatalf("exit %d: %s%s", code, out, errOut)
		}
		for _, w := range []string{c.want, "the database " + db + " is SQLite"} {
			if !strings.Contains(errOut, w) {
				t.Errorf("%q does not say %q", errOut, w)
			}
		}
		if strings.Contains(errOut, "syntax") || strings.Contains(errOut, "near") {
			t.Errorf("a parse error: %s", errOut)
		}
	}
	code, out, errOut := runCLI(t, "migrate", "status", "--url", db)
	if code != 0 || !strings.Contains(out, "current version: none") {
		t.Fatalf("the refused folder touched the database: %d %s%s", code, out, errOut)
	}
}

// TestMigrateDiffSchema: --schema loads a schema package with entc; for
// keylin's own schema it writes what the built-in tables write.
func TestMigrateDiffSchema(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the schema package")
	}
	root := t.TempDir()
	code, out, errOut := runCLI(t, "migrate", "diff", "--schema", "../../ent/schema", "--dir", root, "--dialect", "sqlite", "init")
	if code != 0 || !strings.Contains(out, "schema: ../../ent/schema (github.com/keylin/keylin/ent/schema)") || !strings.Contains(out, "sqlite: wrote ") {
		t.Fatalf("diff --schema: %d %s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "sqlite", "atlas.sum")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(".entc"); !os.IsNotExist(err) {
		t.Fatalf("entc's scratch directory was left behind: %v", err)
	}
	code, out, errOut = runCLI(t, "migrate", "diff", "--dir", root, "--dialect", "sqlite", "again")
	if code != 0 || !strings.Contains(out, "schema: keylin's own") || !strings.Contains(out, "sqlite: no changes") {
		t.Fatalf("the built-in schema differs from the loaded one: %d %s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "migrate", "diff", "--schema", "./no/such/schema", "--dir", root, "--dialect", "sqlite", "x")
	if code != 1 || !strings.Contains(errOut, "no/such/schema") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("missing schema: %d %s%s", code, out, errOut)
	}
}
