package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/ent"
)

func usersCommand() *command {
	return &command{
		name:    "users",
		summary: "create, list and manage users (replaces the Python keylin's ADMIN_* seeding)",
		subs: []*command{
			{
				name:    "create",
				summary: "create a user; the password is read from stdin, or prompted twice on a terminal",
				usage:   "--email E [--full-name N] [--superuser] [--verified] [--inactive]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					email := fs.String("email", "", "the user's email (required)")
					fullName := fs.String("full-name", "", "the user's full name")
					superuser := fs.Bool("superuser", false, "make the user a superuser")
					verified := fs.Bool("verified", false, "mark the email as verified")
					inactive := fs.Bool("inactive", false, "create the user deactivated")
					return func(ctx context.Context, e *env, _ []string) error {
						if *email == "" {
							return errors.New("users create needs --email")
						}
						pw, err := readPassword(e, "Password: ")
						if err != nil {
							return err
						}
						c, m, err := openManager(ctx, e)
						if err != nil {
							return err
						}
						defer c.Close()
						active := !*inactive
						in := authn.UserCreate{Email: *email, Password: pw, IsActive: &active, IsSuperuser: superuser, IsVerified: verified}
						if *fullName != "" {
							in.FullName = fullName
						}
						u, err := m.CreateUser(ctx, in)
						if err != nil {
							return userError(err)
						}
						fmt.Fprintf(e.stdout, "created user %s <%s> superuser=%v verified=%v active=%v\n", u.ID, u.Email, u.IsSuperuser, u.IsVerified, u.IsActive)
						return nil
					}
				},
			},
			{
				name:    "list",
				summary: "list users, oldest first",
				usage:   "[--offset N] [--limit N]",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					offset := fs.Int("offset", 0, "users to skip")
					limit := fs.Int("limit", authn.MaxPageSize, "users to show")
					return func(ctx context.Context, e *env, _ []string) error {
						c, m, err := openManager(ctx, e)
						if err != nil {
							return err
						}
						defer c.Close()
						p, err := m.List(ctx, authn.ListParams{Offset: *offset, Limit: *limit})
						if err != nil {
							return err
						}
						tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
						fmt.Fprintln(tw, "ID\tEMAIL\tFULL NAME\tACTIVE\tSUPERUSER\tVERIFIED")
						for _, u := range p.Users {
							name := ""
							if u.FullName != nil {
								name = *u.FullName
							}
							fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%v\n", u.ID, u.Email, name, u.IsActive, u.IsSuperuser, u.IsVerified)
						}
						if err := tw.Flush(); err != nil {
							return err
						}
						fmt.Fprintf(e.stdout, "%d of %d users\n", len(p.Users), p.Total)
						return nil
					}
				},
			},
			{
				name:    "set-password",
				summary: "set a user's password (stdin, or prompted twice on a terminal); revokes the user's tokens",
				usage:   "--email E",
				setup: func(fs *flag.FlagSet) func(context.Context, *env, []string) error {
					email := fs.String("email", "", "the user's email (required)")
					return func(ctx context.Context, e *env, _ []string) error {
						if *email == "" {
							return errors.New("users set-password needs --email")
						}
						c, m, err := openManager(ctx, e)
						if err != nil {
							return err
						}
						defer c.Close()
						u, err := m.GetByEmail(ctx, *email)
						if err != nil {
							return userError(err)
						}
						pw, err := readPassword(e, "New password: ")
						if err != nil {
							return err
						}
						if _, err := m.UpdateAsSuperuser(ctx, u, authn.UserUpdate{Password: &pw}); err != nil {
							return userError(err)
						}
						fmt.Fprintf(e.stdout, "password set for %s <%s>\n", u.ID, u.Email)
						return nil
					}
				},
			},
		},
	}
}

func openManager(ctx context.Context, e *env) (*core, *authn.Manager, error) {
	s, err := loadSettings(ctx)
	if err != nil {
		return nil, nil, err
	}
	c, err := openCore(ctx, s, quietLogger(e), false)
	if err != nil {
		return nil, nil, err
	}
	m, err := cliManager(c)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, m, nil
}

// cliManager is the Manager of the user commands: the settings' hashing,
// no rate limits (the operator is not an attacker).
func cliManager(c *core) (*authn.Manager, error) {
	s := c.settings
	tokens, err := authn.NewTokens(authn.TokenConfig{
		AccessSecret: []byte(s.JWTSecret), VerifySecret: []byte(s.VerificationSecret), ResetSecret: []byte(s.ResetPasswordSecret),
	})
	if err != nil {
		return nil, err
	}
	hasher, err := authn.NewHasher(s.HasherOptions()...)
	if err != nil {
		return nil, err
	}
	return authn.NewManager(ent.NewAuthnStore(c.client), tokens,
		authn.WithHasher(hasher), authn.WithLimits(authn.NoLimits()), authn.WithLogger(c.log))
}

// userError turns domain errors into sentences for the terminal.
func userError(err error) error {
	var ip *authn.InvalidPasswordError
	switch {
	case errors.As(err, &ip):
		return fmt.Errorf("password refused: %s", ip.Reason)
	case errors.Is(err, authn.ErrUserAlreadyExists):
		return errors.New("a user with that email exists already")
	case errors.Is(err, authn.ErrUserNotFound):
		return errors.New("no user has that email")
	case errors.Is(err, authn.ErrInvalidEmail):
		return errors.New("that is not a valid email address")
	}
	return err
}

// readPassword reads the password: one line from stdin when stdin is not a
// terminal, otherwise a prompt, twice, without echo. Never from argv.
func readPassword(e *env, prompt string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.stderr, prompt)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(e.stderr, "Repeat: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the two passwords differ")
		}
		return string(a), nil
	}
	const limit = 4096 // far above the policy's 1024 bytes; never cut silently
	line, err := bufio.NewReader(io.LimitReader(e.stdin, limit+1)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	if len(line) > limit {
		return "", errors.New("the password line on stdin is too long")
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin (pipe one line, or run on a terminal to be prompted)")
	}
	return line, nil
}
