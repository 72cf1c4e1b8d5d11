package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keylin/keylin/authn"
)

// defaultPostgresURL is the server --db postgres creates its throwaway
// database on, unless --pg-url says otherwise.
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// cheapHash are OWASP's minimum argon2id parameters, the cheapest keylin
// accepts: for quick runs.
var cheapHash = authn.HashParams{Memory: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// options are the benchmark's settings, from its flags.
type options struct {
	workloads    []string
	concurrency  int
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	db           string
	pgURL        string
	users        int
	hash         authn.HashParams
	hashDuration time.Duration
	timeout      time.Duration
	json         bool
	pprof        string
	retryAfter   bool
}

// parseOptions reads the benchmark's flags. Errors have been printed with
// the usage when it returns errUsage.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("keylin-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	workloads := fs.String("workloads", "all", "comma-separated workloads to run: "+strings.Join(workloadNames(), ", ")+", or all")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent client workers (and keep-alive connections)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each run's measurement, not counted")
	fs.IntVar(&o.rounds, "rounds", 2, "baseline and keylin runs of the me workload, alternated")
	fs.StringVar(&o.db, "db", "sqlite", "database: sqlite (a fresh file in a temporary directory) or postgres (a throwaway database on --pg-url)")
	fs.StringVar(&o.pgURL, "pg-url", defaultPostgresURL, "PostgreSQL server on which --db postgres creates, then drops, its database")
	fs.IntVar(&o.users, "users", 100, "users stored before the runs; worker i works as user i mod users")
	hash := fs.String("hash", "", "argon2id parameters of keylin's hasher, m=KiB,t=N,p=N (default: the production defaults, m=65536,t=3,p=4)")
	cheap := fs.Bool("cheap-hash", false, "use OWASP's minimum argon2id parameters (m=19456,t=2,p=1) for quick runs")
	fs.DurationVar(&o.hashDuration, "hash-duration", 3*time.Second, "how long to measure the raw hash rate")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "client timeout of one request (a timed-out request is a transport error)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of tables")
	fs.BoolVar(&o.retryAfter, "retry-after", false, "a worker answered 429 or 503 waits as its Retry-After says, plus up to half as long again at random, before its next request, as a well-behaved client does (default: it asks again at once, as a flood does)")
	fs.StringVar(&o.pprof, "pprof", "", "serve net/http/pprof in each keylin server process on this address (e.g. 127.0.0.1:6060)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: keylin-bench [flags]\n\nLoad-tests keylin over TCP against the bare baseline of NOTES.md; see the package doc.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, errUsage
	}
	fail := func(format string, a ...any) (*options, error) {
		fmt.Fprintf(stderr, "keylin-bench: "+format+"\n", a...)
		fs.Usage()
		return nil, errUsage
	}
	if fs.NArg() > 0 {
		return fail("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	var err error
	if o.workloads, err = parseWorkloads(*workloads); err != nil {
		return fail("--workloads: %v", err)
	}
	switch {
	case o.concurrency < 1:
		return fail("--concurrency must be at least 1")
	case o.duration <= 0:
		return fail("--duration must be positive")
	case o.warmup < 0:
		return fail("--warmup must not be negative")
	case o.rounds < 1:
		return fail("--rounds must be at least 1")
	case o.users < 1:
		return fail("--users must be at least 1")
	case o.hashDuration <= 0:
		return fail("--hash-duration must be positive")
	case o.timeout <= 0:
		return fail("--timeout must be positive")
	case o.db != "sqlite" && o.db != "postgres":
		return fail("--db must be sqlite or postgres, not %q", o.db)
	case *cheap && *hash != "":
		return fail("--hash and --cheap-hash contradict each other: give one")
	}
	o.hash = authn.DefaultHashParams()
	if *cheap {
		o.hash = cheapHash
	}
	if *hash != "" {
		if o.hash, err = parseHashParams(*hash); err != nil {
			return fail("--hash: %v", err)
		}
	}
	return o, nil
}

// parseWorkloads reads a comma list of workload names; "all" (or an empty
// list) means every workload, in the default order.
func parseWorkloads(s string) ([]string, error) {
	if strings.TrimSpace(s) == "" || s == "all" {
		return workloadNames(), nil
	}
	var out []string
	for w := range strings.SplitSeq(s, ",") {
		w = strings.TrimSpace(w)
		if _, ok := findWorkload(w); !ok {
			return nil, fmt.Errorf("unknown workload %q (known: %s)", w, strings.Join(workloadNames(), ", "))
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// parseHashParams reads "m=65536,t=3,p=4": argon2id memory in KiB, passes
// and lanes, with pwdlib's salt and key lengths. The parameters must be ones
// keylin accepts.
func parseHashParams(s string) (authn.HashParams, error) {
	p := authn.DefaultHashParams()
	seen := map[string]bool{}
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return p, fmt.Errorf("%q is not key=value", kv)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, fmt.Errorf("%s=%q is not a number", k, v)
		}
		switch k {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return p, fmt.Errorf("p=%d is too large", n)
			}
			p.Parallelism = uint8(n)
		default:
			return p, fmt.Errorf("unknown parameter %q (m, t or p)", k)
		}
		seen[k] = true
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return p, fmt.Errorf("give all of m, t and p, e.g. m=65536,t=3,p=4")
	}
	return p, p.Validate()
}

// hashLabel names argon2id parameters the way --hash takes them.
func hashLabel(p authn.HashParams) string {
	return fmt.Sprintf("argon2id m=%d,t=%d,p=%d", p.Memory, p.Iterations, p.Parallelism)
}
