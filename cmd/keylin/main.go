// Command keylin serves keylin's login service, applies, inspects and
// writes database migrations — keylin's own or an application's —, and
// manages users.
//
//	keylin migrate apply [--url URL] [--dir DIR | --dialect-dir DIR]
//	keylin migrate status [--url URL] [--dir DIR | --dialect-dir DIR]
//	keylin migrate diff [--schema ./ent/schema] [--dir ./ent/migrate/migrations] NAME
//	keylin users create --email E
//	keylin serve
//	keylin version
//
// Only serve needs JWT_SECRET; migrate reads DATABASE_URL, users reads
// DATABASE_URL and the hashing settings.
//
// Run `keylin help` or `keylin <command> --help` for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// command is one (sub)command of the CLI.
type command struct {
	name    string
	summary string
	usage   string
	// help, when set, follows the summary in --help: what the command
	// reads besides its flags.
	help string
	// run executes the command with its own flag set already parsed.
	setup func(fs *flag.FlagSet) func(ctx context.Context, env *env, args []string) error
	subs  []*command
}

// env is what a command reads and writes besides its flags.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

var errUsage = errors.New("usage")

func commands() *command {
	return &command{
		name:    "keylin",
		summary: "keylin: users and authentication, schema-first",
		subs: []*command{
			migrateCommand(),
			usersCommand(),
			serveCommand(),
			versionCommand(),
		},
	}
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	err := dispatch(ctx, commands(), nil, args, e)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "keylin: %s\n", oneLine(err))
		return 1
	}
}

func dispatch(ctx context.Context, c *command, path []string, args []string, e *env) error {
	path = append(path, c.name)
	if len(c.subs) > 0 {
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
			printGroupHelp(c, path, e.stdout)
			if len(args) == 0 {
				return errUsage
			}
			return flag.ErrHelp
		}
		for _, s := range c.subs {
			if s.name == args[0] {
				return dispatch(ctx, s, path, args[1:], e)
			}
		}
		fmt.Fprintf(e.stderr, "%s: unknown command %q\n", strings.Join(path, " "), args[0])
		printGroupHelp(c, path, e.stderr)
		return errUsage
	}
	fs := flag.NewFlagSet(strings.Join(path, " "), flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	runFn := c.setup(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s %s\n\n%s\n", strings.Join(path, " "), c.usage, c.summary)
		if c.help != "" {
			fmt.Fprintf(fs.Output(), "\n%s\n", c.help)
		}
		var any bool
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fmt.Fprintln(fs.Output(), "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return flag.ErrHelp
		}
		return errUsage
	}
	return runFn(ctx, e, fs.Args())
}

func printGroupHelp(c *command, path []string, w io.Writer) {
	fmt.Fprintf(w, "%s\n\nUsage: %s <command> [flags]\n\nCommands:\n", c.summary, strings.Join(path, " "))
	subs := append([]*command(nil), c.subs...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	for _, s := range subs {
		fmt.Fprintf(w, "  %-12s %s\n", s.name, s.summary)
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", strings.Join(path, " "))
}

// oneLine folds an error onto one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
}
