// Package mail delivers keylin's verify and reset tokens to users.
//
// [Hooks] implements [authn.Hooks]: when the Manager issues a verify or a
// reset token, it builds a plain-text message holding a link made from the
// VERIFY_URL or RESET_PASSWORD_URL template and hands it to a [Sender]. The
// transport is chosen by MAIL_URL (see [NewSender]): "console:" prints the
// mail (development only), "file:PATH" appends it as JSON lines, and
// "smtp://" or "smtps://" delivers it to a mail server.
//
// The common call, in the command that wires keylin:
//
//	hooks, err := mail.NewHooks(mail.Config{
//		URL:       s.MailURL,
//		From:      s.MailFrom,
//		VerifyURL: s.VerifyURL,
//		ResetURL:  s.ResetPasswordURL,
//		Logger:    logger,
//	})
//	if err != nil { … }
//	if w := hooks.Warning(); w != "" { logger.Warn(w) }
//	m, err := authn.NewManager(store, tokens, authn.WithHooks(hooks))
//
// Links are made only from the configured templates, never from a request.
// Nothing this package logs holds a token or a link.
package mail
