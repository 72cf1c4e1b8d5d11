// Package openapi describes keylin's HTTP API as an OpenAPI 3.1 document —
// the routes an application mounted, at the prefixes it chose, the user
// shapes of its own ent schema, the error bodies and the security schemes —
// and serves it at /openapi.json with a docs page at /docs, as every
// FastAPI service does.
//
// The document is built from what an [httpapi.API] describes of itself
// ([httpapi.API.Describe]): the routes it recorded while mounting and the
// application's user fields, as keylin's ent extension generated them
// (userschema.Describer), with exactly the visibility their entkeylin
// annotations give. Its model and validation are
// github.com/getkin/kin-openapi's openapi3; httpapi itself does not depend
// on it, so an application pays for the document only when it imports this
// package.
//
// The common call, after mounting keylin's routes:
//
//	svc.API.MountAll(e)
//	if err := openapi.Mount(e, svc.API, openapi.Info{Title: "shop", Version: "1.0.0"}); err != nil { … }
//	// GET /openapi.json, GET /docs
//
// or, for the document alone (a client generator, a gateway):
//
//	doc, err := openapi.New(svc.API.Describe(), openapi.Info{Title: "shop", Version: "1.0.0"})
//	b, err := doc.MarshalJSON()
//
// keylin's entc extension writes the document of the default layout
// ([DefaultDescription]: every router where MountAll puts it, keylin
// serve's defaults) next to the generated code, as ent/openapi.json.
package openapi
