package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
// To deliver mail another way, keep the messages and swap the transport
// with [WithSender], or wrap the hooks and override what you need:
//
//	type appHooks struct{ *mail.Hooks }
//
//	func (h appHooks) AfterForgotPassword(ctx context.Context, u *authn.User, token string) error {
//		m, err := h.Message(mail.KindReset, u.Email, token)
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
// absolute http(s) URL containing {token}) or RESET_PASSWORD_URL (likewise).
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

// Message builds the mail of kind ([KindVerify] or [KindReset]) carrying
// token to the address to.
func (h *Hooks) Message(kind, to, token string) (Message, error) {
	var tmpl, subject, body string
	switch kind {
	case KindVerify:
		tmpl = h.VerifyURL
		subject = "Verify your e-mail address for " + h.AppName
		body = "Hello,\n\nTo confirm your e-mail address for %[1]s, open this link:\n\n%[2]s\n\nIf you did not ask for this, you can ignore this message.\n"
	case KindReset:
		tmpl = h.ResetURL
		subject = "Reset your " + h.AppName + " password"
		body = "Hello,\n\nSomeone asked to reset the password of your %[1]s account. To choose a new password, open this link:\n\n%[2]s\n\nIf it was not you, you can ignore this message: your password stays as it is.\n"
	case KindExisting:
		return Message{Kind: kind, To: to, From: h.From,
			Subject: "Sign-up attempt with your " + h.AppName + " address",
			Body: "Hello,\n\nSomebody tried to create a " + h.AppName + " account with this e-mail address, which already has one. " +
				"If it was you, log in or reset your password instead. If it was not, you can ignore this message: nothing changed.\n",
		}, nil
	case KindEmailChanged:
		return Message{Kind: kind, To: to, From: h.From,
			Subject: "The e-mail address of your " + h.AppName + " account changed",
			Body: "Hello,\n\nThe e-mail address of your " + h.AppName + " account was changed from this address to another one. " +
				"If you did not do this, contact us at once: somebody else may be using your account.\n",
		}, nil
	default:
		return Message{}, fmt.Errorf("%w: unknown kind %q", ErrInvalidMessage, kind)
	}
	if !strings.Contains(tmpl, "{token}") {
		return Message{}, fmt.Errorf("%w: the %s link template has no {token}", ErrConfig, kind)
	}
	l := link(tmpl, token)
	return Message{
		Kind: kind, To: to, From: h.From, Subject: subject,
		Body: fmt.Sprintf(body, h.AppName, l), Token: token, Link: l,
	}, nil
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
	m, err := h.Message(kind, to, token)
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
