package main

import (
	"bytes"
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keylin/keylin/internal/dbtest"
)

// runWithStdin runs the CLI with stdin and returns code and output.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// cheapEnv points keylin at dbURL with fast hashing parameters.
func cheapEnv(t *testing.T, dbURL string) {
	t.Helper()
	t.Chdir(t.TempDir()) // no .env from the repository
	t.Setenv("JWT_SECRET", "users-cli-test-secret-0123456789abcdef")
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
			cheapEnv(t, u)
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

func TestMissingJWTSecret(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("JWT_SECRET", "")
	code, _, errOut := runWithStdin(t, "pw-pw-pw-pw\n", "users", "list")
	if code != 1 || !strings.Contains(errOut, "JWT_SECRET") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}
