package walkthrough

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/internal/dbtest"
)

const (
	migrationName = "add_role_nickname"
	jwtSecret     = "walkthrough-jwt-secret-0123456789abcdef"
	password      = "walkthrough passphrase"
)

// dialectDirs are the migration directories, one per dialect.
var dialectDirs = []string{"postgres", "sqlite"}

// TestForkWalkthrough is the walkthrough of issue 5 for fork users: in a
// copy of the repository, add role and nickname to ent/schema/user.go (the
// only hand edit), regenerate, write the migration, build keylin, and check
// on SQLite and PostgreSQL that an upgrade keeps existing users and that the
// API serves the fields as their annotations say.
func TestForkWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("the fork walkthrough copies, regenerates and builds the repository: skipped under -short")
	}
	admin := dbtest.PostgresURL()
	if admin == "" {
		t.Skip("the fork walkthrough needs PostgreSQL (migrate diff, and the PostgreSQL half): KEYLIN_TEST_POSTGRES_URL=off")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	repo := filepath.Join(tmp, "repo")
	copyRepo(t, root, repo)

	// The one hand edit: two fields in ent/schema/user.go.
	editSchema(t, filepath.Join(repo, "ent", "schema", "user.go"))

	migDir := filepath.Join(repo, "ent", "migrate", "migrations")
	old := map[string][]string{}
	for _, d := range dialectDirs {
		old[d] = sqlFiles(t, filepath.Join(migDir, d))
		if len(old[d]) == 0 {
			t.Fatalf("no migrations in %s", filepath.Join(migDir, d))
		}
	}

	// make generate; make migrate-diff NAME=add_role_nickname; make build.
	devURL := os.Getenv("KEYLIN_DEV_POSTGRES_URL")
	if devURL == "" {
		devURL = admin
	}
	before := readFile(t, filepath.Join(repo, "ent", "openapi.json"))
	run(t, repo, nil, "", goBin, "generate", "./ent/...")
	checkDocument(t, before, readFile(t, filepath.Join(repo, "ent", "openapi.json")))
	out := run(t, repo, append(os.Environ(), "KEYLIN_DEV_POSTGRES_URL="+devURL), "", goBin, "run", "./cmd/keylin", "migrate", "diff", migrationName)
	for _, d := range dialectDirs {
		now := sqlFiles(t, filepath.Join(migDir, d))
		added := slices.DeleteFunc(slices.Clone(now), func(n string) bool { return slices.Contains(old[d], n) })
		if len(added) != 1 || !strings.HasSuffix(added[0], "_"+migrationName+".sql") {
			t.Fatalf("%s: migrate diff added %v, want one *_%s.sql\n%s", d, added, migrationName, out)
		}
		b, err := os.ReadFile(filepath.Join(migDir, d, added[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, col := range []string{"role", "nickname"} {
			if !strings.Contains(string(b), col) {
				t.Errorf("%s/%s does not mention %s:\n%s", d, added[0], col, b)
			}
		}
	}
	bin := filepath.Join(tmp, "keylin")
	run(t, repo, nil, "", goBin, "build", "-o", bin, "./cmd/keylin")
	// The new migration brings the directories level with the schema: a
	// second diff (CI's freshness check) finds nothing.
	out = run(t, repo, append(os.Environ(), "KEYLIN_DEV_POSTGRES_URL="+devURL), "", bin, "migrate", "diff", "walkthrough_recheck")
	if strings.Count(out, "no changes") != len(dialectDirs) {
		t.Fatalf("a second migrate diff still found changes:\n%s", out)
	}

	// The migration directory as it was before the edit, re-hashed.
	oldDir := filepath.Join(tmp, "old-migrations")
	for _, d := range dialectDirs {
		if err := os.MkdirAll(filepath.Join(oldDir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, n := range old[d] {
			copyFile(t, filepath.Join(migDir, d, n), filepath.Join(oldDir, d, n))
		}
	}
	run(t, tmp, nil, "", bin, "migrate", "hash", "--dir", oldDir)

	for _, d := range []string{dialect.SQLite, dialect.Postgres} {
		t.Run(database.DialectDir(d), func(t *testing.T) {
			t.Parallel()
			w := &walk{bin: bin, work: t.TempDir()}
			w.openDatabase(t, d, admin)
			oldIDs := w.upgrade(t, filepath.Join(oldDir, database.DialectDir(d)))
			w.api(t, oldIDs)
		})
	}
}

// walk is one dialect's half of the walkthrough.
type walk struct {
	bin  string       // the copy's keylin
	work string       // working directory of its runs (no .env)
	url  string       // DATABASE_URL
	db   *database.DB // the same database, for SQL checks
}

func (w *walk) openDatabase(t *testing.T, d, admin string) {
	t.Helper()
	ctx := context.Background()
	if d == dialect.SQLite {
		w.url = "file:" + filepath.Join(w.work, "walk.db")
		db, err := database.Open(ctx, w.url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		w.db = db
		return
	}
	db, drop, err := database.CreateTempPostgres(ctx, admin, "keylin_walk")
	if err != nil {
		t.Fatalf("create throwaway database: %v", err)
	}
	t.Cleanup(func() {
		if err := drop(context.Background()); err != nil {
			t.Errorf("drop throwaway database: %v", err)
		}
	})
	w.url, w.db = db.URL.DSN, db
}

// env is the environment of the copy's keylin: only what it needs.
func (w *walk) env() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + w.work,
		"JWT_SECRET=" + jwtSecret,
		"DATABASE_URL=" + w.url,
		"HASH_MEMORY_KIB=19456", "HASH_ITERATIONS=2", "HASH_PARALLELISM=1",
		"MAIL_URL=file:" + filepath.Join(w.work, "mail.jsonl"),
	}
}

// upgrade applies the old migrations, inserts users the way another service
// would (plain SQL), applies the new migration with the copy's keylin and
// checks the users are kept with role filled by its default. It returns the
// users' ids.
func (w *walk) upgrade(t *testing.T, oldDialectDir string) []string {
	t.Helper()
	ctx := context.Background()
	run(t, w.work, w.env(), "", w.bin, "migrate", "apply", "--dialect-dir", oldDialectDir)
	ids := []string{uuid.NewString(), uuid.NewString()}
	for i, id := range ids {
		q := fmt.Sprintf(`INSERT INTO users (id, email, hashed_password) VALUES ('%s', 'old%d@example.com', 'not-a-hash')`, id, i)
		if _, err := w.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("insert a user on the old schema: %v", err)
		}
	}
	out := run(t, w.work, w.env(), "", w.bin, "migrate", "apply")
	if !strings.Contains(out, migrationName) {
		t.Fatalf("migrate apply did not apply %s:\n%s", migrationName, out)
	}
	rows, err := w.db.QueryContext(ctx, `SELECT id, role, nickname FROM users ORDER BY email`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, role string
		var nick *string
		if err := rows.Scan(&id, &role, &nick); err != nil {
			t.Fatal(err)
		}
		if role != "member" || nick != nil {
			t.Errorf("user %s after the upgrade: role %q nickname %v, want member and NULL", id, role, nick)
		}
		got = append(got, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("users after the upgrade: %v, want %v", got, ids)
	}
	return ids
}

// api serves the copy's keylin and checks the new fields over HTTP.
func (w *walk) api(t *testing.T, oldIDs []string) {
	t.Helper()
	base, stop := w.serve(t)
	c := &client{t: t, base: base}

	code, neo := c.do("POST", "/auth/register", "", map[string]any{
		"email": "neo@example.com", "password": password, "nickname": "neo", "role": "admin"})
	if code != 201 || neo["nickname"] != "neo" || neo["role"] != "member" {
		t.Fatalf("register: %d %v, want 201 with nickname neo and role member (role ignored)", code, neo)
	}
	neoID, _ := neo["id"].(string)
	tok := c.login("neo@example.com")
	if code, me := c.do("GET", "/users/me", tok, nil); code != 200 || me["nickname"] != "neo" || me["role"] != "member" {
		t.Fatalf("GET /users/me: %d %v", code, me)
	}
	if code, me := c.do("PATCH", "/users/me", tok, map[string]any{"nickname": "trinity"}); code != 200 || me["nickname"] != "trinity" {
		t.Fatalf("PATCH /users/me nickname: %d %v", code, me)
	}
	if code, me := c.do("PATCH", "/users/me", tok, map[string]any{"role": "admin"}); code != 200 || me["role"] != "member" {
		t.Fatalf("PATCH /users/me role: %d %v, want 200 with role still member", code, me)
	}
	if code, me := c.do("GET", "/users/me", tok, nil); code != 200 || me["role"] != "member" || me["nickname"] != "trinity" {
		t.Fatalf("GET /users/me after the patches: %d %v", code, me)
	}

	out := run(t, w.work, w.env(), password+"\n", w.bin, "users", "create", "--email", "root@example.com", "--superuser")
	if !strings.Contains(out, "superuser=true") {
		t.Fatalf("users create --superuser: %s", out)
	}
	root := c.login("root@example.com")
	if code, u := c.do("PATCH", "/users/"+neoID, root, map[string]any{"role": "admin"}); code != 200 || u["role"] != "admin" {
		t.Fatalf("superuser PATCH /users/{id} role: %d %v", code, u)
	}
	if code, me := c.do("GET", "/users/me", tok, nil); code != 200 || me["role"] != "admin" {
		t.Fatalf("GET /users/me after the superuser's patch: %d %v", code, me)
	}
	code, body := c.do("PATCH", "/users/"+neoID, root, map[string]any{"role": "owner"})
	wantLoc(t, "PATCH role owner", code, body, "role")
	code, body = c.do("PATCH", "/users/me", tok, map[string]any{"nickname": strings.Repeat("n", 41)})
	wantLoc(t, "PATCH a 41-character nickname", code, body, "nickname")
	for _, id := range oldIDs {
		if code, u := c.do("GET", "/users/"+id, root, nil); code != 200 || u["role"] != "member" || u["nickname"] != nil {
			t.Errorf("GET a user from before the upgrade: %d %v", code, u)
		}
	}
	// The running service describes the new fields too.
	req, err := http.NewRequest("GET", base+"/openapi.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	code, doc := c.send(req)
	read, _ := doc["components"].(map[string]any)["schemas"].(map[string]any)["UserRead"].(map[string]any)
	if props, _ := read["properties"].(map[string]any); code != 200 || props["role"] == nil || props["nickname"] == nil {
		t.Fatalf("GET /openapi.json: %d, UserRead %v", code, read)
	}
	stop()
}

// checkDocument checks that regenerating changed ent/openapi.json as the
// annotations of the two new fields say: role (an enum, superuser-only)
// readable and in the superuser's update only; nickname (nullable, at most
// 40 characters, Register and SelfUpdate) in every user shape; neither was
// there before.
func checkDocument(t *testing.T, before, after []byte) {
	t.Helper()
	want := map[string][]string{
		"UserRead":            {"role", "nickname"},
		"UserCreate":          {"nickname"},
		"UserUpdate":          {"nickname"},
		"UserUpdateSuperuser": {"role", "nickname"},
	}
	for i, b := range [][]byte{before, after} {
		var doc struct {
			Components struct {
				Schemas map[string]struct {
					Properties map[string]struct {
						Type      any
						Enum      []any
						MaxLength int
					}
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("ent/openapi.json: %v", err)
		}
		for shape, fields := range want {
			props := doc.Components.Schemas[shape].Properties
			if props == nil {
				t.Fatalf("ent/openapi.json has no %s", shape)
			}
			for _, f := range []string{"role", "nickname"} {
				_, ok := props[f]
				if wanted := i == 1 && slices.Contains(fields, f); ok != wanted {
					t.Errorf("ent/openapi.json %s: %s has %s: %v, want %v", []string{"before", "after"}[i], shape, f, ok, wanted)
				}
			}
		}
		if i == 1 {
			read := doc.Components.Schemas["UserRead"].Properties
			if r := read["role"]; !reflect.DeepEqual(r.Enum, []any{"member", "admin"}) {
				t.Errorf("role in UserRead: %+v, want the enum member, admin", r)
			}
			if n := read["nickname"]; !reflect.DeepEqual(n.Type, []any{"string", "null"}) || n.MaxLength != 40 {
				t.Errorf("nickname in UserRead: %+v, want a nullable string of at most 40", n)
			}
		}
	}
}

// readFile returns the file's content; a failure ends the test.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantLoc checks a 422 whose first error is at ["body", field].
func wantLoc(t *testing.T, what string, code int, body map[string]any, field string) {
	t.Helper()
	detail, _ := body["detail"].([]any)
	if code != 422 || len(detail) == 0 {
		t.Fatalf("%s: %d %v, want 422", what, code, body)
	}
	first, _ := detail[0].(map[string]any)
	if loc := first["loc"]; !reflect.DeepEqual(loc, []any{"body", field}) {
		t.Fatalf("%s: loc %v, want [body %s]; %v", what, loc, field, body)
	}
}

// serve starts the copy's `keylin serve` on a free port and returns its
// base URL and a function stopping it with SIGTERM.
func (w *walk) serve(t *testing.T) (string, func()) {
	t.Helper()
	cmd := exec.Command(w.bin, "serve", "--addr", "127.0.0.1:0")
	cmd.Dir, cmd.Env = w.work, w.env()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		logs   bytes.Buffer
		addrc  = make(chan string, 1)
		exited = make(chan error, 1)
	)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			mu.Lock()
			logs.Write(line)
			logs.WriteByte('\n')
			mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal(line, &rec) == nil && rec.Msg == "keylin serving" {
				addrc <- rec.Addr
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return logs.String() }
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("keylin serve after SIGTERM: %v\n%s", err, output())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Errorf("keylin serve did not stop within 30s of SIGTERM\n%s", output())
			}
		})
	}
	t.Cleanup(stop)
	select {
	case addr := <-addrc:
		return "http://" + addr, stop
	case err := <-exited:
		exited <- err
		t.Fatalf("keylin serve exited: %v\n%s", err, output())
	case <-time.After(60 * time.Second):
		t.Fatalf("keylin serve did not listen within 60s\n%s", output())
	}
	return "", nil
}

// client talks JSON to the served API.
type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
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
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	var m map[string]any
	if len(b) > 0 && json.Unmarshal(b, &m) != nil {
		c.t.Fatalf("%s %s: %d, body is not a JSON object: %s", req.Method, req.URL.Path, resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

// login returns an access token for email.
func (c *client) login(email string) string {
	c.t.Helper()
	form := url.Values{"username": {email}, "password": {password}}
	req, err := http.NewRequest("POST", c.base+"/auth/jwt/login", strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body := c.send(req)
	tok, _ := body["access_token"].(string)
	if code != 200 || tok == "" {
		c.t.Fatalf("login %s: %d %v", email, code, body)
	}
	return tok
}

// run runs name in dir with stdin and returns its combined output; env nil
// inherits the test's environment. A failure ends the test.
func run(t *testing.T, dir string, env []string, stdin, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	t.Logf("%s %s (%s)", filepath.Base(name), strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return string(out)
}

// copyRepo copies the module at root to dst: the files git knows of or
// would add (tracked and untracked, not ignored); without git, the tree
// without .git, bin and SQLite files.
func copyRepo(t *testing.T, root, dst string) {
	t.Helper()
	var files []string
	cmd := exec.Command("git", "ls-files", "-z", "-co", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		for _, f := range strings.Split(string(out), "\x00") {
			if f != "" {
				files = append(files, filepath.FromSlash(f))
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			switch {
			case d.IsDir() && (rel == ".git" || rel == "bin"):
				return filepath.SkipDir
			case d.IsDir() || strings.Contains(d.Name(), ".db") || rel == "keylin" || rel == ".env":
				return nil
			}
			files = append(files, rel)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		src := filepath.Join(root, f)
		if fi, err := os.Lstat(src); err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or not a plain file
		}
		copyFile(t, src, filepath.Join(dst, f))
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// editSchema makes the walkthrough's hand edit: User.Fields returns role and
// nickname (testdata/user_fields.go.txt), and the field package is imported.
func editSchema(t *testing.T, path string) {
	t.Helper()
	fields, err := os.ReadFile(filepath.Join("testdata", "user_fields.go.txt"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	re := regexp.MustCompile(`(?s)func \(User\) Fields\(\) \[\]ent\.Field \{.*?\n\}\n`)
	if !re.MatchString(src) {
		t.Fatalf("%s has no User.Fields to edit", path)
	}
	src = re.ReplaceAllLiteralString(src, string(fields))
	const schemaImport = "\t\"entgo.io/ent/schema\"\n"
	if !strings.Contains(src, "\"entgo.io/ent/schema/field\"") {
		if !strings.Contains(src, schemaImport) {
			t.Fatalf("%s does not import entgo.io/ent/schema where expected", path)
		}
		src = strings.Replace(src, schemaImport, schemaImport+"\t\"entgo.io/ent/schema/field\"\n", 1)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sqlFiles lists the migration files of dir, sorted.
func sqlFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	slices.Sort(m)
	return m
}
