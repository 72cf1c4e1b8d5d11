package openapi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
)

// Version is the OpenAPI version of the documents this package writes.
const Version = "3.1.0"

// Info is the document's info object: what the service is called and its
// version (the API's, not keylin's).
type Info struct {
	// Title defaults to "keylin".
	Title string
	// Version defaults to "0.1.0", FastAPI's default.
	Version string
	// Description, in CommonMark; optional.
	Description string
}

// New returns the OpenAPI 3.1 document of the API d describes: an
// operation for each of d.Routes at its path (Echo's ":id" written
// "{id}"), the UserRead, UserCreate, UserUpdate and UserUpdateSuperuser
// shapes with d.Fields, the error bodies and the security schemes of the
// transports that are on. The document is validated before it is
// returned; a route New does not know (a keylin newer than this package)
// is an error.
func New(d httpapi.Description, info Info) (*openapi3.T, error) {
	if info.Title == "" {
		info.Title = "keylin"
	}
	if info.Version == "" {
		info.Version = "0.1.0"
	}
	b := &builder{d: d, doc: &openapi3.T{
		OpenAPI:    Version,
		Info:       &openapi3.Info{Title: info.Title, Version: info.Version, Description: info.Description},
		Paths:      openapi3.NewPaths(),
		Components: &openapi3.Components{},
	}}
	for _, r := range d.Routes {
		if r.Name == "auth:jwt.login" && b.tokenURL == "" {
			b.tokenURL = r.Path
		}
	}
	b.components()
	for _, r := range d.Routes {
		if err := b.operation(r); err != nil {
			return nil, err
		}
	}
	if err := b.doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapi: the document is not valid: %w", err)
	}
	return b.doc, nil
}

// unusedStore stands in for a database in [DefaultDescription]: mounting
// routes calls none of its methods.
type unusedStore struct{ authn.Store }

// DefaultDescription describes keylin's routes as `keylin serve` mounts
// them with its default settings: every router at MountAll's prefixes,
// refresh tokens on, the cookie transport and required verification off,
// no application fields (set Fields for those). keylin's entc extension
// writes ent/openapi.json from it. No database is involved: the routes are
// mounted on a throwaway Echo only to be recorded.
func DefaultDescription() (httpapi.Description, error) {
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte(strings.Repeat("d", 32)),
		VerifySecret: []byte(strings.Repeat("v", 32)),
		ResetSecret:  []byte(strings.Repeat("r", 32)),
	})
	if err != nil {
		return httpapi.Description{}, err
	}
	m, err := authn.NewManager(unusedStore{}, tokens, authn.WithRefreshTokens(defaultRefreshLifetime))
	if err != nil {
		return httpapi.Description{}, err
	}
	api, err := httpapi.NewAPI(m)
	if err != nil {
		return httpapi.Description{}, err
	}
	api.MountAll(echo.New())
	return api.Describe(), nil
}

// defaultRefreshLifetime is REFRESH_TOKEN_LIFETIME's default; only its
// being positive matters to the description.
const defaultRefreshLifetime = 720 * time.Hour

// builder builds one document.
type builder struct {
	d        httpapi.Description
	doc      *openapi3.T
	tokenURL string // the first bearer login route: the OAuth2 password flow's
}

// echoParam is a path parameter as Echo writes it.
var echoParam = regexp.MustCompile(`:([A-Za-z0-9_]+)`)

// Path returns an Echo route path in OpenAPI's form: "/users/:id" is
// "/users/{id}".
func Path(echoPath string) string {
	return echoParam.ReplaceAllString(echoPath, "{$1}")
}

// operationID is the operationId FastAPI generates for a route: its name
// and path with every non-word character replaced by "_", then the
// method. A client generated from keylin's document names its functions as
// one generated from a FastAPI service with the same routes.
func operationID(name, path, method string) string {
	id := []rune(name + path)
	for i, r := range id {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			id[i] = '_'
		}
	}
	return string(id) + "_" + strings.ToLower(method)
}

// summary is the summary FastAPI gives a route without one: its name with
// "_" as spaces, in Python's title case ("users:patch_current_user" is
// "Users:Patch Current User").
func summary(name string) string {
	var sb strings.Builder
	prevCased := false
	for _, r := range strings.ReplaceAll(name, "_", " ") {
		if prevCased {
			sb.WriteRune(unicode.ToLower(r))
		} else {
			sb.WriteRune(unicode.ToUpper(r))
		}
		prevCased = unicode.IsUpper(r) || unicode.IsLower(r)
	}
	return sb.String()
}

// errUnknownRoute is returned for a route this package has no operation
// for.
var errUnknownRoute = errors.New("openapi: no description for route")
