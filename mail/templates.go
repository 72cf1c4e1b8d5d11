package mail

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"unicode"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/userschema"
)

// builtin holds the default templates, one set in English.
//
//go:embed templates
var builtin embed.FS

// kinds are the kinds of mail, each with its templates.
var kinds = []string{KindVerify, KindReset, KindExisting, KindEmailChanged}

// TemplateData is what a mail template sees (as its dot).
type TemplateData struct {
	// AppName names the service (Config.AppName, "keylin" by default).
	AppName string
	// Kind is the mail's kind: "verify", "reset", "account_exists" or
	// "email_changed".
	Kind string
	// Link is the verify or reset link, holding the token; "" in the
	// notices (account_exists, email_changed).
	Link string
	// To is the address the mail goes to: the user's, except for
	// email_changed, which goes to the old address (User.Email is the new
	// one).
	To string
	// Subject is the rendered subject, for the bodies (an HTML <title>);
	// "" in the subject's own template.
	Subject string
	// Locale is the template set chosen for the user ("fr", "pt-br"), ""
	// for the default set. See [WithLocale].
	Locale string
	// User is the user's readable fields.
	User TemplateUser
}

// TemplateUser is the user as the API shows it: keylin's readable fields
// and the application's. It holds no password hash.
type TemplateUser struct {
	ID          string // the user's id, a UUID
	Email       string
	FullName    string // "" when unset
	IsActive    bool
	IsSuperuser bool
	IsVerified  bool
	// Fields are the application's own readable fields by their API
	// names, with the API's values: string, json.Number, bool, nil (JSON
	// null), []any or map[string]any. Empty unless [WithUserSchema] or
	// [WithUserFields] says how to read them. Test a field that may be
	// null with {{with .User.Fields.nickname}}…{{end}}: text templates
	// print nil as "<no value>".
	Fields map[string]any
}

// TemplateError is a mail template that [NewHooks] refused: a file that
// does not parse, refers to data [TemplateData] does not have, is not valid
// html/template, renders a subject on several lines or has an unknown name.
// It wraps [ErrConfig]; NewHooks joins one per file at fault.
type TemplateError struct {
	// File is the template's path: joined to Config.TemplateDir
	// (MAIL_TEMPLATES), as is in the fs.FS of [WithTemplates], or
	// "built-in:NAME".
	File string
	// Err says what is wrong; the template packages' errors start with
	// the file and the line ("fr/verify.txt:3: …").
	Err error
	// setting names where the templates came from in Error.
	setting string
}

// Error returns "mail: invalid configuration: MAIL_TEMPLATES: FILE:LINE: why".
func (e *TemplateError) Error() string {
	msg := e.Err.Error()
	for _, p := range []string{"template: ", "html/template:"} {
		msg = strings.TrimPrefix(msg, p)
	}
	if !strings.HasPrefix(msg, e.File) {
		msg = e.File + ": " + msg
	}
	setting := e.setting
	if setting == "" {
		setting = "templates"
	}
	return ErrConfig.Error() + ": " + setting + ": " + msg
}

// Unwrap returns ErrConfig and the reason.
func (e *TemplateError) Unwrap() []error { return []error{ErrConfig, e.Err} }

// WithTemplates takes the mail templates from fsys instead of
// Config.TemplateDir; files it lacks fall back to the built-in ones (see
// the package documentation for the names). Use it with an embed.FS to
// ship an application's templates in its binary.
func WithTemplates(fsys fs.FS) Option {
	return func(h *Hooks) error {
		if fsys == nil {
			return errors.New("mail: WithTemplates(nil)")
		}
		h.templateFS, h.templateName, h.templateSetting = fsys, func(rel string) string { return rel }, "templates"
		return nil
	}
}

// WithLocale picks each user's template set: locale returns a locale tag
// ("fr", "pt-BR", "pt_BR"), matched case-insensitively to a subdirectory of
// the templates, then by its language alone ("pt-BR" finds "pt"). An
// empty or unknown locale gets the default set.
func WithLocale(locale func(ctx context.Context, u *authn.User) string) Option {
	return func(h *Hooks) error {
		if locale == nil {
			return errors.New("mail: WithLocale(nil)")
		}
		h.locale = locale
		return nil
	}
}

// WithUserFields gives the templates the application's readable user
// fields as .User.Fields: read returns them for a user (name → value, as
// the API shows them). sample holds every field with a typical value;
// NewHooks checks the templates against it, so that a template naming a
// field that does not exist is refused at start-up.
func WithUserFields(read func(u *authn.User) map[string]any, sample map[string]any) Option {
	return func(h *Hooks) error {
		if read == nil {
			return errors.New("mail: WithUserFields(nil, …)")
		}
		h.userFields, h.sampleFields = read, sample
		return nil
	}
}

// WithUserSchema is [WithUserFields] for the schema keylin's extension
// generates: the fields are those schema.ReadFields returns, the values
// decoded from JSON (numbers as json.Number). sample is the Extra of a
// typical user, for the start-up check: the generated store's
// PreviewExtra(nil) gives every field with its default.
func WithUserSchema(schema userschema.Schema, sample any) Option {
	return func(h *Hooks) error {
		if schema == nil {
			return errors.New("mail: WithUserSchema(nil, …)")
		}
		read := func(u *authn.User) map[string]any {
			if u.Extra == nil {
				return map[string]any{}
			}
			return decodeFields(schema.ReadFields(u.Extra))
		}
		var fields map[string]any
		if sample != nil {
			fields = decodeFields(schema.ReadFields(sample))
		}
		h.userFields, h.sampleFields = read, fields
		return nil
	}
}

// decodeFields turns the API's JSON values into template values.
func decodeFields(fv []userschema.FieldValue) map[string]any {
	m := make(map[string]any, len(fv))
	for _, f := range fv {
		d := json.NewDecoder(bytes.NewReader(f.Value))
		d.UseNumber()
		var v any
		if d.Decode(&v) == nil {
			m[f.Name] = v
		}
	}
	return m
}

// kindTemplates are the templates of one kind of mail in one set.
type kindTemplates struct {
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil: plain-text mail
	broken  bool                   // a file did not parse: nothing to run
}

// templates are the parsed template sets, by normalised locale; "" is the
// default set.
type templates map[string]map[string]*kindTemplates

// templateFile is one file of a template source.
type templateFile struct {
	name string // as errors show it
	src  string
}

// templateLoader reads the files of a template directory, lays them over
// the built-in ones and parses each once.
type templateLoader struct {
	user    map[string]templateFile // by path in the directory: "verify.txt", "fr/verify.txt"
	locales map[string]string       // normalised locale → directory name
	builtin map[string]templateFile // by file name
	setting string
	errs    map[string]error // by file name as shown, one per file
	text    map[string]*texttemplate.Template
	html    map[string]*htmltemplate.Template
}

// localeDir is what a locale directory may be called: "fr", "pt-BR",
// "zh_Hant_TW".
var localeDir = regexp.MustCompile(`^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$`)

// normLocale is a locale tag in lower case with "-" between its parts.
func normLocale(s string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
}

// templateNames are the files a template directory may hold.
func templateNames() []string {
	var names []string
	for _, k := range kinds {
		names = append(names, k+".subject.txt", k+".txt", k+".html")
	}
	return names
}

// fail records err against the file shown as name, keeping the first.
func (l *templateLoader) fail(name string, err error) {
	if _, ok := l.errs[name]; !ok {
		l.errs[name] = &TemplateError{File: name, Err: err, setting: l.setting}
	}
}

// err joins the errors recorded, in the order of the files' names.
func (l *templateLoader) err() error {
	names := make([]string, 0, len(l.errs))
	for n := range l.errs {
		names = append(names, n)
	}
	slices.Sort(names)
	errs := make([]error, len(names))
	for i, n := range names {
		errs[i] = l.errs[n]
	}
	return errors.Join(errs...)
}

// readBuiltin reads the embedded templates.
func readBuiltin() map[string]templateFile {
	m := map[string]templateFile{}
	for _, n := range templateNames() {
		b, err := builtin.ReadFile("templates/" + n)
		if err != nil {
			panic("mail: built-in template missing: " + n) // a bug in this package
		}
		m[n] = templateFile{name: "built-in:" + n, src: string(b)}
	}
	return m
}

// readDir reads the templates of fsys: template files at its root and in
// locale subdirectories. Names starting with "." are skipped; any other
// unknown file or directory is an error.
func (l *templateLoader) readDir(fsys fs.FS, show func(rel string) string) {
	known := map[string]bool{}
	for _, n := range templateNames() {
		known[n] = true
	}
	root, err := fs.ReadDir(fsys, ".")
	if err != nil {
		l.fail(show("."), err)
		return
	}
	readFile := func(rel string) {
		b, err := fs.ReadFile(fsys, rel)
		if err != nil {
			l.fail(show(rel), err)
			return
		}
		src := strings.TrimPrefix(string(b), "\ufeff") // a byte order mark some editors write
		if strings.TrimSpace(src) == "" {
			l.fail(show(rel), errors.New("is empty"))
			return
		}
		l.user[rel] = templateFile{name: show(rel), src: src}
	}
	unknown := fmt.Errorf("unknown template file: expected <kind>.subject.txt, <kind>.txt or <kind>.html with kind one of %s", strings.Join(kinds, ", "))
	for _, e := range root {
		name := e.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		fi, err := fs.Stat(fsys, name) // follows symbolic links
		switch {
		case err != nil:
			l.fail(show(name), err)
			continue
		case !fi.IsDir() && !known[name]:
			l.fail(show(name), fmt.Errorf("%w, or a locale directory such as fr or pt-BR", unknown))
			continue
		case !fi.IsDir():
			readFile(name)
			continue
		case !localeDir.MatchString(name):
			l.fail(show(name), errors.New("a directory that is not a locale such as fr or pt-BR"))
			continue
		}
		if other, ok := l.locales[normLocale(name)]; ok {
			l.fail(show(name), fmt.Errorf("the same locale as %s", show(other)))
			continue
		}
		l.locales[normLocale(name)] = name
		files, err := fs.ReadDir(fsys, name)
		if err != nil {
			l.fail(show(name), err)
			continue
		}
		for _, f := range files {
			rel := path.Join(name, f.Name())
			if strings.HasPrefix(f.Name(), ".") {
				continue
			}
			if fi, err := fs.Stat(fsys, rel); err != nil || fi.IsDir() || !known[f.Name()] {
				l.fail(show(rel), unknown)
				continue
			}
			readFile(rel)
		}
	}
}

// find returns file from the first of dirs that has it, else the
// built-in one.
func (l *templateLoader) find(file string, dirs []string) templateFile {
	for _, d := range dirs {
		if f, ok := l.user[path.Join(d, file)]; ok {
			return f
		}
	}
	return l.builtin[file]
}

// set resolves the templates of the locale directory dir ("" for the
// default set): each file from dir, else from the directory's root, else
// built in. A kind's two bodies come from the same place: the first that
// has either, where the text body is required and the HTML one optional.
func (l *templateLoader) set(dir string) map[string]*kindTemplates {
	dirs := []string{"."}
	if dir != "" {
		dirs = []string{dir, "."}
	}
	set := map[string]*kindTemplates{}
	for _, k := range kinds {
		kt := &kindTemplates{}
		kt.subject = l.parseText(l.find(k+".subject.txt", dirs))
		text, html := l.builtin[k+".txt"], l.builtin[k+".html"]
		hasHTML := true
		for _, d := range dirs {
			t, hasText := l.user[path.Join(d, k+".txt")]
			h, hasH := l.user[path.Join(d, k+".html")]
			if !hasText && !hasH {
				continue
			}
			if !hasText {
				l.fail(h.name, fmt.Errorf("has no %s beside it: a mail's text body is required, its HTML body optional", k+".txt"))
			}
			text, html, hasHTML = t, h, hasH
			break
		}
		kt.text = l.parseText(text)
		if hasHTML {
			kt.html = l.parseHTML(html)
		}
		kt.broken = kt.subject == nil || kt.text == nil || hasHTML && kt.html == nil
		set[k] = kt
	}
	return set
}

func (l *templateLoader) parseText(f templateFile) *texttemplate.Template {
	if f.name == "" {
		return nil
	}
	if t, ok := l.text[f.name]; ok {
		return t
	}
	t, err := texttemplate.New(f.name).Option("missingkey=error").Parse(f.src)
	if err != nil {
		l.fail(f.name, err)
		t = nil
	}
	l.text[f.name] = t
	return t
}

func (l *templateLoader) parseHTML(f templateFile) *htmltemplate.Template {
	if f.name == "" {
		return nil
	}
	if t, ok := l.html[f.name]; ok {
		return t
	}
	t, err := htmltemplate.New(f.name).Option("missingkey=error").Parse(f.src)
	if err != nil {
		l.fail(f.name, err)
		t = nil
	}
	l.html[f.name] = t
	return t
}

// loadTemplates reads, parses and checks the templates of fsys (nil: the
// built-in ones only), rendering each against every sample: a template
// that fails is refused now rather than when a mail is due.
func loadTemplates(fsys fs.FS, show func(string) string, setting string, samples func(kind string) []TemplateData) (templates, error) {
	l := &templateLoader{
		user: map[string]templateFile{}, locales: map[string]string{}, builtin: readBuiltin(), setting: setting,
		errs: map[string]error{}, text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{},
	}
	if fsys != nil {
		l.readDir(fsys, show)
	}
	t := templates{"": l.set("")}
	for loc, dir := range l.locales {
		t[loc] = l.set(dir)
	}
	for loc, set := range t {
		for _, k := range kinds {
			if set[k].broken {
				continue
			}
			for _, d := range samples(k) {
				d.Locale = loc
				r, err := set[k].render(d)
				var re *renderError
				switch {
				case errors.As(err, &re):
					l.fail(re.file, explain(re.err))
				case strings.ContainsAny(r.subject, "\r\n"):
					l.fail(set[k].subject.Name(), errors.New("renders a subject on more than one line"))
				case r.subject == "":
					l.fail(set[k].subject.Name(), errors.New("renders an empty subject"))
				}
			}
		}
	}
	if len(l.errs) > 0 {
		return nil, l.err()
	}
	return t, nil
}

// explain rewords html/template's error about a template that ends inside
// a tag, whose context dump helps nobody.
func explain(err error) error {
	var he *htmltemplate.Error
	if errors.As(err, &he) && he.ErrorCode == htmltemplate.ErrEndContext {
		return errors.New("is not valid html/template: it ends inside a tag, an attribute value, a comment or a script; look for a quote, a tag or a comment left open")
	}
	return err
}

// renderError is a template that failed to run.
type renderError struct {
	file string
	err  error
}

func (e *renderError) Error() string { return e.err.Error() }
func (e *renderError) Unwrap() error { return e.err }

// rendered is a mail's subject and bodies.
type rendered struct {
	subject, text, html string
}

// render runs the kind's templates on d. The subject loses its
// surrounding blanks (a file's final line break) and, for the bodies'
// .Subject, any line break the data put in it.
func (kt *kindTemplates) render(d TemplateData) (rendered, error) {
	var r rendered
	var b strings.Builder
	d.Subject = ""
	if err := kt.subject.Execute(&b, d); err != nil {
		return r, &renderError{kt.subject.Name(), err}
	}
	r.subject = strings.TrimSpace(b.String())
	d.Subject = oneLine(r.subject)
	b.Reset()
	if err := kt.text.Execute(&b, d); err != nil {
		return r, &renderError{kt.text.Name(), err}
	}
	r.text = b.String()
	if kt.html != nil {
		b.Reset()
		if err := kt.html.Execute(&b, d); err != nil {
			return r, &renderError{kt.html.Name(), err}
		}
		r.html = b.String()
	}
	return r, nil
}

// oneLine makes s fit a header: control characters (line breaks included)
// become spaces and runs of blanks one space.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
}

// pick returns the set for locale: its own, else its language's, else
// the default set; and the locale of the set ("" for the default).
func (t templates) pick(locale string) (string, map[string]*kindTemplates) {
	loc := normLocale(locale)
	if s, ok := t[loc]; ok && loc != "" {
		return loc, s
	}
	if lang, _, ok := strings.Cut(loc, "-"); ok {
		if s, ok := t[lang]; ok && lang != "" {
			return lang, s
		}
	}
	return "", t[""]
}

// sampleData are the data a kind's templates are checked with: a user
// with every optional field set, and one with none.
func sampleData(kind, appName, verifyURL, resetURL string, fields map[string]any) []TemplateData {
	l := ""
	switch kind {
	case KindVerify:
		l = link(verifyURL, "sample-token")
	case KindReset:
		l = link(resetURL, "sample-token")
	}
	if fields == nil {
		fields = map[string]any{}
	}
	full := TemplateData{AppName: appName, Kind: kind, Link: l, To: "alice@example.com", User: TemplateUser{
		ID: "5b0d3c9e-8f4a-4e55-9d1c-0a6f2d7e8b11", Email: "alice@example.com", FullName: "Alice Example",
		IsActive: true, IsSuperuser: true, IsVerified: true, Fields: fields,
	}}
	empty := full
	empty.User = TemplateUser{ID: full.User.ID, Email: full.User.Email, Fields: fields}
	return []TemplateData{full, empty}
}

// builtinTemplates are the built-in templates alone, for Hooks not made
// by NewHooks.
var builtinTemplates = sync.OnceValues(func() (templates, error) {
	return loadTemplates(nil, nil, "", func(kind string) []TemplateData {
		return sampleData(kind, "keylin", "https://example.com/?token={token}", "https://example.com/?token={token}", nil)
	})
})

// dirName shows rel as a path under dir.
func dirName(dir string) func(string) string {
	return func(rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }
}
