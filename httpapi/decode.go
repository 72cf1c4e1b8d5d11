package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
)

// errTooLarge is a body over the API's limit.
var errTooLarge = errors.New("request body too large")

// readBody reads the request body, at most a.maxBody bytes.
func (a *API) readBody(c echo.Context) ([]byte, error) {
	r := c.Request()
	if r.ContentLength > a.maxBody {
		return nil, errTooLarge
	}
	b, err := io.ReadAll(http.MaxBytesReader(c.Response().Writer, r.Body, a.maxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errTooLarge
	}
	return b, err
}

// jsonBody is a decoded JSON object body and the validation errors found
// while reading its fields, in FastAPI's form.
type jsonBody struct {
	fields map[string]json.RawMessage
	errs   []fieldError
}

// readJSON reads a JSON object body. When it returns false it has answered
// the request already (413, 422, or 500 for a read error).
func (a *API) readJSON(c echo.Context) (*jsonBody, bool) {
	b, err := a.readBody(c)
	if err != nil {
		return nil, a.writeBodyError(c, err)
	}
	if !isJSON(c.Request().Header.Get(echo.HeaderContentType)) {
		return nil, writeNotObject(c)
	}
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
		_ = writeValidation(c, []fieldError{{Loc: []any{"body"}, Type: "missing", Msg: "Field required"}})
		return nil, false
	case !json.Valid(b):
		_ = writeValidation(c, []fieldError{{Loc: []any{"body"}, Type: "json_invalid", Msg: "JSON decode error"}})
		return nil, false
	case b[0] != '{':
		return nil, writeNotObject(c)
	}
	jb := &jsonBody{}
	if err := json.Unmarshal(b, &jb.fields); err != nil {
		return nil, writeNotObject(c)
	}
	return jb, true
}

// writeBodyError answers a failed body read and returns false.
func (a *API) writeBodyError(c echo.Context, err error) bool {
	if errors.Is(err, errTooLarge) {
		_ = writeStatus(c, http.StatusRequestEntityTooLarge)
		return false
	}
	// The client went away or stalled: its mistake, not ours.
	a.log.WarnContext(c.Request().Context(), "reading request body failed", "path", c.Request().URL.Path, "error", err)
	_ = writeStatus(c, http.StatusBadRequest)
	return false
}

func writeNotObject(c echo.Context) bool {
	_ = writeValidation(c, []fieldError{{Loc: []any{"body"}, Type: "model_attributes_type",
		Msg: "Input should be a valid dictionary or object to extract fields from"}})
	return false
}

// isJSON reports whether a Content-Type is read as JSON: none at all (as
// FastAPI does), application/json or application/*+json, any parameters.
func isJSON(contentType string) bool {
	if contentType == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// isForm reports whether a Content-Type is a form: URL-encoded or
// multipart.
func isForm(contentType string) bool {
	mt, _, _ := mime.ParseMediaType(contentType)
	return mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
}

// done answers 422 if a field was invalid and reports whether the body is
// valid.
func (jb *jsonBody) done(c echo.Context) bool {
	if len(jb.errs) == 0 {
		return true
	}
	_ = writeValidation(c, jb.errs)
	return false
}

func (jb *jsonBody) fail(field, typ, msg string) {
	jb.errs = append(jb.errs, fieldError{Loc: []any{"body", field}, Type: typ, Msg: msg})
}

// schemaErrors records the application fields' validation errors.
func (jb *jsonBody) schemaErrors(errs []userschema.FieldError) {
	for _, e := range errs {
		jb.fail(e.Field, e.Type, e.Msg)
	}
}

// has reports whether the field is in the body, null included.
func (jb *jsonBody) has(field string) bool {
	_, ok := jb.fields[field]
	return ok
}

// raw returns the field's JSON, and false when it is absent or null. An
// absent required field is recorded as missing, a null one as wrongly typed.
func (jb *jsonBody) raw(field string, required bool, nullType, nullMsg string) (json.RawMessage, bool) {
	v, ok := jb.fields[field]
	switch {
	case !ok && required:
		jb.fail(field, "missing", "Field required")
	case ok && string(v) == "null":
		if required {
			jb.fail(field, nullType, nullMsg)
		}
	case ok:
		return v, true
	}
	return nil, false
}

// str reads a string field; nil when absent, null or invalid. maxLen, when
// positive, bounds its length in characters.
func (jb *jsonBody) str(field string, required bool, maxLen int) *string {
	const typ, msg = "string_type", "Input should be a valid string"
	v, ok := jb.raw(field, required, typ, msg)
	if !ok {
		return nil
	}
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		jb.fail(field, typ, msg)
		return nil
	}
	if field != "password" && strings.ContainsRune(s, 0) {
		// PostgreSQL text cannot hold NUL; refuse it here rather than fail
		// in the database. Passwords are only ever hashed.
		jb.fail(field, "string_type", "String should not contain NUL characters")
		return nil
	}
	if maxLen > 0 && utf8.RuneCountInString(s) > maxLen {
		jb.fail(field, "string_too_long", fmt.Sprintf("String should have at most %d characters", maxLen))
		return nil
	}
	return &s
}

// email reads an email field, validated and normalised by
// authn.NormalizeEmail.
func (jb *jsonBody) email(field string, required bool) *string {
	s := jb.str(field, required, 0)
	if s == nil {
		return nil
	}
	e, err := authn.NormalizeEmail(*s)
	if err != nil {
		jb.errs = append(jb.errs, invalidEmail("body", field))
		return nil
	}
	return &e
}

// boolean reads an optional boolean field (JSON true or false); nil when
// absent, null or invalid.
func (jb *jsonBody) boolean(field string) *bool {
	v, ok := jb.raw(field, false, "", "")
	if !ok {
		return nil
	}
	var b bool
	if json.Unmarshal(v, &b) != nil {
		jb.fail(field, "bool_type", "Input should be a valid boolean")
		return nil
	}
	return &b
}

// readForm reads an application/x-www-form-urlencoded or multipart/form-data
// body. Any other content type reads as an empty form, as in Starlette.
// When it returns false it has answered the request already.
func (a *API) readForm(c echo.Context) (url.Values, bool) {
	r := c.Request()
	mt, params, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	switch mt {
	case "application/x-www-form-urlencoded":
		b, err := a.readBody(c)
		if err != nil {
			return nil, a.writeBodyError(c, err)
		}
		v, _ := url.ParseQuery(string(b)) // keeps what parses, as Starlette does
		return v, true
	case "multipart/form-data":
		b, err := a.readBody(c)
		if err != nil {
			return nil, a.writeBodyError(c, err)
		}
		form, err := multipart.NewReader(bytes.NewReader(b), params["boundary"]).ReadForm(a.maxBody)
		if err != nil {
			_ = writeValidation(c, []fieldError{{Loc: []any{"body"}, Type: "value_error", Msg: "Invalid multipart form"}})
			return nil, false
		}
		defer func() { _ = form.RemoveAll() }()
		return url.Values(form.Value), true
	}
	return url.Values{}, true
}
