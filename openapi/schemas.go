package openapi

import (
	"github.com/getkin/kin-openapi/openapi3"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
)

// Names of the document's components. The user shapes, the error bodies
// and the bearer response carry the names fastapi-users and FastAPI give
// them, so that generated clients' models are named alike.
const (
	schemaUserRead          = "UserRead"
	schemaUserCreate        = "UserCreate"
	schemaUserUpdate        = "UserUpdate"
	schemaUserUpdateSuper   = "UserUpdateSuperuser"
	schemaUserPage          = "UserPage"
	schemaSessionRead       = "SessionRead"
	schemaBearerResponse    = "BearerResponse"
	schemaRefreshRequest    = "RefreshRequest"
	schemaErrorModel        = "ErrorModel"
	schemaErrorCodeReason   = "ErrorCodeReasonModel"
	schemaValidationError   = "ValidationError"
	schemaHTTPValidationErr = "HTTPValidationError"

	headerRetryAfter = "Retry-After"

	responseTooLarge    = "ContentTooLarge"
	responseThrottled   = "TooManyRequests"
	responseUnavailable = "ServiceUnavailable"
	responseValidation  = "ValidationError"

	schemeOAuth2 = "OAuth2PasswordBearer" // FastAPI's name for the scheme
	schemeBearer = "HTTPBearer"
	schemeCookie = "APIKeyCookie"
)

// types returns a schema of the given JSON types.
func types(t ...string) *openapi3.Schema {
	ts := openapi3.Types(t)
	return &openapi3.Schema{Type: &ts}
}

// described returns s with a description.
func described(s *openapi3.Schema, d string) *openapi3.Schema {
	s.Description = d
	return s
}

// formatted returns s with a format.
func formatted(s *openapi3.Schema, f string) *openapi3.Schema {
	s.Format = f
	return s
}

// maxLength returns s limited to n characters.
func maxLength(s *openapi3.Schema, n int) *openapi3.Schema {
	u := uint64(n)
	s.MaxLength = &u
	return s
}

// object returns an object schema of props, every one of required
// required.
func object(props openapi3.Schemas, required ...string) *openapi3.Schema {
	s := types(openapi3.TypeObject)
	s.Properties, s.Required = props, required
	return s
}

// inline wraps a schema that is not a component.
func inline(s *openapi3.Schema) *openapi3.SchemaRef { return &openapi3.SchemaRef{Value: s} }

// ref refers to a component schema; the value is kept, so the document
// needs no loading before it is validated.
func (b *builder) ref(name string) *openapi3.SchemaRef {
	return &openapi3.SchemaRef{Ref: "#/components/schemas/" + name, Value: b.doc.Components.Schemas[name].Value}
}

// fieldSchema is an application field's schema, from its description.
func fieldSchema(f userschema.Field) *openapi3.Schema {
	s := &openapi3.Schema{Description: f.Description, Format: f.Format}
	if f.Type != "" {
		s.Type = &openapi3.Types{f.Type}
		if f.Nullable {
			s.Type.With(openapi3.TypeNull)
		}
	}
	for _, v := range f.Enum {
		s.Enum = append(s.Enum, v)
	}
	if len(s.Enum) > 0 && f.Nullable {
		s.Enum = append(s.Enum, nil)
	}
	if f.MaxLength > 0 {
		maxLength(s, f.MaxLength)
	}
	return s
}

// fullName is keylin's full_name field, nullable everywhere.
func fullName() *openapi3.Schema {
	return maxLength(types(openapi3.TypeString, openapi3.TypeNull), authn.MaxFullNameLength)
}

// components adds the schemas, shared responses, headers and security
// schemes.
func (b *builder) components() {
	c := b.doc.Components
	c.Schemas = openapi3.Schemas{}
	add := func(name string, s *openapi3.Schema) { c.Schemas[name] = inline(s) }

	b.userSchemas(add)

	add(schemaErrorCodeReason, object(openapi3.Schemas{
		"code":   inline(described(types(openapi3.TypeString), "The error code, <FLOW>_INVALID_PASSWORD.")),
		"reason": inline(described(types(openapi3.TypeString), "Why the password was refused, for people.")),
	}, "code", "reason"))
	detail := &openapi3.Schema{
		AnyOf:       openapi3.SchemaRefs{inline(types(openapi3.TypeString)), b.ref(schemaErrorCodeReason)},
		Description: `An error code such as "LOGIN_BAD_CREDENTIALS", the status text ("Unauthorized", "Not Found", …), or a code and reason for a refused password.`,
	}
	add(schemaErrorModel, object(openapi3.Schemas{"detail": inline(detail)}, "detail"))
	loc := types(openapi3.TypeArray)
	loc.Items = inline(&openapi3.Schema{AnyOf: openapi3.SchemaRefs{inline(types(openapi3.TypeString)), inline(types(openapi3.TypeInteger))}})
	loc.Description = `Where the error is: "body" or "query", then the field's name.`
	add(schemaValidationError, object(openapi3.Schemas{
		"loc":  inline(loc),
		"msg":  inline(described(types(openapi3.TypeString), "What is wrong, for people (pydantic's message).")),
		"type": inline(described(types(openapi3.TypeString), `pydantic's error type: "missing", "string_type", "string_too_long", "enum", "value_error", …`)),
	}, "loc", "msg", "type"))
	list := types(openapi3.TypeArray)
	list.Items = b.ref(schemaValidationError)
	add(schemaHTTPValidationErr, object(openapi3.Schemas{"detail": inline(list)}, "detail"))

	bearer := openapi3.Schemas{
		"access_token": inline(described(types(openapi3.TypeString), "The access token (a JWT): send it as Authorization: Bearer <token>.")),
		"token_type":   inline(described(&openapi3.Schema{Type: &openapi3.Types{openapi3.TypeString}, Enum: []any{"bearer"}}, `Always "bearer".`)),
	}
	required := []string{"access_token", "token_type"}
	if b.d.RefreshTokens {
		bearer["refresh_token"] = inline(described(types(openapi3.TypeString), "An opaque refresh token for the refresh route; single use: each refresh returns a new one."))
		bearer["expires_in"] = inline(described(types(openapi3.TypeInteger), "Seconds until the access token expires."))
		required = append(required, "refresh_token", "expires_in")
	}
	add(schemaBearerResponse, object(bearer, required...))
	add(schemaRefreshRequest, object(openapi3.Schemas{
		"refresh_token": inline(described(types(openapi3.TypeString), "The refresh token a login or the last refresh returned.")),
	}, "refresh_token"))

	when := func(d string) *openapi3.SchemaRef {
		return inline(described(formatted(types(openapi3.TypeString), "date-time"), d))
	}
	add(schemaSessionRead, object(openapi3.Schemas{
		"id":           inline(described(formatted(types(openapi3.TypeString), "uuid"), "The session's id.")),
		"created_at":   when("When the session began (the login)."),
		"last_used_at": when("The last login or refresh of the session."),
		"expires_at":   when("When the session ends unless it is refreshed."),
		"user_agent":   inline(described(types(openapi3.TypeString), "The User-Agent of the login.")),
		"ip_address":   inline(described(types(openapi3.TypeString), "The client address of the login.")),
		"current":      inline(described(types(openapi3.TypeBoolean), "The session of the token that made this request.")),
	}, "id", "created_at", "last_used_at", "expires_at", "user_agent", "ip_address", "current"))
	items := types(openapi3.TypeArray)
	items.Items = b.ref(schemaUserRead)
	add(schemaUserPage, object(openapi3.Schemas{
		"items":  inline(described(items, "The users of the page, oldest first.")),
		"total":  inline(described(types(openapi3.TypeInteger), "How many users there are.")),
		"offset": inline(types(openapi3.TypeInteger)),
		"limit":  inline(types(openapi3.TypeInteger)),
	}, "items", "total", "offset", "limit"))

	retryAfter := &openapi3.Header{Parameter: openapi3.Parameter{
		Description: "Seconds to wait before trying again.",
		Schema:      inline(types(openapi3.TypeInteger)),
	}}
	c.Headers = openapi3.Headers{headerRetryAfter: {Value: retryAfter}}
	retry := openapi3.Headers{headerRetryAfter: {Ref: "#/components/headers/" + headerRetryAfter, Value: retryAfter}}
	c.Responses = openapi3.ResponseBodies{
		responseTooLarge: {Value: b.errorResponse("The request body is over the limit (64 KiB on keylin's routes by default).",
			example{name: "Content Too Large", detail: "Request Entity Too Large"})},
		responseThrottled: {Value: withHeaders(b.errorResponse("Too many attempts from this address or for this account: wait Retry-After seconds.",
			example{name: "Too Many Requests", detail: "Too Many Requests"}), retry)},
		responseUnavailable: {Value: withHeaders(b.errorResponse("The database is out of reach, or every password hashing slot stayed busy: try again after Retry-After seconds.",
			example{name: "Service Unavailable", detail: "Service Unavailable"}), retry)},
		responseValidation: {Value: openapi3.NewResponse().WithDescription("Validation Error: a malformed body, a missing or wrongly typed field, an invalid email.").
			WithContent(openapi3.NewContentWithJSONSchemaRef(b.ref(schemaHTTPValidationErr)))},
	}

	c.SecuritySchemes = openapi3.SecuritySchemes{
		schemeBearer: {Value: &openapi3.SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "The access token of a login, as Authorization: Bearer <token>."}},
	}
	if b.tokenURL != "" {
		c.SecuritySchemes[schemeOAuth2] = &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
			Type:        "oauth2",
			Description: "OAuth2 password flow: the login route takes username (the email) and password as a form and answers a bearer token.",
			Flows: &openapi3.OAuthFlows{Password: &openapi3.OAuthFlow{
				TokenURL: Path(b.tokenURL),
				Scopes:   map[string]string{},
			}},
		}}
	}
	if b.d.CookieName != "" {
		c.SecuritySchemes[schemeCookie] = &openapi3.SecuritySchemeRef{Value: &openapi3.SecurityScheme{
			Type: "apiKey", In: "cookie", Name: b.d.CookieName,
			Description: "The HttpOnly cookie the cookie transport's login sets.",
		}}
	}
}

// userSchemas adds the user object and the shapes of the bodies that
// create and change users: keylin's fields, then the application's as
// their descriptions say.
func (b *builder) userSchemas(add func(string, *openapi3.Schema)) {
	email := func(d string, nullable bool) *openapi3.SchemaRef {
		s := types(openapi3.TypeString)
		if nullable {
			s.Type.With(openapi3.TypeNull)
		}
		return inline(described(formatted(s, "email"), d))
	}
	password := func(d string, nullable bool) *openapi3.SchemaRef {
		s := types(openapi3.TypeString)
		if nullable {
			s.Type.With(openapi3.TypeNull)
		}
		return inline(described(formatted(s, "password"), d))
	}
	flag := func(d string, nullable bool) *openapi3.SchemaRef {
		s := types(openapi3.TypeBoolean)
		if nullable {
			s.Type.With(openapi3.TypeNull)
		}
		return inline(described(s, d))
	}

	read := openapi3.Schemas{
		"id":           inline(formatted(types(openapi3.TypeString), "uuid")),
		"email":        email("Stored with the domain lower-cased; unique ignoring case.", false),
		"is_active":    flag("An inactive user cannot log in.", false),
		"is_superuser": flag("", false),
		"is_verified":  flag("The user proved they own the email address.", false),
		"full_name":    inline(fullName()),
	}
	readRequired := []string{"id", "email", "is_active", "is_superuser", "is_verified", "full_name"}

	ignored := "Ignored: registration never sets it."
	create := openapi3.Schemas{
		"email":        email("Validated as an email address; the domain is lower-cased.", false),
		"password":     password("Checked by the server's password policy (REGISTER_INVALID_PASSWORD).", false),
		"full_name":    inline(fullName()),
		"is_active":    flag(ignored, true),
		"is_superuser": flag(ignored, true),
		"is_verified":  flag(ignored, true),
	}

	self := openapi3.Schemas{
		"password":         password("A new password; null or absent leaves it. Ends the user's other sessions.", true),
		"current_password": password("The current password, which the server may require to change the password or the email (UPDATE_USER_BAD_CURRENT_PASSWORD).", true),
		"email":            email("A new email; null or absent leaves it. A new mailbox makes the user unverified.", true),
		"full_name":        inline(described(fullName(), "null clears it.")),
		"is_active":        flag("Ignored on this route: users cannot change their own flags.", true),
		"is_superuser":     flag("Ignored on this route: users cannot change their own flags.", true),
		"is_verified":      flag("Ignored on this route: users cannot change their own flags.", true),
	}
	super := openapi3.Schemas{
		"password":     password("A new password; null or absent leaves it. Ends every session of the user.", true),
		"email":        email("A new email; null or absent leaves it.", true),
		"full_name":    inline(described(fullName(), "null clears it.")),
		"is_active":    flag("false deactivates the user and ends their sessions.", true),
		"is_superuser": flag("", true),
		"is_verified":  flag("", true),
	}

	for _, f := range b.d.Fields {
		if f.Read {
			read[f.Name] = inline(fieldSchema(f))
			readRequired = append(readRequired, f.Name)
		}
		if f.Create {
			s := fieldSchema(f)
			s.Default = f.Default
			create[f.Name] = inline(s)
		}
		if f.UpdateSelf {
			self[f.Name] = inline(fieldSchema(f))
		}
		if f.UpdateSuperuser {
			super[f.Name] = inline(fieldSchema(f))
		}
	}

	add(schemaUserRead, described(object(read, readRequired...), "The user object: every key is always present."))
	add(schemaUserCreate, described(object(create, "email", "password"),
		"Registration: a safe create. Unknown keys are ignored."))
	add(schemaUserUpdate, described(object(self),
		"A user's change to themselves (a safe update): only the keys present change. Unknown keys are ignored."))
	add(schemaUserUpdateSuper, described(object(super),
		"A superuser's change to any user: only the keys present change. Unknown keys are ignored."))
}

// withHeaders returns r with headers.
func withHeaders(r *openapi3.Response, h openapi3.Headers) *openapi3.Response {
	r.Headers = h
	return r
}
