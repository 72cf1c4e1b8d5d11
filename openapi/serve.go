package openapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/httpapi"
)

// Paths Mount serves, under the prefix of the router it is given.
const (
	// DocumentPath is the document, as JSON.
	DocumentPath = "/openapi.json"
	// DocsPath is the docs page (Swagger UI); its assets are under it.
	DocsPath = "/docs"
)

// DocsCSP is the Content-Security-Policy of the docs page and its assets:
// scripts, styles and requests to the server itself only (images also as
// data: URIs, which Swagger UI's stylesheet uses), no inline script, no
// framing. The page loads nothing from anywhere else, so it works offline.
const DocsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// The docs page: keylin's page and start script, and Swagger UI
// (swagger-ui-dist from npm, vendored in ui/ by `make vendor-swagger-ui`;
// ui/VERSION says which, ui/LICENSE its licence).
//
//go:embed docs.html docs.js ui/swagger-ui-bundle.js ui/swagger-ui.css ui/favicon-32x32.png
var assets embed.FS

// docsPage renders the page with the document's title.
var docsPage = template.Must(template.ParseFS(assets, "docs.html"))

// Router is where Mount and Serve register their routes: an *echo.Echo or
// an *echo.Group, whose prefix the paths take.
type Router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// Mount serves the document of the routes api has mounted at
// /openapi.json, and the docs page at /docs, on r: an application's one
// call. Mount after keylin's routes, which the document lists as they are
// then; an API with no route mounted is an error.
func Mount(r Router, api *httpapi.API, info Info) error {
	d := api.Describe()
	if len(d.Routes) == 0 {
		return errors.New("openapi: Mount needs keylin's routes mounted first: the document lists them")
	}
	doc, err := New(d, info)
	if err != nil {
		return err
	}
	return Serve(r, doc)
}

// Serve serves doc at /openapi.json and the docs page over it at /docs,
// with the page's assets under /docs/, on r. Use it for a document built
// or loaded otherwise; [Mount] builds it from an API.
func Serve(r Router, doc *openapi3.T) error {
	b, err := doc.MarshalJSON()
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := docsPage.Execute(&page, doc.Info.Title); err != nil {
		return err
	}
	r.GET(DocumentPath, newAsset(b, "application/json").serve)
	r.GET(DocsPath, newAsset(page.Bytes(), "text/html; charset=utf-8").serve)
	for _, name := range []string{"docs.js", "ui/swagger-ui-bundle.js", "ui/swagger-ui.css", "ui/favicon-32x32.png"} {
		body, err := assets.ReadFile(name)
		if err != nil {
			return err
		}
		base := path.Base(name)
		if base == "docs.js" {
			base = "init.js"
		}
		ctype := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".png": "image/png"}[path.Ext(name)]
		r.GET(DocsPath+"/"+base, newAsset(body, ctype).serve)
	}
	return nil
}

// asset is one response of the docs: fixed bytes, revalidated by ETag,
// gzipped for clients that take it (Swagger UI's bundle is 1.7 MB, about
// a third of that compressed).
type asset struct {
	body, gz    []byte
	ctype, etag string
	zipOnce     sync.Once
}

func newAsset(body []byte, ctype string) *asset {
	sum := sha256.Sum256(body)
	return &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// gzipped returns the compressed body, made on first use.
func (a *asset) gzipped() []byte {
	a.zipOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(a.body)
		_ = zw.Close()
		a.gz = buf.Bytes()
	})
	return a.gz
}

func (a *asset) serve(c echo.Context) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, a.ctype)
	h.Set("Content-Security-Policy", DocsCSP)
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set("Cache-Control", "no-cache")
	h.Add(echo.HeaderVary, echo.HeaderAcceptEncoding)
	body, etag := a.body, a.etag
	if len(a.body) > 1024 && strings.Contains(c.Request().Header.Get(echo.HeaderAcceptEncoding), "gzip") {
		body, etag = a.gzipped(), strings.TrimSuffix(a.etag, `"`)+`-gzip"`
		h.Set(echo.HeaderContentEncoding, "gzip")
	}
	h.Set("ETag", etag)
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(body))
	return nil
}
