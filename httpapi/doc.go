// Package httpapi is keylin's HTTP adapter: the fastapi-users routes over an
// [authn.Manager], for Echo v4, mountable in any Echo application.
//
// Each router mounts on a group the application chooses; MountAll uses the
// default prefixes of the contract (/auth/jwt, /auth, /users). Mounting
// registers routes and nothing else: keylin's handlers read their own request
// bodies (never c.Bind), write their own JSON (never through the app's
// serializer) and render their own errors, returning nil, so the
// application's HTTPErrorHandler, Binder, Validator and JSONSerializer never
// see keylin's requests and are never replaced.
//
// The common call:
//
//	api, err := httpapi.NewAPI(manager)
//	if err != nil { … }
//	api.MountAll(e) // POST /auth/jwt/login, GET /users/me, …
//
// or, under the application's own prefixes, with keylin's middleware on the
// application's routes:
//
//	api.MountAuth(e.Group("/api/auth/jwt"))
//	api.MountUsers(e.Group("/api/users"))
//	e.GET("/api/notes", listNotes, api.RequireUser())
//	// in listNotes: u := httpapi.CurrentUser(c)
//
// # Describing the API
//
// The API records every route it mounts, with its full path and
// fastapi-users' name for it: [API.Describe] returns them with the options
// that shape requests and answers (cookie transport, refresh tokens,
// required verification, the application's user fields). keylin's openapi
// package builds the OpenAPI document from it; httpapi itself stays free of
// any OpenAPI library.
//
// # Errors
//
// authn's errors map to statuses in one table (errors.go): the fastapi-users
// codes as 400 {"detail": "CODE"}, an invalid password as 400
// {"detail": {"code": "<FLOW>_INVALID_PASSWORD", "reason": "…"}}, 401
// {"detail": "Unauthorized"}, 403 {"detail": "Forbidden"}, 404
// {"detail": "Not Found"}, hashing overload as 503 with Retry-After, anything
// else as 500 {"detail": "Internal Server Error"} with an slog error line.
//
// # Request bodies
//
// JSON routes take a JSON object with Content-Type application/json (a
// charset parameter and application/*+json are accepted; a request without
// Content-Type is read as JSON, as FastAPI does). Any other content type, a
// body that is not a JSON object, malformed JSON, a missing or wrongly typed
// field, or an invalid email is a 422 whose detail lists FastAPI-style errors
// {"loc": ["body", "<field>"], "msg": "…", "type": "…"}; unknown fields are
// ignored. The login route takes the OAuth2 password form
// (application/x-www-form-urlencoded or multipart/form-data); a JSON body
// there is a 422 for the missing username and password. A body longer than
// the limit (64 KiB by default) is a 413.
package httpapi
