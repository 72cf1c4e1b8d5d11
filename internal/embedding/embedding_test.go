// Package embedding holds the test of the README's "Embedding keylin in
// your application": it builds a module outside the repository from that
// section's steps alone — its shell commands run as written, its files
// written as shown — and runs the application's flows on SQLite and
// PostgreSQL. It has no non-test code.
package embedding

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/internal/dbtest"
)

const (
	section  = "## Embedding keylin in your application"
	secret   = "embedding-test-jwt-secret-0123456789abcdef"
	password = "embedding test passphrase"
)

// step is one code block of the section: a file to write, or commands.
type step struct {
	file     string // path for a Go block, "" for a shell block
	body     string
	commands []string
}

// steps reads the section's code blocks, in order.
func steps(t *testing.T, readme string) []step {
	t.Helper()
	i := strings.Index(readme, "\n"+section+"\n")
	if i < 0 {
		t.Fatalf("README has no %q", section)
	}
	text := readme[i+len(section)+2:]
	if j := strings.Index(text, "\n## "); j >= 0 {
		text = text[:j]
	}
	var out []step
	for {
		start := strings.Index(text, "```")
		if start < 0 {
			return out
		}
		text = text[start+3:]
		nl := strings.IndexByte(text, '\n')
		lang := text[:nl]
		end := strings.Index(text, "\n```")
		body := text[nl+1 : end+1]
		text = text[end+4:]
		switch lang {
		case "go":
			first, _, _ := strings.Cut(body, "\n")
			if f, ok := strings.CutPrefix(first, "// file: "); ok {
				out = append(out, step{file: f, body: body})
			}
		case "sh":
			var cmds []string
			for _, line := range strings.Split(body, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					cmds = append(cmds, line)
				}
			}
			out = append(out, step{commands: cmds})
		}
	}
}

// TestEmbeddingFromTheREADME follows the README's embedding section in an
// empty directory outside the repository.
func TestEmbeddingFromTheREADME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module from the README's embedding steps: skipped under -short")
	}
	if dbtest.PostgresURL() == "" {
		t.Skip("the embedding walkthrough needs PostgreSQL (migrate diff, and the PostgreSQL half)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(t.TempDir(), "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := work // the module, once "cd shop" ran
	env := append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local")
	wrote, ran := 0, 0
	for _, s := range steps(t, string(readme)) {
		if s.file != "" {
			path := filepath.Join(dir, filepath.FromSlash(s.file))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(s.body), 0o644); err != nil {
				t.Fatal(err)
			}
			wrote++
			continue
		}
		for _, c := range s.commands {
			switch {
			case c == "mkdir shop && cd shop":
				dir = filepath.Join(work, "shop")
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			case c == "go get github.com/keylin/keylin@latest":
				// keylin is not on a proxy yet: the README's alternative, on
				// this checkout.
				c = "go mod edit -require github.com/keylin/keylin@v0.0.0 -replace github.com/keylin/keylin=" + root
			case c == "go get -tool github.com/keylin/keylin/cmd/keylin":
				// The README's alternative for a replaced keylin.
				c = "go mod edit -tool github.com/keylin/keylin/cmd/keylin && go mod tidy"
			case strings.Contains(c, "./shop"):
				continue // the test runs the binary itself, below
			}
			runShell(t, dir, env, c)
			ran++
		}
	}
	t.Logf("README embedding section: %d files written, %d commands run", wrote, ran)
	bin := filepath.Join(dir, "shop")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("the steps did not build ./shop: %v", err)
	}
	tool := func(t *testing.T, dbURL, stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("go", append([]string{"tool", "keylin"}, args...)...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, append(env, "DATABASE_URL="+dbURL), strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go tool keylin %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	for _, d := range dbtest.Dialects {
		t.Run(database.DialectDir(d), func(t *testing.T) {
			var dbURL string
			if d == "postgres" {
				db := dbtest.Empty(t, d)
				dbURL = db.URL.DSN
				db.Close()
			} else {
				dbURL = "sqlite:///" + filepath.Join(t.TempDir(), "shop.db")
			}
			base := startShop(t, bin, dir, env, dbURL)
			c := &client{t: t, base: base + "/api"}

			// Register with the shop's own field; the superuser-only one is ignored.
			code, ann := c.do("POST", "/auth/register", "", map[string]any{
				"email": "ann@example.com", "password": password, "display_name": "Ann", "tier": "gold"})
			if code != 201 || ann["display_name"] != "Ann" || ann["tier"] != "basic" {
				t.Fatalf("register: %d %v", code, ann)
			}
			c.do("POST", "/auth/register", "", map[string]any{"email": "bob@example.com", "password": password})
			// The shop describes its fields as annotated: display_name is
			// set at registration, tier by superusers only.
			code, doc := c.do("GET", "/openapi.json", "", nil)
			schemas, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)
			props := func(shape string) map[string]any {
				p, _ := schemas[shape].(map[string]any)["properties"].(map[string]any)
				return p
			}
			if code != 200 || props("UserRead")["tier"] == nil || props("UserCreate")["display_name"] == nil ||
				props("UserCreate")["tier"] != nil || props("UserUpdateSuperuser")["tier"] == nil {
				t.Fatalf("GET /api/openapi.json: %d, user shapes %v", code, schemas)
			}
			annTok, bobTok := c.login("ann@example.com"), c.login("bob@example.com")
			if code, me := c.do("GET", "/users/me", annTok, nil); code != 200 || me["display_name"] != "Ann" {
				t.Fatalf("GET /api/users/me: %d %v", code, me)
			}
			// 30 characters of two bytes each: counted in characters.
			if code, me := c.do("PATCH", "/users/me", annTok, map[string]any{"display_name": strings.Repeat("é", 30)}); code != 200 {
				t.Fatalf("PATCH display_name of 30 characters: %d %v", code, me)
			}
			if code, body := c.do("PATCH", "/users/me", annTok, map[string]any{"display_name": strings.Repeat("é", 31)}); code != 422 {
				t.Fatalf("PATCH display_name of 31 characters: %d %v", code, body)
			}

			// The shop's own entity, protected by the generated rules.
			for _, item := range []string{"tea", "cake"} {
				if code, o := c.do("POST", "/orders", annTok, map[string]any{"item": item}); code != 201 {
					t.Fatalf("order %s: %d %v", item, code, o)
				}
			}
			if code, _ := c.do("POST", "/orders", bobTok, map[string]any{"item": "coffee"}); code != 201 {
				t.Fatal("bob's order")
			}
			if got := c.items(annTok); got != "tea,cake" {
				t.Fatalf("ann sees %q, want her own orders", got)
			}
			if got := c.items(bobTok); got != "coffee" {
				t.Fatalf("bob sees %q, want his own order", got)
			}
			if code, _ := c.do("GET", "/orders", "", nil); code != 401 {
				t.Fatalf("GET /api/orders without a token: %d", code)
			}

			// The CLI works on the shop's database: a superuser sees all orders.
			out := tool(t, dbURL, "the boss passphrase\n", "users", "create", "--email", "boss@example.com", "--superuser", "--verified")
			if !strings.Contains(out, "superuser=true") {
				t.Fatalf("users create: %s", out)
			}
			form := url.Values{"username": {"boss@example.com"}, "password": {"the boss passphrase"}}
			req, _ := http.NewRequest("POST", c.base+"/auth/jwt/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			code, lr := c.send(req)
			bossTok, _ := lr["access_token"].(string)
			if code != 200 || bossTok == "" {
				t.Fatalf("boss login: %d %v", code, lr)
			}
			if got := c.items(bossTok); len(strings.Split(got, ",")) != 3 {
				t.Fatalf("the superuser sees %q, want all 3 orders", got)
			}
			// Deleting a user who owns orders: 409, nothing lost.
			_, me := c.do("GET", "/users/me", bobTok, nil)
			if code, body := c.do("DELETE", "/users/"+me["id"].(string), bossTok, nil); code != 409 || body["detail"] != "USER_HAS_DATA" {
				t.Fatalf("delete a user who owns orders: %d %v", code, body)
			}
			if got := c.items(bobTok); got != "coffee" {
				t.Fatalf("bob's orders after the refused delete: %q", got)
			}
		})
	}
}

// runShell runs one command line of the README in dir.
func runShell(t *testing.T, dir string, env []string, line string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", line)
	cmd.Dir, cmd.Env = dir, env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	t.Logf("%s (%s)", line, time.Since(start).Round(time.Millisecond))
}

// startShop runs the built application on dbURL and returns its base URL.
func startShop(t *testing.T, bin, dir string, env []string, dbURL string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(env, "JWT_SECRET="+secret, "DATABASE_URL="+dbURL, "ADDR="+addr,
		"HASH_MEMORY_KIB=19456", "HASH_ITERATIONS=2", "HASH_PARALLELISM=1", "MAIL_URL=file:"+filepath.Join(cmd.Dir, "mail.jsonl"))
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("shop did not stop\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/api/users/me")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatalf("shop did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client talks JSON to the shop.
type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.send(req)
}

func (c *client) send(req *http.Request) (int, map[string]any) {
	c.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m == nil && len(b) > 0 && b[0] == '[' {
		m = map[string]any{"list": json.RawMessage(b)}
	}
	return resp.StatusCode, m
}

func (c *client) login(email string) string {
	c.t.Helper()
	form := url.Values{"username": {email}, "password": {password}}
	req, _ := http.NewRequest("POST", c.base+"/auth/jwt/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body := c.send(req)
	tok, _ := body["access_token"].(string)
	if code != 200 || tok == "" {
		c.t.Fatalf("login %s: %d %v", email, code, body)
	}
	return tok
}

// items lists the orders token's user sees, comma-separated.
func (c *client) items(token string) string {
	c.t.Helper()
	code, body := c.do("GET", "/orders", token, nil)
	raw, _ := body["list"].(json.RawMessage)
	var orders []struct {
		Item string `json:"item"`
	}
	if code != 200 || json.Unmarshal(raw, &orders) != nil {
		c.t.Fatalf("GET /api/orders: %d %v", code, body)
	}
	var out []string
	for _, o := range orders {
		out = append(out, o.Item)
	}
	return strings.Join(out, ",")
}
