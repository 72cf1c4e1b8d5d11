package openapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
	"github.com/keylin/keylin/internal/authtest"
	"github.com/keylin/keylin/openapi"
)

// TestMountServesTheDocumentAndTheDocs: under an application's prefix,
// /openapi.json is the document of the routes mounted, /docs a page that
// loads only its own assets, relative to where it is served, under a CSP
// that allows nothing else.
func TestMountServesTheDocumentAndTheDocs(t *testing.T) {
	m, err := authn.NewManager(unusedStore{}, authtest.Tokens(t))
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.NewAPI(m)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	g := e.Group("/api")
	if err := openapi.Mount(g, api, openapi.Info{}); err == nil {
		t.Fatal("Mount before any keylin route: no error")
	}
	api.MountAuth(g.Group("/auth/jwt"))
	api.MountUsers(g.Group("/users"))
	if err := openapi.Mount(g, api, openapi.Info{Title: `Shop <"API">`, Version: "2.0.0"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, body := get(t, srv.URL+"/api/openapi.json", "")
	var doc struct {
		OpenAPI string `json:"openapi"`
		Info    struct{ Title, Version string }
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("document: %v %s", err, resp.Header)
	}
	if doc.OpenAPI != "3.1.0" || doc.Info.Title != `Shop <"API">` || doc.Paths["/api/auth/jwt/login"]["post"] == nil ||
		doc.Paths["/api/users/{id}"]["patch"] == nil || doc.Paths["/api/auth/register"] != nil {
		t.Fatalf("document: %+v", doc)
	}

	resp, page := get(t, srv.URL+"/api/docs", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != openapi.DocsCSP ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("docs page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{`src="docs/swagger-ui-bundle.js"`, `src="docs/init.js"`, `href="docs/swagger-ui.css"`, "Shop &lt;&#34;API&#34;&gt; - Swagger UI"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("the page lacks %s:\n%s", want, page)
		}
	}
	if bytes.Contains(page, []byte("http")) || bytes.Contains(page, []byte("<script>")) {
		t.Errorf("the page loads from elsewhere, or has an inline script:\n%s", page)
	}
	bundle, err := os.ReadFile("ui/swagger-ui-bundle.js")
	if err != nil {
		t.Fatal(err)
	}
	resp, got := get(t, srv.URL+"/api/docs/swagger-ui-bundle.js", "")
	etag := resp.Header.Get("ETag")
	if !bytes.Equal(got, bundle) || etag == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("bundle: %d bytes, ETag %q, %s", len(got), etag, resp.Header.Get("Content-Type"))
	}
	if resp, _ := get(t, srv.URL+"/api/docs/swagger-ui-bundle.js", "", "If-None-Match", etag); resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidation: %d, want 304", resp.StatusCode)
	}
	resp, zipped := get(t, srv.URL+"/api/docs/swagger-ui-bundle.js", "gzip")
	zr, err := gzip.NewReader(bytes.NewReader(zipped))
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" || len(zipped) > len(bundle)/2 {
		t.Fatalf("gzip: %v %s, %d bytes", err, resp.Header.Get("Content-Encoding"), len(zipped))
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, bundle) {
		t.Fatal("the gzipped bundle is not the bundle")
	}
	for _, p := range []string{"/api/docs/init.js", "/api/docs/swagger-ui.css", "/api/docs/favicon-32x32.png"} {
		if resp, b := get(t, srv.URL+p, ""); resp.StatusCode != 200 || len(b) == 0 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// get fetches u, without Go's transparent gzip: acceptEncoding is sent as
// given.
func get(t *testing.T, u, acceptEncoding string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", acceptEncoding)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}
