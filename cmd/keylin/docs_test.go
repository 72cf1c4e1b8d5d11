package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeOpenAPI: keylin serve describes the routes it mounts, with the
// transports its settings turn on: the cookie routes and the cookie's
// name with COOKIE_TRANSPORT, the OAuth2 password flow at its login route.
func TestServeOpenAPI(t *testing.T) {
	s := startServeVars(t, "sqlite:///"+filepath.Join(t.TempDir(), "openapi.db"),
		map[string]string{"COOKIE_TRANSPORT": "true", "COOKIE_NAME": "shopauth"})
	resp, body := do(t, "GET", s.base+"/openapi.json", "", "")
	var doc struct {
		OpenAPI string
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]struct {
			OperationID string
		}
		Components struct {
			SecuritySchemes map[string]struct {
				Name  string
				Flows struct{ Password struct{ TokenURL string } }
			}
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &doc) != nil {
		t.Fatalf("GET /openapi.json: %d %.200s", resp.StatusCode, body)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title != "keylin" || doc.Info.Version != versionString() {
		t.Errorf("openapi %q, info %+v", doc.OpenAPI, doc.Info)
	}
	for path, method := range map[string]string{"/auth/jwt/login": "post", "/auth/cookie/login": "post", "/users/{id}": "patch", "/users/me/sessions/{sid}": "delete"} {
		if doc.Paths[path][method].OperationID == "" {
			t.Errorf("%s %s is not described", method, path)
		}
	}
	for _, p := range []string{"/healthz", "/readyz", "/openapi.json", "/docs"} {
		if _, ok := doc.Paths[p]; ok {
			t.Errorf("%s is described: the document is of keylin's API routes", p)
		}
	}
	schemes := doc.Components.SecuritySchemes
	if schemes["APIKeyCookie"].Name != "shopauth" || schemes["OAuth2PasswordBearer"].Flows.Password.TokenURL != "/auth/jwt/login" {
		t.Errorf("security schemes %+v", schemes)
	}
}

// TestServeDocsInChromium loads /docs from a running keylin serve in
// headless Chromium, which runs Swagger UI from the binary's own assets
// under the page's CSP, and finds keylin's routes in the rendered page.
// Without Chromium the test is skipped, unless KEYLIN_REQUIRE_CHROMIUM is
// set (CI sets it, and installs Debian's chromium).
func TestServeDocsInChromium(t *testing.T) {
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if browser == "" {
		if os.Getenv("KEYLIN_REQUIRE_CHROMIUM") != "" {
			t.Fatal("KEYLIN_REQUIRE_CHROMIUM is set, but there is no chromium on PATH (apt-get install chromium)")
		}
		t.Skip("no chromium on PATH: the docs page is not tried in a browser (apt-get install chromium; CI sets KEYLIN_REQUIRE_CHROMIUM)")
	}
	s := startServe(t, "sqlite:///"+filepath.Join(t.TempDir(), "docs.db"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// --virtual-time-budget lets the page's scripts run and fetch the
	// document before the DOM is printed.
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
		"--disable-background-networking", "--disable-extensions", "--no-first-run", "--user-data-dir="+t.TempDir(),
		"--virtual-time-budget=10000", "--dump-dom", s.base+"/docs")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{
		`data-path="/auth/jwt/login"`, `data-path="/auth/register"`, `data-path="/users/me"`, `data-path="/users/{id}"`,
		"Users:Patch Current User", // an operation's summary
		"UserRead",                 // a schema, in the models section
	} {
		if !strings.Contains(string(dom), want) {
			t.Errorf("the rendered /docs lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("rendered DOM (%d bytes): %.3000s\nchromium's stderr:\n%s", len(dom), dom, stderr.String())
	}
}
