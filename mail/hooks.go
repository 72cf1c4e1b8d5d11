package mail

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/keylin/keylin/authn"
)

// Hooks implements [authn.Hooks]: AfterRequestVerify and AfterForgotPassword
// mail the token's link to the user; AfterRegisterExisting tells the owner
// of an address that somebody tried to register with it (quiet
// registration), and AfterEmailChanged tells the old address that the
// account's email changed. The other hooks are [authn.NopHooks]'. Build it
// with [NewHooks].
//
// A failed send is the hook's error: the Manager logs it and keeps the user
// and the token, and the user can ask again.
//
// Subjects and bodies come from templates (see the package
// documentation): the built-in ones, or those of Config.TemplateDir
// (MAIL_TEMPLATES) or [WithTemplates], parsed and checked by NewHooks.
//
// To deliver mail another way, keep the messages and swap the transport
// with [WithSender], or wrap the hooks and override what you need:
//
//	type appHooks struct{ *mail.Hooks }
//
//	func (h appHooks) AfterForgotPassword(ctx context.Context, u *authn.User, token string) error {
//		m, err := h.Render(ctx, mail.KindReset, u, u.Email, token)
//		if err != nil {
//			return err
//		}
//		return myQueue.Enqueue(ctx, m)
//	}
type Hooks struct {
	authn.NopHooks
	// Sender delivers the messages.
	Sender Sender
	// From is the sender's address (MAIL_FROM).
	From string
	// AppName names the service in subjects and bodies.
	AppName string
	// VerifyURL and ResetURL are the link templates; {token} is replaced by
	// the query-escaped token.
	VerifyURL, ResetURL string
	// Logger gets one line per mail sent, without token or link.
	Logger *slog.Logger

	templates       templates // nil: the built-in ones
	templateFS      fs.FS
	templateName    func(rel string) string
	templateSetting string
	locale          func(context.Context, *authn.User) string
	userFields      func(*authn.User) map[string]any
	sampleFields    map[string]any
}

var _ authn.Hooks = (*Hooks)(nil)

// Option configures [NewHooks]; a bad option fails NewHooks.
type Option func(*Hooks) error

// WithSender replaces the transport that cfg.URL would choose; cfg.URL is
// then ignored. Use it to deliver through another service, or in tests.
func WithSender(s Sender) Option {
	return func(h *Hooks) error {
		if s == nil {
			return errors.New("mail: WithSender(nil)")
		}
		h.Sender = s
		return nil
	}
}

// NewHooks validates cfg and returns the hooks that mail tokens through the
// transport of cfg.URL (see [NewSender]). Errors wrap [ErrConfig] and name
// the variable at fault: MAIL_URL, MAIL_FROM, VERIFY_URL (which must be an
// absolute http(s) URL containing {token}), RESET_PASSWORD_URL (likewise)
// or MAIL_TEMPLATES (cfg.TemplateDir, which must be a directory).
//
// NewHooks parses every template and renders it against sample data: a
// template that does not parse, names data [TemplateData] lacks (a user
// field included: see [WithUserSchema]), is not valid html/template or
// renders a subject on several lines is refused with a [*TemplateError]
// naming the file and, when known, the line; one per file at fault.
func NewHooks(cfg Config, opts ...Option) (*Hooks, error) {
	if err := CheckFrom(cfg.From); err != nil {
		return nil, fmt.Errorf("%w: MAIL_FROM %w", ErrConfig, err)
	}
	if err := checkTemplate("VERIFY_URL", cfg.VerifyURL); err != nil {
		return nil, err
	}
	if err := checkTemplate("RESET_PASSWORD_URL", cfg.ResetURL); err != nil {
		return nil, err
	}
	h := &Hooks{From: cfg.From, AppName: cfg.AppName, VerifyURL: cfg.VerifyURL, ResetURL: cfg.ResetURL, Logger: cfg.Logger}
	if h.AppName == "" {
		h.AppName = "keylin"
	}
	if h.Logger == nil {
		h.Logger = slog.Default()
	}
	for _, o := range opts {
		if err := o(h); err != nil {
			return nil, err
		}
	}
	if h.templateFS == nil && cfg.TemplateDir != "" {
		if fi, err := os.Stat(cfg.TemplateDir); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%w: MAIL_TEMPLATES must be a directory (got %q)", ErrConfig, cfg.TemplateDir)
		}
		h.templateFS, h.templateName, h.templateSetting = os.DirFS(cfg.TemplateDir), dirName(cfg.TemplateDir), "MAIL_TEMPLATES"
	}
	t, err := loadTemplates(h.templateFS, h.templateName, h.templateSetting, func(kind string) []TemplateData {
		return sampleData(kind, h.AppName, h.VerifyURL, h.ResetURL, h.sampleFields)
	})
	if err != nil {
		return nil, err
	}
	h.templates = t
	if h.Sender == nil {
		s, err := NewSender(cfg)
		if err != nil {
			return nil, err
		}
		h.Sender = s
	}
	return h, nil
}

// Warning returns what the operator should be told at start-up about the
// transport, or "": the console transport is for development only.
func (h *Hooks) Warning() string {
	if w, ok := h.Sender.(interface{ Warning() string }); ok {
		return w.Warning()
	}
	return ""
}

// Render builds the mail of kind for u from the templates of u's locale
// (see [WithLocale]; ctx goes to it): to is the recipient, u.Email except
// for [KindEmailChanged], which goes to the old address; token is the
// token of a [KindVerify] or [KindReset] link, unused by the notices
// ([KindExisting], [KindEmailChanged]). Line breaks the user's data put in
// the subject become spaces.
func (h *Hooks) Render(ctx context.Context, kind string, u *authn.User, to, token string) (Message, error) {
	locale := ""
	if h.locale != nil {
		locale = h.locale(ctx, u)
	}
	var fields map[string]any
	if h.userFields != nil {
		fields = h.userFields(u)
	}
	return h.render(kind, u, to, token, locale, fields)
}

// Message builds the mail of kind carrying token to the address to, from
// the default templates, for a user known only by that address.
//
// Deprecated: use [Hooks.Render], which gives the templates the user and
// picks the user's locale.
func (h *Hooks) Message(kind, to, token string) (Message, error) {
	return h.render(kind, &authn.User{Email: to}, to, token, "", nil)
}

func (h *Hooks) render(kind string, u *authn.User, to, token, locale string, fields map[string]any) (Message, error) {
	m := Message{Kind: kind, To: to, From: h.From}
	switch kind {
	case KindVerify, KindReset:
		tmpl := h.VerifyURL
		if kind == KindReset {
			tmpl = h.ResetURL
		}
		if !strings.Contains(tmpl, "{token}") {
			return Message{}, fmt.Errorf("%w: the %s link template has no {token}", ErrConfig, kind)
		}
		m.Token, m.Link = token, link(tmpl, token)
	case KindExisting, KindEmailChanged:
	default:
		return Message{}, fmt.Errorf("%w: unknown kind %q", ErrInvalidMessage, kind)
	}
	t := h.templates
	if t == nil {
		var err error
		if t, err = builtinTemplates(); err != nil {
			return Message{}, err
		}
	}
	if fields == nil {
		fields = map[string]any{}
	}
	d := TemplateData{AppName: h.AppName, Kind: kind, Link: m.Link, To: to, User: TemplateUser{
		ID: u.ID.String(), Email: u.Email, IsActive: u.IsActive, IsSuperuser: u.IsSuperuser, IsVerified: u.IsVerified, Fields: fields,
	}}
	if u.FullName != nil {
		d.User.FullName = *u.FullName
	}
	var set map[string]*kindTemplates
	d.Locale, set = t.pick(locale)
	r, err := set[kind].render(d)
	if err != nil {
		return Message{}, fmt.Errorf("mail: render %s mail: %w", kind, err)
	}
	m.Subject, m.Body, m.HTML = oneLine(r.subject), r.text, r.html
	return m, nil
}

// AfterRequestVerify mails the verify link to u.
func (h *Hooks) AfterRequestVerify(ctx context.Context, u *authn.User, token string) error {
	return h.send(ctx, KindVerify, u, token)
}

// AfterForgotPassword mails the reset link to u.
func (h *Hooks) AfterForgotPassword(ctx context.Context, u *authn.User, token string) error {
	return h.send(ctx, KindReset, u, token)
}

// AfterRegisterExisting tells u that somebody tried to register with
// their address.
func (h *Hooks) AfterRegisterExisting(ctx context.Context, u *authn.User) error {
	return h.sendTo(ctx, KindExisting, u, u.Email, "")
}

// AfterEmailChanged tells the old address that u's email changed.
func (h *Hooks) AfterEmailChanged(ctx context.Context, u *authn.User, oldEmail string) error {
	return h.sendTo(ctx, KindEmailChanged, u, oldEmail, "")
}

func (h *Hooks) send(ctx context.Context, kind string, u *authn.User, token string) error {
	return h.sendTo(ctx, kind, u, u.Email, token)
}

func (h *Hooks) sendTo(ctx context.Context, kind string, u *authn.User, to, token string) error {
	m, err := h.Render(ctx, kind, u, to, token)
	if err != nil {
		return err
	}
	if err := h.Sender.Send(ctx, m); err != nil {
		return fmt.Errorf("mail: send %s mail: %w", kind, err)
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	log.InfoContext(ctx, "mail sent", "kind", kind, "user_id", u.ID, "to_domain", domainOf(u.Email))
	return nil
}

// domainOf is the part of an address after its last "@", or "".
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return addr[i+1:]
}
