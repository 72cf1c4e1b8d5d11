package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
)

func usersCommand() *command {
	return &command{
		name:    "users",
		summary: "create, list and manage users (replaces the Python keylin's ADMIN_* seeding)",
		help:    usersSettingsHelp,
		subs: []*command{
			{
				name:    "create",
				summary: "create a user; the password is read from stdin, or prompted twice on a terminal",
				usage:   "--email E [--full-name N] [--superuser] [--verified] [--inactive]",
				help:    usersSettingsHelp,
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
				help:    usersSettingsHelp,
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
				help:    usersSettingsHelp,
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

// usersSettings are the settings the users commands read: the database,
// and the hashing of the passwords they set. They sign no tokens, so
// JWT_SECRET and the other serving settings are neither needed nor read.
// Each field is the config.Settings field of the same name (same variable,
// same default: TestUsersSettingsMatchConfig checks it).
type usersSettings struct {
	DatabaseURL       string        `env:"DATABASE_URL, default=sqlite://keylin.db"`
	DatabaseTimeout   time.Duration `env:"DATABASE_TIMEOUT, default=5s"`
	HashMemoryKiB     uint32        `env:"HASH_MEMORY_KIB, default=65536"`
	HashIterations    uint32        `env:"HASH_ITERATIONS, default=3"`
	HashParallelism   uint8         `env:"HASH_PARALLELISM, default=4"`
	HashMaxConcurrent int           `env:"HASH_MAX_CONCURRENT, default=0"`
	HashMaxWait       time.Duration `env:"HASH_MAX_WAIT, default=5s"`
}

// usersSettingsHelp is what the users commands' --help says they read.
const usersSettingsHelp = "Reads DATABASE_URL (default sqlite://keylin.db), DATABASE_TIMEOUT and the\n" +
	"hashing settings HASH_MEMORY_KIB, HASH_ITERATIONS, HASH_PARALLELISM,\n" +
	"HASH_MAX_CONCURRENT, HASH_MAX_WAIT, from the environment or .env; not\n" +
	"JWT_SECRET. The database may be an application's own, migrated with its\n" +
	"own folder (its users table has keylin's columns and its own)."

// settings returns the values as keylin's settings, the others at their
// defaults.
func (u *usersSettings) settings() config.Settings {
	s := config.Defaults()
	s.DatabaseURL, s.DatabaseTimeout = u.DatabaseURL, u.DatabaseTimeout
	s.HashMemoryKiB, s.HashIterations, s.HashParallelism = u.HashMemoryKiB, u.HashIterations, u.HashParallelism
	s.HashMaxConcurrent, s.HashMaxWait = u.HashMaxConcurrent, u.HashMaxWait
	return s
}

// Validate checks the values with config.Settings' own rules. The secret
// set here only lets those rules pass: nothing is signed with it.
func (u *usersSettings) Validate() error {
	s := u.settings()
	s.JWTSecret = strings.Repeat("v", config.MinSecretBytes)
	return s.Validate()
}

// openManager opens the database named by the users settings and returns
// the Manager of the user commands: those settings' hashing, no rate
// limits (the operator is not an attacker).
func openManager(ctx context.Context, e *env) (*ent.Client, *authn.Manager, error) {
	var us usersSettings
	if err := config.Load(ctx, &us); err != nil {
		return nil, nil, err
	}
	s := us.settings()
	u, err := s.Database()
	if err != nil {
		return nil, nil, err
	}
	log := quietLogger(e)
	db, err := openDatabase(ctx, u, log, false, database.WithIOTimeout(s.DatabaseTimeout))
	if err != nil {
		return nil, nil, err
	}
	client := ent.NewClient(ent.Driver(db.Driver()))
	m, err := cliManager(client, s, log)
	if err != nil {
		client.Close()
		return nil, nil, err
	}
	return client, m, nil
}

// cliManager is the Manager of the user commands. Its token secrets are
// random and thrown away: the commands issue no tokens (setting a password
// revokes the user's sessions and tokens in the database, not by secret).
func cliManager(client *ent.Client, s config.Settings, log *slog.Logger) (*authn.Manager, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	tokens, err := authn.NewTokens(authn.TokenConfig{AccessSecret: secret, VerifySecret: secret, ResetSecret: secret})
	if err != nil {
		return nil, err
	}
	hasher, err := authn.NewHasher(s.HasherOptions()...)
	if err != nil {
		return nil, err
	}
	return authn.NewManager(ent.NewAuthnStore(client), tokens,
		authn.WithHasher(hasher), authn.WithLimits(authn.NoLimits()), authn.WithLogger(log))
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
