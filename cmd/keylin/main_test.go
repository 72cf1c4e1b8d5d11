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
