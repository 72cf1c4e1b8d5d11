package mail_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/mail"
	"github.com/keylin/keylin/userschema"
)

var allKinds = []string{mail.KindVerify, mail.KindReset, mail.KindExisting, mail.KindEmailChanged}

// sendKind makes h send the mail of kind to u, as the Manager would.
func sendKind(t *testing.T, h *mail.Hooks, kind string, u *authn.User, token string) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch kind {
	case mail.KindVerify:
		err = h.AfterRequestVerify(ctx, u, token)
	case mail.KindReset:
		err = h.AfterForgotPassword(ctx, u, token)
	case mail.KindExisting:
		err = h.AfterRegisterExisting(ctx, u)
	case mail.KindEmailChanged:
		moved := *u
		moved.Email = "alice@new.example.org"
		err = h.AfterEmailChanged(ctx, &moved, u.Email)
	}
	if err != nil {
		t.Fatalf("%s: %v", kind, err)
	}
}

// readMails returns the lines of a file transport's file.
func readMails(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]string
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fileHooks returns hooks writing to a new file transport, and its path.
func fileHooks(t *testing.T, cfg mail.Config, opts ...mail.Option) (*mail.Hooks, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "mail.jsonl")
	cfg.URL = "file:" + path
	return MustNewHooks(t, cfg, opts...), path
}

// builtinFile reads one of the built-in templates from the package's
// source.
func builtinFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("templates", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTemplatesDefaults renders every built-in template, through the file
// transport, for each kind: with their HTML bodies, and as a text-only
// set (the built-in text bodies in a directory without the HTML ones).
func TestTemplatesDefaults(t *testing.T) {
	const token = "a b&c<\"'>"
	const escaped = "a+b%26c%3C%22%27%3E"
	links := map[string]string{
		mail.KindVerify: "https://app.example.com/verify?token=" + escaped,
		mail.KindReset:  "https://app.example.com/reset?token=" + escaped,
	}
	subjects := map[string]string{
		mail.KindVerify:       "Verify your e-mail address for Shop",
		mail.KindReset:        "Reset your Shop password",
		mail.KindExisting:     "Sign-up attempt with your Shop address",
		mail.KindEmailChanged: "The e-mail address of your Shop account changed",
	}
	textOnly := fstest.MapFS{}
	for _, k := range allKinds {
		textOnly[k+".txt"] = &fstest.MapFile{Data: []byte(builtinFile(t, k+".txt"))}
	}
	for _, tt := range []struct {
		name string
		opts []mail.Option
		html bool
	}{
		{"WithHTML", nil, true},
		{"TextOnly", []mail.Option{mail.WithTemplates(textOnly)}, false},
	} {
		for _, named := range []bool{true, false} {
			name := tt.name + "/Anonymous"
			if named {
				name = tt.name + "/Named"
			}
			t.Run(name, func(t *testing.T) {
				h, path := fileHooks(t, mail.Config{AppName: "Shop"}, tt.opts...)
				u := testUser()
				if named {
					full := "Zoë <Ünïcode> & Co"
					u.FullName = &full
				}
				for _, k := range allKinds {
					sendKind(t, h, k, u, token)
				}
				mails := readMails(t, path)
				if len(mails) != len(allKinds) {
					t.Fatalf("%d mails, want %d", len(mails), len(allKinds))
				}
				for i, k := range allKinds {
					m := mails[i]
					if m["kind"] != k || m["to"] != "alice@example.com" || m["subject"] != subjects[k] || m["link"] != links[k] {
						t.Errorf("%s: kind %q to %q subject %q link %q", k, m["kind"], m["to"], m["subject"], m["link"])
					}
					if (m["token"] != "") != (links[k] != "") {
						t.Errorf("%s: token %q", k, m["token"])
					}
					body := m["body"]
					greeting := "Hello,\n"
					if named {
						greeting = "Hello Zoë <Ünïcode> & Co,\n"
					}
					if !strings.HasPrefix(body, greeting) || !strings.Contains(body, "Shop") || strings.Contains(body, "keylin") {
						t.Errorf("%s: body does not greet %q or name the app:\n%s", k, greeting, body)
					}
					if links[k] != "" && !strings.Contains(body, "\n"+links[k]+"\n") {
						t.Errorf("%s: body lacks the link on its own line:\n%s", k, body)
					}
					for _, s := range []string{body, m["html"]} {
						if strings.Contains(s, "<no value>") || strings.Contains(s, "{{") || strings.Contains(s, "sample") {
							t.Errorf("%s: unrendered data in\n%s", k, s)
						}
					}
					html := m["html"]
					if !tt.html {
						if html != "" {
							t.Errorf("%s: an HTML body in a text-only set:\n%s", k, html)
						}
						continue
					}
					for _, want := range []string{
						"<!DOCTYPE html>", `<html lang="en">`, `<meta charset="utf-8">`, "<title>" + strings.ReplaceAll(subjects[k], "'", "&#39;") + "</title>", ">Shop</p>",
					} {
						if !strings.Contains(html, want) {
							t.Errorf("%s: HTML lacks %q:\n%s", k, want, html)
						}
					}
					if named && !strings.Contains(html, "Hello Zoë &lt;Ünïcode&gt; &amp; Co,") {
						t.Errorf("%s: HTML does not greet by the escaped name:\n%s", k, html)
					}
					if links[k] != "" {
						// html/template escapes the link for an attribute and for text.
						esc := strings.ReplaceAll(links[k], "+", "&#43;")
						if !strings.Contains(html, `<a href="`+esc+`"`) || !strings.Contains(html, ">"+esc+"</a>") {
							t.Errorf("%s: HTML lacks the link %q:\n%s", k, esc, html)
						}
					}
					// Nothing fetched from elsewhere: no image, stylesheet, script or font.
					for _, banned := range []string{"<img", "<link", "<script", "<style", "url(", "src=", "@import"} {
						if strings.Contains(html, banned) {
							t.Errorf("%s: HTML holds %q", k, banned)
						}
					}
				}
			})
		}
	}
}

// TestTemplatesOverride: a directory replaces the files it has, the rest
// stay built in; a kind's bodies come from one place.
func TestTemplatesOverride(t *testing.T) {
	t.Run("OneFile", func(t *testing.T) {
		h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(fstest.MapFS{
			"reset.subject.txt": {Data: []byte("\ufeff{{.AppName}}: choose a new password for {{.User.Email}}\r\n")},
		}))
		sendKind(t, h, mail.KindReset, testUser(), "tok")
		sendKind(t, h, mail.KindVerify, testUser(), "tok")
		mails := readMails(t, path)
		if got := mails[0]["subject"]; got != "keylin: choose a new password for alice@example.com" {
			t.Errorf("overridden subject %q", got)
		}
		if !strings.Contains(mails[0]["body"], "To choose a new password, open this link:") || mails[0]["html"] == "" {
			t.Errorf("the built-in bodies did not stay: %v", mails[0])
		}
		if got := mails[1]["subject"]; got != "Verify your e-mail address for keylin" {
			t.Errorf("verify subject %q", got)
		}
	})
	t.Run("TextBodyWithoutHTML", func(t *testing.T) {
		// verify.txt alone: a text-only verify mail, not the built-in HTML
		// beside a text that says something else.
		h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(fstest.MapFS{
			"verify.txt": {Data: []byte("Welcome aboard! Confirm here: {{.Link}}\n")},
		}))
		sendKind(t, h, mail.KindVerify, testUser(), "tok")
		m := readMails(t, path)[0]
		if m["body"] != "Welcome aboard! Confirm here: https://app.example.com/verify?token=tok\n" || m["html"] != "" {
			t.Errorf("body %q html %q", m["body"], m["html"])
		}
		if m["subject"] != "Verify your e-mail address for keylin" {
			t.Errorf("subject %q", m["subject"])
		}
	})
	t.Run("Directory", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"verify.txt":  "Text {{.Link}}\n",
			"verify.html": `<p>HTML <a href="{{.Link}}">verify</a></p>`,
			".gitkeep":    "",
		})
		h, path := fileHooks(t, mail.Config{TemplateDir: dir, VerifyURL: "https://app.example.com/v?lang=en&token={token}"})
		sendKind(t, h, mail.KindVerify, testUser(), "tok")
		m := readMails(t, path)[0]
		if m["body"] != "Text https://app.example.com/v?lang=en&token=tok\n" ||
			m["html"] != `<p>HTML <a href="https://app.example.com/v?lang=en&amp;token=tok">verify</a></p>` {
			t.Errorf("body %q html %q", m["body"], m["html"])
		}
	})
	t.Run("WithTemplatesWinsOverTemplateDir", func(t *testing.T) {
		h, path := fileHooks(t, mail.Config{TemplateDir: filepath.Join(t.TempDir(), "missing")},
			mail.WithTemplates(fstest.MapFS{"reset.subject.txt": {Data: []byte("From the FS")}}))
		sendKind(t, h, mail.KindReset, testUser(), "tok")
		if s := readMails(t, path)[0]["subject"]; s != "From the FS" {
			t.Errorf("subject %q", s)
		}
	})
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTemplatesLocale: WithLocale picks a locale's directory, then its
// language's, then the default set; each file falls back to the root,
// then to the built-in one.
func TestTemplatesLocale(t *testing.T) {
	fsys := fstest.MapFS{
		"verify.subject.txt":    {Data: []byte("Root subject [{{.Locale}}]\n")},
		"fr/verify.subject.txt": {Data: []byte("Vérifiez votre adresse pour {{.AppName}}\n")},
		"fr/verify.txt":         {Data: []byte("Bonjour,\n\n{{.Link}}\n")},
		"fr/verify.html":        {Data: []byte(`<p lang="fr">Bonjour, <a href="{{.Link}}">vérifiez</a></p>`)},
		"pt/verify.txt":         {Data: []byte("Olá ({{.Locale}}), {{.Link}}\n")},
		"fr/.DS_Store":          {Data: []byte("junk")},
	}
	locales := map[string]string{}
	h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(fsys), mail.WithLocale(func(ctx context.Context, u *authn.User) string {
		return locales[u.Email]
	}))
	const link = "https://app.example.com/verify?token=tok"
	for _, tt := range []struct {
		locale                 string
		subject, body, htmlHas string // htmlHas "" for no HTML body
	}{
		{"fr", "Vérifiez votre adresse pour keylin", "Bonjour,\n\n" + link + "\n", `<p lang="fr">Bonjour`},
		{"FR_ca", "Vérifiez votre adresse pour keylin", "Bonjour,\n\n" + link + "\n", `<p lang="fr">Bonjour`},
		{"pt-BR", "Root subject [pt]", "Olá (pt), " + link + "\n", ""},
		{"de", "Root subject []", "", `<html lang="en">`},
		{"", "Root subject []", "", `<html lang="en">`},
	} {
		t.Run("Locale="+tt.locale, func(t *testing.T) {
			u := testUser()
			u.Email = "user-" + tt.locale + "@example.com"
			locales[u.Email] = tt.locale
			before := len(readMails(t, path))
			sendKind(t, h, mail.KindVerify, u, "tok")
			m := readMails(t, path)[before]
			if m["subject"] != tt.subject {
				t.Errorf("subject %q, want %q", m["subject"], tt.subject)
			}
			if tt.body != "" && m["body"] != tt.body {
				t.Errorf("body %q, want %q", m["body"], tt.body)
			}
			if tt.body == "" && !strings.Contains(m["body"], "To confirm your e-mail address for keylin") {
				t.Errorf("body %q, want the built-in one", m["body"])
			}
			if (tt.htmlHas == "") != (m["html"] == "") || !strings.Contains(m["html"], tt.htmlHas) {
				t.Errorf("html %q, want one holding %q", m["html"], tt.htmlHas)
			}
		})
	}
	t.Run("KindTheLocaleLacks", func(t *testing.T) {
		u := testUser()
		u.Email = "fr-reset@example.com"
		locales[u.Email] = "fr"
		before := len(readMails(t, path))
		sendKind(t, h, mail.KindReset, u, "tok")
		if m := readMails(t, path)[before]; m["subject"] != "Reset your keylin password" || m["html"] == "" {
			t.Errorf("reset mail of a French user %v, want the built-in one", m)
		}
	})
}

// TestTemplatesRefused: NewHooks refuses a broken template with an error
// naming the file and, when known, the line.
func TestTemplatesRefused(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		opts  []mail.Option
		want  []string // in the error
	}{
		{"ParseError", map[string]string{"verify.txt": "Hello,\n{{.Link\n"}, nil, []string{"verify.txt:3:", "unclosed action started at", "verify.txt:2"}},
		{"UnknownFunction", map[string]string{"reset.txt": "{{upper .Link}}\n"}, nil, []string{"reset.txt:1:", `function "upper" not defined`}},
		{"UnknownField", map[string]string{"reset.txt": "Hi,\n\n{{.User.Phone}}\n"}, nil, []string{"reset.txt:3:", "Phone"}},
		{"PasswordHash", map[string]string{"reset.txt": "{{.User.HashedPassword}}\n"}, nil, []string{"reset.txt:1:", "HashedPassword"}},
		{"UnknownFieldInABranch", map[string]string{"verify.txt": "{{if .User.FullName}}Hi{{else}}Hi {{.User.Nmae}}{{end}}\n"}, nil, []string{"verify.txt:1:", "Nmae"}},
		{"UnknownUserField", map[string]string{"verify.txt": "{{.User.Fields.plan}}\n"}, nil, []string{"verify.txt:1:", `no entry for key "plan"`}},
		{"UnknownUserFieldWithSchema", map[string]string{"verify.txt": "{{.User.Fields.plna}}\n"},
			[]mail.Option{mail.WithUserSchema(planSchema{}, &planExtra{Plan: "free"})}, []string{"verify.txt:1:", `no entry for key "plna"`}},
		{"BadHTML", map[string]string{"verify.txt": "{{.Link}}\n", "verify.html": "<p>\n<a href=\"{{.Link}}>open</a>\n"}, nil, []string{"verify.html", "not valid html/template", "left open"}},
		{"HTMLParseError", map[string]string{"verify.txt": "{{.Link}}\n", "verify.html": "<p>\n\n{{end}}</p>"}, nil, []string{"verify.html:3:", "unexpected {{end}}"}},
		{"HTMLUnknownField", map[string]string{"verify.txt": "{{.Link}}\n", "verify.html": "<p>{{.Url}}</p>"}, nil, []string{"verify.html:1:", "Url"}},
		{"MultilineSubject", map[string]string{"verify.subject.txt": "Verify\nyour address\n"}, nil, []string{"verify.subject.txt", "more than one line"}},
		{"SubjectNewlineAction", map[string]string{"verify.subject.txt": `Verify{{"\r\n"}}Bcc: eve@example.com`}, nil, []string{"verify.subject.txt", "more than one line"}},
		{"EmptySubject", map[string]string{"reset.subject.txt": "{{.User.FullName}}\n"}, nil, []string{"reset.subject.txt", "empty subject"}},
		{"EmptyFile", map[string]string{"verify.txt": " \n"}, nil, []string{"verify.txt", "is empty"}},
		{"UnknownFile", map[string]string{"verfy.txt": "{{.Link}}"}, nil, []string{"verfy.txt", "unknown template file"}},
		{"HTMLWithoutText", map[string]string{"fr/verify.html": "<p>{{.Link}}</p>"}, nil, []string{"fr/verify.html", "has no verify.txt beside it"}},
		{"LocaleFile", map[string]string{"fr/verify.txt": "Bonjour,\n{{.Lien}}\n"}, nil, []string{"fr/verify.txt:2:", "Lien"}},
		{"NotALocale", map[string]string{"my mails/verify.txt": "x"}, nil, []string{"my mails", "not a locale"}},
		{"NestedDirectory", map[string]string{"fr/old/verify.txt": "x"}, nil, []string{"fr/old", "unknown template file"}},
		{"SameLocaleTwice", map[string]string{"pt_BR/verify.txt": "x", "pt-br/verify.txt": "y"}, nil, []string{"same locale"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			cfg := mail.Config{URL: "console:", From: "keylin@example.com", VerifyURL: "https://app.example.com/verify?token={token}",
				ResetURL: "https://app.example.com/reset?token={token}", TemplateDir: dir}
			_, err := mail.NewHooks(cfg, tt.opts...)
			if err == nil {
				t.Fatal("NewHooks accepted the templates")
			}
			var te *mail.TemplateError
			if !errors.Is(err, mail.ErrConfig) || !errors.As(err, &te) {
				t.Fatalf("error %q (%T): want ErrConfig and a *TemplateError", err, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "mail: invalid configuration: MAIL_TEMPLATES: "+dir+string(filepath.Separator)) {
				t.Errorf("error %q does not name MAIL_TEMPLATES and a file under %s", msg, dir)
			}
			if !strings.HasPrefix(te.File, dir) {
				t.Errorf("TemplateError.File = %q", te.File)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, filepath.FromSlash(w)) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error on several lines: %q", msg)
			}
		})
	}
	t.Run("EveryFileAtFault", func(t *testing.T) {
		_, err := mail.NewHooks(validConfig(), mail.WithTemplates(fstest.MapFS{
			"verify.txt":    {Data: []byte("{{.Nope}}")},
			"fr/reset.html": {Data: []byte("<p>{{.Link}}</p>")},
			"reset.txt":     {Data: []byte("{{")},
		}))
		for _, w := range []string{"verify.txt:1:", "fr/reset.html", "reset.txt:1:"} {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("error %v does not name %s", err, w)
			}
		}
		if err != nil && !strings.HasPrefix(err.Error(), "mail: invalid configuration: templates: ") {
			t.Errorf("error %q: want the source named \"templates\"", err)
		}
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		cfg := validConfig()
		cfg.TemplateDir = filepath.Join(t.TempDir(), "missing")
		if _, err := mail.NewHooks(cfg); !errors.Is(err, mail.ErrConfig) || !strings.Contains(fmtErr(err), "MAIL_TEMPLATES") {
			t.Fatalf("NewHooks = %v, want ErrConfig naming MAIL_TEMPLATES", err)
		}
	})
	t.Run("NilOptions", func(t *testing.T) {
		for name, o := range map[string]mail.Option{
			"WithTemplates":  mail.WithTemplates(nil),
			"WithLocale":     mail.WithLocale(nil),
			"WithUserFields": mail.WithUserFields(nil, nil),
			"WithUserSchema": mail.WithUserSchema(nil, nil),
		} {
			if _, err := mail.NewHooks(validConfig(), o); err == nil {
				t.Errorf("%s(nil) accepted", name)
			}
		}
	})
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func validConfig() mail.Config {
	return mail.Config{URL: "console:", From: "keylin@example.com", VerifyURL: "https://app.example.com/verify?token={token}",
		ResetURL: "https://app.example.com/reset?token={token}"}
}

// planExtra and planSchema play an application's user fields and the
// schema keylin's extension would generate for them.
type planExtra struct {
	Plan     string
	Credits  int64
	Nickname *string
	Secret   string // not readable
}

type planSchema struct{ userschema.Schema }

func (planSchema) ReadFields(extra any) []userschema.FieldValue {
	x, _ := extra.(*planExtra)
	if x == nil {
		return nil
	}
	plan, _ := json.Marshal(x.Plan)
	credits, _ := json.Marshal(x.Credits)
	nick, _ := json.Marshal(x.Nickname)
	return []userschema.FieldValue{{Name: "plan", Value: plan}, {Name: "credits", Value: credits}, {Name: "nickname", Value: nick}}
}

// TestTemplatesUserFields: the application's readable fields reach the
// templates with the API's values, and nothing else does.
func TestTemplatesUserFields(t *testing.T) {
	tmpl := fstest.MapFS{
		"verify.txt": {Data: []byte("{{.User.Fields.plan}} {{.User.Fields.credits}} {{with .User.Fields.nickname}}{{.}}{{else}}(no nickname){{end}}\n{{.Link}}\n")},
	}
	u := testUser()
	u.Extra = &planExtra{Plan: "pro", Credits: 12345678901234567, Secret: "s3cret"}
	t.Run("WithUserSchema", func(t *testing.T) {
		h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(tmpl), mail.WithUserSchema(planSchema{}, &planExtra{}))
		sendKind(t, h, mail.KindVerify, u, "tok")
		nick := "Ali"
		u2 := *u
		u2.Extra = &planExtra{Plan: "free", Nickname: &nick}
		sendKind(t, h, mail.KindVerify, &u2, "tok")
		mails := readMails(t, path)
		if b := mails[0]["body"]; !strings.HasPrefix(b, "pro 12345678901234567 (no nickname)\n") {
			t.Errorf("body %q", b)
		}
		if b := mails[1]["body"]; !strings.HasPrefix(b, "free 0 Ali\n") {
			t.Errorf("body %q", b)
		}
	})
	t.Run("WithUserFields", func(t *testing.T) {
		read := func(u *authn.User) map[string]any {
			x := u.Extra.(*planExtra)
			return map[string]any{"plan": x.Plan, "credits": x.Credits, "nickname": x.Nickname}
		}
		h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(tmpl),
			mail.WithUserFields(read, map[string]any{"plan": "free", "credits": 0, "nickname": nil}))
		sendKind(t, h, mail.KindVerify, u, "tok")
		if b := readMails(t, path)[0]["body"]; !strings.HasPrefix(b, "pro 12345678901234567 (no nickname)\n") {
			t.Errorf("body %q", b)
		}
	})
	t.Run("RefusedWithoutASample", func(t *testing.T) {
		// No sample user: the fields are unknown, the template is refused.
		_, err := mail.NewHooks(validConfig(), mail.WithTemplates(tmpl), mail.WithUserSchema(planSchema{}, nil))
		if !errors.Is(err, mail.ErrConfig) || !strings.Contains(fmtErr(err), `no entry for key "plan"`) {
			t.Fatalf("NewHooks = %v", err)
		}
	})
	t.Run("UnreadableFieldRefused", func(t *testing.T) {
		_, err := mail.NewHooks(validConfig(), mail.WithUserSchema(planSchema{}, &planExtra{}), mail.WithTemplates(fstest.MapFS{
			"verify.txt": {Data: []byte("{{.User.Fields.Secret}}{{.User.Fields.secret}}\n")},
		}))
		if err == nil {
			t.Fatal("a template reading a field the API does not show was accepted")
		}
	})
}

// TestTemplatesHeaderSafety: line breaks a user's data puts in a subject
// become spaces, and the mail goes out with a one-line subject.
func TestTemplatesHeaderSafety(t *testing.T) {
	h, path := fileHooks(t, mail.Config{}, mail.WithTemplates(fstest.MapFS{
		"reset.subject.txt": {Data: []byte("Hi {{.User.Email}}, {{if .User.FullName}}{{.User.FullName}}{{else}}there{{end}}: reset\n")},
	}))
	u := testUser()
	evil := "Eve\r\nBcc: victim@example.org\x00\t!"
	u.FullName = &evil
	sendKind(t, h, mail.KindReset, u, "tok")
	m := readMails(t, path)[0]
	if m["subject"] != "Hi alice@example.com, Eve Bcc: victim@example.org !: reset" {
		t.Fatalf("subject %q", m["subject"])
	}
	// The default HTML <title> gets the same one-line subject.
	h2, path2 := fileHooks(t, mail.Config{}, mail.WithTemplates(fstest.MapFS{
		"reset.subject.txt": {Data: []byte("Reset for {{.User.FullName}}\n")},
		"reset.txt":         {Data: []byte("{{.Subject}}\n")},
	}))
	named := "Ann"
	u.FullName = &named
	sendKind(t, h2, mail.KindReset, u, "tok")
	u.FullName = &evil
	sendKind(t, h2, mail.KindReset, u, "tok")
	mails := readMails(t, path2)
	if mails[1]["body"] != "Reset for Eve Bcc: victim@example.org !\n" {
		t.Fatalf("body %q", mails[1]["body"])
	}
}

// TestHooksRender: Render gives the Message a wrapper needs, and the
// deprecated Message still renders the default set.
func TestHooksRender(t *testing.T) {
	h := MustNewHooks(t, mail.Config{}, mail.WithSender(&recorder{}))
	full := "Alice"
	u := testUser()
	u.FullName = &full
	m, err := h.Render(context.Background(), mail.KindReset, u, u.Email, "tok")
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != mail.KindReset || m.To != u.Email || m.Token != "tok" || m.Link != "https://app.example.com/reset?token=tok" ||
		!strings.HasPrefix(m.Body, "Hello Alice,") || !strings.Contains(m.HTML, "Hello Alice,") {
		t.Errorf("Render = %+v", m)
	}
	m, err = h.Message(mail.KindVerify, "bob@example.com", "tok")
	if err != nil || m.To != "bob@example.com" || !strings.HasPrefix(m.Body, "Hello,") || m.Link == "" {
		t.Errorf("Message = %+v, %v", m, err)
	}
	n, err := h.Render(context.Background(), mail.KindExisting, u, u.Email, "ignored")
	if err != nil || n.Token != "" || n.Link != "" {
		t.Errorf("notice = %+v, %v", n, err)
	}
	if _, err := h.Render(context.Background(), "welcome", u, u.Email, ""); !errors.Is(err, mail.ErrInvalidMessage) {
		t.Errorf("unknown kind: %v", err)
	}
	// Hooks made without NewHooks use the built-in templates.
	lit := &mail.Hooks{Sender: &recorder{}, From: "keylin@example.com", AppName: "Lit", ResetURL: "https://x.example/{token}"}
	if m, err := lit.Render(context.Background(), mail.KindReset, u, u.Email, "t"); err != nil || m.Subject != "Reset your Lit password" || m.HTML == "" {
		t.Errorf("literal Hooks: %+v, %v", m, err)
	}
}
