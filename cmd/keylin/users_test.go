package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/internal/dbtest"
)

// runWithStdin runs the CLI with stdin and returns code and output.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// cheapEnv points keylin at dbURL with fast hashing parameters and a
// JWT_SECRET, as serve needs.
func cheapEnv(t *testing.T, dbURL string) {
	t.Helper()
	usersEnv(t, dbURL)
	t.Setenv("JWT_SECRET", "users-cli-test-secret-0123456789abcdef")
}

// usersEnv points keylin at dbURL with fast hashing parameters, and no
// JWT_SECRET: the users commands do not need one.
func usersEnv(t *testing.T, dbURL string) {
	t.Helper()
	t.Chdir(t.TempDir()) // no .env from the repository
	t.Setenv("JWT_SECRET", "")
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("HASH_MEMORY_KIB", "19456")
	t.Setenv("HASH_ITERATIONS", "2")
	t.Setenv("HASH_PARALLELISM", "1")
}

func TestUsersCommands(t *testing.T) {
	pg := dbtest.Empty(t, "postgres")
	pgURL, _ := url.Parse(pg.URL.DSN)
	for name, u := range map[string]string{
		"sqlite":   "sqlite:///" + filepath.Join(t.TempDir(), "users.db"),
		"postgres": pgURL.String(),
	} {
		t.Run(name, func(t *testing.T) {
			usersEnv(t, u)
			if name == "postgres" {
				if code, out, errOut := runCLI(t, "migrate", "apply"); code != 0 {
					t.Fatalf("migrate: %s%s", out, errOut)
				}
			}
			code, out, errOut := runWithStdin(t, "a good admin passphrase\n", "users", "create", "--email", "Admin@Example.com", "--superuser", "--verified", "--full-name", "Ada Admin")
			if code != 0 || !strings.Contains(out, "<Admin@example.com> superuser=true verified=true active=true") {
				t.Fatalf("create: %d %s%s", code, out, errOut)
			}
			code, _, errOut = runWithStdin(t, "another passphrase\n", "users", "create", "--email", "admin@example.com")
			if code != 1 || !strings.Contains(errOut, "exists already") {
				t.Fatalf("duplicate: %d %s", code, errOut)
			}
			code, _, errOut = runWithStdin(t, "short\n", "users", "create", "--email", "x@example.com")
			if code != 1 || !strings.Contains(errOut, "password refused") || strings.Contains(errOut, "short\n") {
				t.Fatalf("weak password: %d %s", code, errOut)
			}
			code, _, errOut = runWithStdin(t, "", "users", "create", "--email", "y@example.com")
			if code != 1 || !strings.Contains(errOut, "no password on stdin") {
				t.Fatalf("empty stdin: %d %s", code, errOut)
			}
			code, out, _ = runWithStdin(t, "", "users", "list")
			if code != 0 || !strings.Contains(out, "Admin@example.com") || !strings.Contains(out, "Ada Admin") || !strings.Contains(out, "1 of 1 users") {
				t.Fatalf("list: %d %s", code, out)
			}
			code, out, errOut = runWithStdin(t, "a changed passphrase\n", "users", "set-password", "--email", "ADMIN@example.com")
			if code != 0 || !strings.Contains(out, "password set") {
				t.Fatalf("set-password: %d %s%s", code, out, errOut)
			}
			code, _, errOut = runWithStdin(t, "a changed passphrase\n", "users", "set-password", "--email", "nobody@example.com")
			if code != 1 || !strings.Contains(errOut, "no user") {
				t.Fatalf("set-password unknown: %d %s", code, errOut)
			}
		})
	}
}

// TestUsersCreateWithOnlyDatabaseURL: users create needs DATABASE_URL
// and nothing else — no JWT_SECRET, the hashing at its defaults.
func TestUsersCreateWithOnlyDatabaseURL(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, k := range []string{"JWT_SECRET", "RESET_PASSWORD_SECRET", "VERIFICATION_SECRET", "HASH_MEMORY_KIB", "HASH_ITERATIONS", "HASH_PARALLELISM", "MAIL_URL", "ALLOWED_ORIGINS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("DATABASE_URL", "sqlite:///"+filepath.Join(t.TempDir(), "only-url.db"))
	code, out, errOut := runWithStdin(t, "a good admin passphrase\n", "users", "create", "--email", "root@example.com", "--superuser")
	if code != 0 || !strings.Contains(out, "<root@example.com> superuser=true") {
		t.Fatalf("create: %d %s%s", code, out, errOut)
	}
	// A setting the users commands read is still checked, by name.
	t.Setenv("HASH_ITERATIONS", "1")
	code, _, errOut = runWithStdin(t, "", "users", "list")
	if code != 1 || !strings.Contains(errOut, "HASH_ITERATIONS") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("bad HASH_ITERATIONS: %d %q", code, errOut)
	}
	// One they do not read is not.
	t.Setenv("HASH_ITERATIONS", "")
	t.Setenv("ALLOWED_ORIGINS", "*")
	if code, out, errOut := runWithStdin(t, "", "users", "list"); code != 0 || !strings.Contains(out, "1 of 1 users") {
		t.Fatalf("list with an invalid serving setting: %d %s%s", code, out, errOut)
	}
}

// TestUsersSettingsMatchConfig: each setting the users commands read is
// config.Settings' field of the same name, with the same variable and
// default.
func TestUsersSettingsMatchConfig(t *testing.T) {
	us := reflect.TypeFor[usersSettings]()
	cs := reflect.TypeFor[config.Settings]()
	for i := range us.NumField() {
		f := us.Field(i)
		c, ok := cs.FieldByName(f.Name)
		if !ok {
			t.Errorf("config.Settings has no field %s", f.Name)
			continue
		}
		if f.Tag.Get("env") != c.Tag.Get("env") || f.Type != c.Type {
			t.Errorf("%s: %s %q, config.Settings has %s %q", f.Name, f.Type, f.Tag.Get("env"), c.Type, c.Tag.Get("env"))
		}
	}
}

// TestUsersOnApplicationDatabase: the users commands work on the database
// of an application that owns its schema (examples/extend, migrated with
// its own folder): its users table has keylin's columns and its own, which
// get their defaults; keylin's migrations are not applied to it.
func TestUsersOnApplicationDatabase(t *testing.T) {
	appDir, err := filepath.Abs(filepath.Join("..", "..", "examples", "extend", "ent", "migrate", "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"sqlite", "postgres"} {
		t.Run(d, func(t *testing.T) {
			var db *database.DB
			u := "sqlite:///" + filepath.Join(t.TempDir(), "app.db")
			if d == "postgres" {
				db = dbtest.Empty(t, d)
				pgURL, _ := url.Parse(db.URL.DSN)
				u = pgURL.String()
			} else {
				var err error
				if db, err = database.Open(context.Background(), u); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
			}
			usersEnv(t, u)
			if code, out, errOut := runCLI(t, "migrate", "apply", "--dir", appDir); code != 0 || !strings.Contains(out, "add_orders") {
				t.Fatalf("apply the application's migrations: %d %s%s", code, out, errOut)
			}
			history := func() string {
				t.Helper()
				code, out, errOut := runCLI(t, "migrate", "status", "--dir", appDir)
				if code != 0 || !strings.Contains(out, "in sync: yes") {
					t.Fatalf("status: %d %s%s", code, out, errOut)
				}
				return out
			}
			before := history()

			code, out, errOut := runWithStdin(t, "a good admin passphrase\n", "users", "create", "--email", "Boss@Example.com", "--superuser", "--full-name", "The Boss")
			if code != 0 || !strings.Contains(out, "<Boss@example.com> superuser=true") {
				t.Fatalf("create: %d %s%s", code, out, errOut)
			}
			code, out, errOut = runWithStdin(t, "", "users", "list")
			if code != 0 || !strings.Contains(out, "Boss@example.com") || !strings.Contains(out, "The Boss") || !strings.Contains(out, "1 of 1 users") {
				t.Fatalf("list: %d %s%s", code, out, errOut)
			}
			code, out, errOut = runWithStdin(t, "a changed passphrase\n", "users", "set-password", "--email", "boss@example.com")
			if code != 0 || !strings.Contains(out, "password set") {
				t.Fatalf("set-password: %d %s%s", code, out, errOut)
			}
			// The application's columns got their defaults.
			var role string
			var note *string
			if err := db.QueryRowContext(context.Background(), "SELECT role, internal_note FROM users").Scan(&role, &note); err != nil {
				t.Fatal(err)
			}
			if role != "member" || note != nil {
				t.Fatalf("role %q, internal_note %v: want the defaults", role, note)
			}
			if after := history(); after != before {
				t.Fatalf("the users commands changed the migration history:\n%s\nthen\n%s", before, after)
			}
		})
	}
}
