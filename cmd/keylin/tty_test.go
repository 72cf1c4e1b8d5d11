package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets a test run the command line as its own process (under a
// pseudo-terminal, for the password prompt) by re-executing the test binary.
func TestMain(m *testing.M) {
	if os.Getenv("KEYLIN_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestPasswordPromptOnTerminal: on a terminal the password is asked twice,
// without echo; two different answers are refused.
func TestPasswordPromptOnTerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Skip("util-linux script is not installed; no pseudo-terminal to test with")
	}
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	run := func(t *testing.T, email string, answers ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, scriptBin, "-q", "-e", "-c", self+" users create --email "+email, "/dev/null")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "KEYLIN_TEST_RUN_MAIN=1", "JWT_SECRET=tty-test-secret-0123456789abcdef0123",
			"DATABASE_URL=sqlite:///"+filepath.Join(dir, "tty.db"), "HASH_MEMORY_KIB=19456", "HASH_ITERATIONS=2", "HASH_PARALLELISM=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		prompts := []string{"Password:", "Repeat:"}
		for i, a := range answers {
			// Answer once the prompt is out; the echo goes off right after it.
			for !strings.Contains(out.String(), prompts[i]) {
				if ctx.Err() != nil {
					t.Fatalf("no %q prompt:\n%s", prompts[i], out.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
			if _, err := stdin.Write([]byte(a + "\n")); err != nil {
				t.Fatal(err)
			}
		}
		_ = cmd.Wait()
		stdin.Close()
		return out.String()
	}
	t.Run("Created", func(t *testing.T) {
		out := run(t, "tty@example.com", "a typed passphrase", "a typed passphrase")
		if !strings.Contains(out, "Password:") || !strings.Contains(out, "Repeat:") || !strings.Contains(out, "created user") {
			t.Fatalf("output:\n%s", out)
		}
		if strings.Contains(out, "a typed passphrase") {
			t.Fatalf("the password was echoed:\n%s", out)
		}
	})
	t.Run("Mismatch", func(t *testing.T) {
		out := run(t, "tty2@example.com", "a typed passphrase", "another passphrase")
		if !strings.Contains(out, "the two passwords differ") || strings.Contains(out, "created user") {
			t.Fatalf("output:\n%s", out)
		}
	})
}
