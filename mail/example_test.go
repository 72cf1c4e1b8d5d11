package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/mail"
)

func Example() {
	hooks, err := mail.NewHooks(mail.Config{
		URL:       "console:", // MAIL_URL
		From:      "Keylin <no-reply@example.com>",
		VerifyURL: "https://app.example.com/verify?token={token}",
		ResetURL:  "https://app.example.com/reset-password?token={token}",
		Console:   os.Stdout,
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// The Manager calls this hook from ForgotPassword with a fresh token.
	u := &authn.User{Email: "alice@example.com", IsActive: true}
	if err := hooks.AfterForgotPassword(context.Background(), u, "eyJhbGciOiJIUzI1NiJ9.e30.sig"); err != nil {
		fmt.Println(err)
	}
	// Output:
	// ----- mail (console transport, not delivered) -----
	// Kind:    reset
	// From:    Keylin <no-reply@example.com>
	// To:      alice@example.com
	// Subject: Reset your keylin password
	// HTML:    yes (not shown; MAIL_URL=file:PATH records it)
	//
	// Hello,
	//
	// Someone asked to reset the password of your keylin account. To choose a new password, open this link:
	//
	// https://app.example.com/reset-password?token=eyJhbGciOiJIUzI1NiJ9.e30.sig
	//
	// If it was not you, you can ignore this message: your password stays as it is.
	// ----- end of mail -----
}
