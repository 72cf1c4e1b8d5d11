// Package mail delivers keylin's verify and reset tokens to users.
//
// [Hooks] implements [authn.Hooks]: when the Manager issues a verify or a
// reset token, it renders a message holding a link made from the
// VERIFY_URL or RESET_PASSWORD_URL template and hands it to a [Sender]. The
// transport is chosen by MAIL_URL (see [NewSender]): "console:" prints the
// mail (development only), "file:PATH" appends it as JSON lines, and
// "smtp://" or "smtps://" delivers it to a mail server.
//
// The common call, in the command that wires keylin:
//
//	hooks, err := mail.NewHooks(mail.Config{
//		URL:         s.MailURL,
//		From:        s.MailFrom,
//		VerifyURL:   s.VerifyURL,
//		ResetURL:    s.ResetPasswordURL,
//		TemplateDir: s.MailTemplates, // "" for the built-in templates
//		Logger:      logger,
//	})
//	if err != nil { … } // a broken template is an error here, naming its file
//	if w := hooks.Warning(); w != "" { logger.Warn(w) }
//	m, err := authn.NewManager(store, tokens, authn.WithHooks(hooks))
//
// # Templates
//
// Each kind of mail ([KindVerify], [KindReset], [KindExisting],
// [KindEmailChanged]) has three templates, named after the kind:
//
//	verify.subject.txt  the subject, one line (text/template)
//	verify.txt          the text body (text/template)
//	verify.html         the HTML body, optional (html/template)
//
// With an HTML body the mail is multipart/alternative (text, then HTML);
// without one, plain text. Built-in templates in English cover every kind.
// A template directory (Config.TemplateDir, MAIL_TEMPLATES, or an fs.FS
// given to [WithTemplates]) replaces them file by file, and may hold a
// directory per locale ("fr/verify.txt"), chosen by [WithLocale]. A file
// is looked up in the locale's directory, then at the root, then among the
// built-in ones; a kind's two bodies come from the same place, the first
// that has either: there, the .txt is required and the .html optional (so
// a directory with verify.txt alone sends a text-only verify mail).
//
// Templates see a [TemplateData]: the app name, the link, the recipient,
// and the user's readable fields ([TemplateUser]: keylin's, and the
// application's given by [WithUserSchema]), never the password hash.
// [NewHooks] parses every template and renders it against sample data, so
// that a broken template fails at start-up, not when a mail is due.
//
// Links are made only from the configured templates, never from a request,
// and html/template escapes them in HTML. Nothing this package logs holds
// a token or a link.
package mail
