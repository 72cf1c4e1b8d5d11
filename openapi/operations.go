package openapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/httpapi"
)

// auth is which tokens a route takes.
type auth int

const (
	public     auth = iota
	bearerOnly      // the bearer transport's logout
	cookieOnly      // the cookie transport's logout
	anyToken        // the users routes: a bearer token, or the cookie when the transport is on
)

// code is an error code a route answers with 400 (or, for USER_HAS_DATA,
// 409), as fastapi-users documents it.
type code struct {
	code, summary string
	password      bool // {"detail": {"code", "reason"}}
}

// Error codes by flow (CONTRACT.md, and keylin's additions).
var (
	codeLoginBad       = code{code: "LOGIN_BAD_CREDENTIALS", summary: "Bad credentials or the user is inactive."}
	codeLoginNotVerif  = code{code: "LOGIN_USER_NOT_VERIFIED", summary: "The user is not verified."}
	codeRefreshBad     = code{code: "REFRESH_BAD_TOKEN", summary: "A bad, expired, already used or ended refresh token."}
	codeRegisterExists = code{code: "REGISTER_USER_ALREADY_EXISTS", summary: "A user with this email already exists."}
	codeRegisterPw     = code{code: "REGISTER_INVALID_PASSWORD", summary: "Password validation failed.", password: true}
	codeResetBad       = code{code: "RESET_PASSWORD_BAD_TOKEN", summary: "Bad or expired token."}
	codeResetPw        = code{code: "RESET_PASSWORD_INVALID_PASSWORD", summary: "Password validation failed.", password: true}
	codeVerifyBad      = code{code: "VERIFY_USER_BAD_TOKEN", summary: "Bad token, not existing user or not the e-mail currently set for the user."}
	codeVerifyDone     = code{code: "VERIFY_USER_ALREADY_VERIFIED", summary: "The user is already verified."}
	codeUpdateExists   = code{code: "UPDATE_USER_EMAIL_ALREADY_EXISTS", summary: "A user with this email already exists."}
	codeUpdatePw       = code{code: "UPDATE_USER_INVALID_PASSWORD", summary: "Password validation failed.", password: true}
	codeUpdateCurrent  = code{code: "UPDATE_USER_BAD_CURRENT_PASSWORD", summary: "current_password is missing or wrong, where the server requires it."}
	codeUserHasData    = code{code: "USER_HAS_DATA", summary: "The user still owns data that is not deleted with them."}
)

// spec is what one route takes and answers.
type spec struct {
	desc      string
	auth      auth
	super     bool // superusers only
	cookie    bool // a cookie-transport route: a cross-site browser request is refused
	body      func(b *builder, opID string) *openapi3.RequestBodyRef
	query     bool // ?offset=&limit=
	ok        func(b *builder) (int, *openapi3.Response)
	codes     []code
	throttled bool // rate-limited: 429
}

// specs are keylin's routes by their names (httpapi.Route.Name).
var specs = map[string]spec{
	"auth:jwt.login": {
		desc: "Log in with the OAuth2 password form: username is the email. Answers a bearer token (and a refresh token when they are on).",
		body: loginForm, ok: bearerOK, codes: []code{codeLoginBad, codeLoginNotVerif}, throttled: true,
	},
	"auth:jwt.logout": {
		desc: "End the session of the token: it and its refresh token stop working, on every instance.",
		auth: bearerOnly, ok: noContent("Logged out."),
	},
	"auth:jwt.refresh": {
		desc: "Exchange a refresh token for a new access token and a new refresh token (rotation). A refresh token works once; presenting a used one ends its session.",
		body: refreshBody, ok: bearerOK, codes: []code{codeRefreshBad}, throttled: true,
	},
	"auth:cookie.login": {
		desc:   "Log in with the OAuth2 password form (username is the email): the token comes back in an HttpOnly cookie.",
		cookie: true, body: loginForm, ok: setCookie("Logged in: the cookie is set (and the refresh cookie, when refresh tokens are on)."),
		codes: []code{codeLoginBad, codeLoginNotVerif}, throttled: true,
	},
	"auth:cookie.logout": {
		desc: "End the session of the cookie and clear the cookies.",
		auth: cookieOnly, cookie: true, ok: noContent("Logged out: the cookies are cleared."),
	},
	"auth:cookie.refresh": {
		desc:   "Renew both cookies from the refresh cookie, whose path is this route only.",
		cookie: true, ok: setCookie("Both cookies renewed."), codes: []code{codeRefreshBad}, throttled: true,
	},
	"register:register": {
		desc: "Create an account. The flags in the body are ignored.",
		body: jsonBody(schemaUserCreate), ok: userOK(http.StatusCreated, "The new user."),
		codes: []code{codeRegisterExists, codeRegisterPw}, throttled: true,
	},
	"reset:forgot_password": {
		desc: "Mail a password reset token to the address, if it has an active account. The answer is the same either way.",
		body: fieldsBody(map[string]string{"email": "email"}), ok: null(http.StatusAccepted), throttled: true,
	},
	"reset:reset_password": {
		desc: "Set a new password with a reset token. Ends every session of the user.",
		body: fieldsBody(map[string]string{"token": "", "password": "password"}), ok: null(http.StatusOK),
		codes: []code{codeResetBad, codeResetPw}, throttled: true,
	},
	"verify:request-token": {
		desc: "Mail a verification token to the address, if it has an active, unverified account. The answer is the same either way.",
		body: fieldsBody(map[string]string{"email": "email"}), ok: null(http.StatusAccepted), throttled: true,
	},
	"verify:verify": {
		desc: "Verify the user a verification token was mailed to.",
		body: fieldsBody(map[string]string{"token": ""}), ok: userOK(http.StatusOK, "The verified user."),
		codes: []code{codeVerifyBad, codeVerifyDone}, throttled: true,
	},
	"users:current_user": {
		desc: "The user the token belongs to.", auth: anyToken, ok: userOK(http.StatusOK, "The current user."),
	},
	"users:patch_current_user": {
		desc: "Change the current user: only the keys present change; the flags are ignored. A new password ends the user's other sessions.",
		auth: anyToken, body: jsonBody(schemaUserUpdate), ok: userOK(http.StatusOK, "The changed user."),
		codes: []code{codeUpdateExists, codeUpdatePw, codeUpdateCurrent}, throttled: true,
	},
	"users:current_user_sessions": {
		desc: "The current user's live sessions, newest first; current marks the one of this request.",
		auth: anyToken, ok: sessionsOK,
	},
	"users:end_other_sessions": {
		desc: "End every session of the current user but this request's.", auth: anyToken, ok: noContent("The other sessions are ended."),
	},
	"users:end_current_user_session": {
		desc: "End one of the current user's sessions.", auth: anyToken, ok: noContent("The session is ended."),
	},
	"users:list_users": {
		desc: "A page of users, oldest first (superusers).", auth: anyToken, super: true, query: true, ok: pageOK,
	},
	"users:user": {
		desc: "A user by id (superusers).", auth: anyToken, super: true, ok: userOK(http.StatusOK, "The user."),
	},
	"users:patch_user": {
		desc: "Change a user (superusers): only the keys present change, the flags included. A new password, or deactivation, ends the user's sessions.",
		auth: anyToken, super: true, body: jsonBody(schemaUserUpdateSuper), ok: userOK(http.StatusOK, "The changed user."),
		codes: []code{codeUpdateExists, codeUpdatePw},
	},
	"users:delete_user": {
		desc: "Delete a user (superusers).", auth: anyToken, super: true, ok: noContent("The user is deleted."),
		codes: []code{codeUserHasData},
	},
	"users:user_sessions": {
		desc: "A user's live sessions, newest first (superusers).", auth: anyToken, super: true, ok: sessionsOK,
	},
	"users:end_user_sessions": {
		desc: "End every session of a user (superusers).", auth: anyToken, super: true, ok: noContent("The sessions are ended."),
	},
	"users:end_user_session": {
		desc: "End one session of a user (superusers).", auth: anyToken, super: true, ok: noContent("The session is ended."),
	},
}

// operation adds the operation of route r.
func (b *builder) operation(r httpapi.Route) error {
	s, ok := specs[r.Name]
	if !ok {
		return fmt.Errorf("%w %s %s (%q)", errUnknownRoute, r.Method, r.Path, r.Name)
	}
	path := Path(r.Path)
	tag := "auth"
	if strings.HasPrefix(r.Name, "users:") {
		tag = "users"
	}
	op := &openapi3.Operation{
		Tags:        []string{tag},
		Summary:     summary(r.Name),
		Description: s.desc,
		OperationID: operationID(r.Name, path, r.Method),
		Responses:   openapi3.NewResponses(),
	}
	resp := func(status int, v *openapi3.Response) {
		op.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{Value: v})
	}
	shared := func(status int, name string) {
		op.Responses.Set(strconv.Itoa(status), &openapi3.ResponseRef{
			Ref: "#/components/responses/" + name, Value: b.doc.Components.Responses[name].Value})
	}

	params := echoParam.FindAllStringSubmatch(r.Path, -1)
	for _, p := range params {
		what := map[string]string{"id": "The user's id.", "sid": "The session's id."}[p[1]]
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: openapi3.NewPathParameter(p[1]).
			WithDescription(what).WithSchema(formatted(types(openapi3.TypeString), "uuid"))})
	}
	if s.query {
		offset, limit := types(openapi3.TypeInteger), types(openapi3.TypeInteger)
		offset.Min, offset.Default = ptr(0.0), 0
		limit.Min, limit.Default = ptr(1.0), authn.DefaultPageSize
		op.Parameters = append(op.Parameters,
			&openapi3.ParameterRef{Value: openapi3.NewQueryParameter("offset").WithDescription("Users to skip.").WithSchema(offset)},
			&openapi3.ParameterRef{Value: openapi3.NewQueryParameter("limit").
				WithDescription(fmt.Sprintf("Page size; at most %d are returned.", authn.MaxPageSize)).WithSchema(limit)})
	}
	if r.Name == "auth:cookie.refresh" && b.d.RefreshCookieName != "" {
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: openapi3.NewCookieParameter(b.d.RefreshCookieName).
			WithDescription("The refresh cookie the login set (HttpOnly: the browser sends it).").
			WithSchema(types(openapi3.TypeString))})
	}
	if s.body != nil {
		op.RequestBody = s.body(b, op.OperationID)
	}

	switch s.auth {
	case bearerOnly:
		op.Security = b.security(true, false)
	case cookieOnly:
		op.Security = b.security(false, true)
	case anyToken:
		op.Security = b.security(true, b.d.CookieName != "")
	}

	status, ok200 := s.ok(b)
	resp(status, ok200)
	var codes []code
	for _, c := range s.codes {
		if c == codeLoginNotVerif && !b.d.RequireVerification {
			continue // only refused for unverified users when verification is required
		}
		if c == codeUserHasData {
			resp(http.StatusConflict, b.codeResponse("The user owns data: nothing is deleted.", c))
			continue
		}
		codes = append(codes, c)
	}
	if len(codes) > 0 {
		resp(http.StatusBadRequest, b.codeResponse("Bad Request", codes...))
	}
	if s.auth != public {
		r := b.errorResponse("No valid token, or an inactive user.", example{name: "Unauthorized", detail: "Unauthorized"})
		r.Headers = openapi3.Headers{"WWW-Authenticate": {Value: &openapi3.Header{Parameter: openapi3.Parameter{
			Schema: inline(types(openapi3.TypeString)), Description: `"Bearer"`}}}}
		resp(http.StatusUnauthorized, r)
	}
	var forbidden []string
	if s.super {
		forbidden = append(forbidden, "the user is not a superuser")
	}
	if s.auth != public && b.d.RequireVerification {
		forbidden = append(forbidden, "the user is not verified")
	}
	if s.cookie {
		forbidden = append(forbidden, "a browser request from another site than the server's own or its trusted origins (CSRF)")
	}
	if len(forbidden) > 0 {
		d := strings.Join(forbidden, "; or ")
		resp(http.StatusForbidden, b.errorResponse(strings.ToUpper(d[:1])+d[1:]+".", example{name: "Forbidden", detail: "Forbidden"}))
	}
	if len(params) > 0 {
		what := "No user has this id (or it is not a UUID)."
		if strings.HasSuffix(r.Path, ":sid") {
			what = "No such live session of the user (or no such user)."
		}
		resp(http.StatusNotFound, b.errorResponse(what, example{name: "Not Found", detail: "Not Found"}))
	}
	if s.body != nil {
		shared(http.StatusRequestEntityTooLarge, responseTooLarge)
	}
	if s.body != nil || s.query {
		shared(http.StatusUnprocessableEntity, responseValidation)
	}
	if s.throttled {
		shared(http.StatusTooManyRequests, responseThrottled)
	}
	shared(http.StatusServiceUnavailable, responseUnavailable)
	b.doc.AddOperation(path, r.Method, op)
	return nil
}

// security is the requirement of a protected route: any one of the
// schemes of the transports it accepts.
func (b *builder) security(bearer, cookie bool) *openapi3.SecurityRequirements {
	reqs := openapi3.SecurityRequirements{}
	if bearer {
		if b.tokenURL != "" {
			reqs = append(reqs, openapi3.SecurityRequirement{schemeOAuth2: {}})
		}
		reqs = append(reqs, openapi3.SecurityRequirement{schemeBearer: {}})
	}
	if cookie {
		reqs = append(reqs, openapi3.SecurityRequirement{schemeCookie: {}})
	}
	return &reqs
}

// example is one example of an error body.
type example struct {
	name, summary string
	detail        any
}

// errorResponse is an answer with an ErrorModel body.
func (b *builder) errorResponse(desc string, examples ...example) *openapi3.Response {
	mt := &openapi3.MediaType{Schema: b.ref(schemaErrorModel), Examples: openapi3.Examples{}}
	for _, e := range examples {
		mt.Examples[e.name] = &openapi3.ExampleRef{Value: &openapi3.Example{
			Summary: e.summary, Value: map[string]any{"detail": e.detail}}}
	}
	return openapi3.NewResponse().WithDescription(desc).WithContent(openapi3.Content{"application/json": mt})
}

// codeResponse is an answer with the error codes of a flow, each an
// example.
func (b *builder) codeResponse(desc string, codes ...code) *openapi3.Response {
	var ex []example
	var names []string
	for _, c := range codes {
		var detail any = c.code
		if c.password {
			detail = map[string]any{"code": c.code, "reason": "Password should be at least 8 characters."}
		}
		ex = append(ex, example{name: c.code, summary: c.summary, detail: detail})
		names = append(names, c.code)
	}
	return b.errorResponse(desc+": "+strings.Join(names, ", ")+".", ex...)
}

// noContent is a 204 answer.
func noContent(desc string) func(*builder) (int, *openapi3.Response) {
	return func(*builder) (int, *openapi3.Response) {
		return http.StatusNoContent, openapi3.NewResponse().WithDescription(desc)
	}
}

// setCookie is a 204 answer setting the cookie transport's cookies.
func setCookie(desc string) func(*builder) (int, *openapi3.Response) {
	return func(b *builder) (int, *openapi3.Response) {
		r := openapi3.NewResponse().WithDescription(desc)
		r.Headers = openapi3.Headers{"Set-Cookie": {Value: &openapi3.Header{Parameter: openapi3.Parameter{
			Description: fmt.Sprintf("%s (the access token; HttpOnly, SameSite=Lax)", b.d.CookieName),
			Schema:      inline(types(openapi3.TypeString)),
		}}}}
		return http.StatusNoContent, r
	}
}

// null is an answer whose body is JSON null.
func null(status int) func(*builder) (int, *openapi3.Response) {
	return func(*builder) (int, *openapi3.Response) {
		return status, openapi3.NewResponse().WithDescription("Successful Response (null).").
			WithContent(openapi3.NewContentWithJSONSchema(types(openapi3.TypeNull)))
	}
}

// userOK is an answer with the user object.
func userOK(status int, desc string) func(*builder) (int, *openapi3.Response) {
	return func(b *builder) (int, *openapi3.Response) {
		return status, openapi3.NewResponse().WithDescription(desc).WithJSONSchemaRef(b.ref(schemaUserRead))
	}
}

func bearerOK(b *builder) (int, *openapi3.Response) {
	return http.StatusOK, openapi3.NewResponse().WithDescription("The tokens. Cache-Control: no-store.").
		WithJSONSchemaRef(b.ref(schemaBearerResponse))
}

func sessionsOK(b *builder) (int, *openapi3.Response) {
	list := types(openapi3.TypeArray)
	list.Items = b.ref(schemaSessionRead)
	return http.StatusOK, openapi3.NewResponse().WithDescription("The sessions.").WithJSONSchema(list)
}

func pageOK(b *builder) (int, *openapi3.Response) {
	return http.StatusOK, openapi3.NewResponse().WithDescription("The page.").WithJSONSchemaRef(b.ref(schemaUserPage))
}

// jsonBody is a required JSON body of a component schema.
func jsonBody(name string) func(*builder, string) *openapi3.RequestBodyRef {
	return func(b *builder, _ string) *openapi3.RequestBodyRef {
		return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.ref(name))}
	}
}

// fieldsBody is a required JSON body of required string fields (field →
// format), a component named as FastAPI names the body of a route with
// several body parameters: "Body_" and the operationId.
func fieldsBody(fields map[string]string) func(*builder, string) *openapi3.RequestBodyRef {
	return func(b *builder, opID string) *openapi3.RequestBodyRef {
		props := openapi3.Schemas{}
		var required []string
		for name, format := range fields {
			props[name] = inline(formatted(types(openapi3.TypeString), format))
			required = append(required, name)
		}
		slices.Sort(required)
		name := "Body_" + opID
		b.doc.Components.Schemas[name] = inline(object(props, required...))
		return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithJSONSchemaRef(b.ref(name))}
	}
}

// loginForm is the OAuth2 password form, FastAPI's
// OAuth2PasswordRequestForm, as the component FastAPI names after the
// route.
func loginForm(b *builder, opID string) *openapi3.RequestBodyRef {
	optional := func(format string) *openapi3.SchemaRef {
		return inline(formatted(types(openapi3.TypeString, openapi3.TypeNull), format))
	}
	grant := types(openapi3.TypeString, openapi3.TypeNull)
	grant.Pattern = "^password$"
	scope := described(types(openapi3.TypeString), "Accepted and ignored.")
	scope.Default = ""
	form := object(openapi3.Schemas{
		"grant_type":    inline(described(grant, `"password" when present.`)),
		"username":      inline(described(types(openapi3.TypeString), "The email.")),
		"password":      inline(formatted(types(openapi3.TypeString), "password")),
		"scope":         inline(scope),
		"client_id":     optional(""),
		"client_secret": optional("password"),
	}, "username", "password")
	name := "Body_" + opID
	b.doc.Components.Schemas[name] = inline(form)
	return formBody(b.ref(name), "The OAuth2 password form. A JSON body is a 422.")
}

// refreshBody is the bearer refresh route's body: JSON or the OAuth2
// refresh form.
func refreshBody(b *builder, opID string) *openapi3.RequestBodyRef {
	grant := types(openapi3.TypeString, openapi3.TypeNull)
	grant.Pattern = "^refresh_token$"
	name := "Body_" + opID
	b.doc.Components.Schemas[name] = inline(object(openapi3.Schemas{
		"grant_type":    inline(described(grant, `"refresh_token" when present.`)),
		"refresh_token": inline(types(openapi3.TypeString)),
	}, "refresh_token"))
	body := formBody(b.ref(name), `{"refresh_token": …} as JSON, or the OAuth2 refresh form.`)
	body.Value.Content["application/json"] = openapi3.NewMediaType().WithSchemaRef(b.ref(schemaRefreshRequest))
	return body
}

// formBody is a required form body, URL-encoded or multipart.
func formBody(s *openapi3.SchemaRef, desc string) *openapi3.RequestBodyRef {
	return &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().WithRequired(true).WithDescription(desc).
		WithContent(openapi3.NewContentWithSchemaRef(s, []string{"application/x-www-form-urlencoded", "multipart/form-data"}))}
}

func ptr[T any](v T) *T { return &v }
