// Command keylin-bench measures keylin's HTTP server under load, over real
// TCP, against the bare baseline of NOTES.md, and reports the figures as
// ratios that carry over from one machine to another.
//
//	go run ./cmd/keylin-bench --db sqlite                     # every workload, 16 workers, 10 s each
//	go run ./cmd/keylin-bench --db postgres --workloads me,login
//	go run ./cmd/keylin-bench --workloads login --concurrency 256
//	go run ./cmd/keylin-bench --cheap-hash --duration 2s      # a quick look
//	make loadtest LOADTEST_ARGS="--db postgres --json"
//
// # What it runs
//
// The tool creates a database (a fresh SQLite file in a temporary
// directory, or a throwaway PostgreSQL database on --pg-url, dropped at the
// end), applies keylin's migrations and stores --users users. It then
// starts each server as a separate process — its own binary re-executed with
// a hidden role flag — so that it can read the server's peak resident memory
// (VmHWM in /proc/PID/status, Linux only), and drives it over TCP with
// --concurrency workers, each sending its next request as soon as the
// previous one is answered, through a keep-alive HTTP client:
//
//   - keylin: keylin.New and Service.Echo, exactly the server `keylin serve`
//     runs (every router, all the production middleware, the JSON request
//     log on, written to a file), started fresh for every run;
//   - baseline: a bare Echo v4 handler for GET /users/me that parses the JWT
//     with golang-jwt/v5 (HS256, audience fastapi-users:auth, exp required)
//     and loads the user by primary key with keylin's generated ent client,
//     on the same database, answering the same JSON user object.
//
// Workloads: me (GET /users/me), login (POST /auth/jwt/login), register
// (POST /auth/register, a new address each time), refresh (POST
// /auth/jwt/refresh, each worker following its own rotation chain) and mixed
// (70% me, 10% login, 5% register, 10% refresh, 5% PATCH /users/me). The me
// workload alternates baseline and keylin runs (--rounds times each:
// baseline, keylin, baseline, keylin), so that drift of the machine shows.
// Before the servers run, the tool measures the raw hash rate of the
// password hasher with the same argon2id parameters (authn.NewHasher with
// its defaults unless --hash or --cheap-hash says otherwise): concurrent Hash
// calls on every CPU.
//
// keylin is run with RATE_LIMIT_STORE=off: every request comes from the
// tool's one IP address, which the rate limits would throttle after a few
// logins. Other keylin settings come from the environment, as for keylin
// serve (the tool sets JWT_SECRET, DATABASE_URL, LOG_LEVEL, the HASH_
// parameters and RATE_LIMIT_STORE itself).
//
// # Reading the figures
//
// Each run is a warm-up (--warmup, not counted) and then --duration of
// measurement. Only requests completed within the measured window count.
//
//   - req/s: requests completed per second, whatever their answer; 2xx/s:
//     those answered with a 2xx status. For login these are the accepted
//     logins.
//   - p50, p90, p99, max: latency seen by the client (from sending the
//     request to reading the whole answer), exact: every latency is kept and
//     sorted. It includes the client's own time, and the client shares the
//     machine's CPUs with the server, as wrk did for NOTES.md.
//   - errors: every non-2xx answer counted by status, and transport errors
//     (connection refused, timeouts). Under a login flood, 503 answers are the
//     design working: a request that would wait longer than HASH_MAX_WAIT
//     for a hashing slot is refused at once with Retry-After rather than
//     queued. The line "by status" under the table gives each status's
//     count, p50 and p99: how fast a refusal comes.
//   - --retry-after: by default a worker answered 429 or 503 asks again at
//     once, as a flood does; with --retry-after it waits as Retry-After
//     says, plus up to half as long again at random (jitter, so that the
//     refused do not come back in lockstep), as a well-behaved client
//     does. The first measures what refusing costs the server; the second,
//     whether the hashing slots stay busy for the clients that wait their
//     turn.
//   - peak RSS: the server process's VmHWM, the most memory it held at any
//     moment of its life (start-up, warm-up and run; each run has a fresh
//     process).
//   - srv CPU/req: the server process's CPU time (user and system, from
//     /proc) in the window divided by the requests completed: what a request
//     costs the server, a figure other load on the machine disturbs much
//     less than req/s.
//   - other load: the CPU time that neither the server nor the tool used
//     in the window, as a share of the machine's capacity: other processes,
//     PostgreSQL's among them on --db postgres. Above 10% the report warns;
//     compare such runs' req/s with care.
//   - log: lines the server logged (one per request), and how many were
//     warnings or errors.
//
// Each round of the me workload runs the baseline, keylin, and keylin with
// METRICS=true (its /metrics checked after the run), each in a fresh
// process. The summary divides keylin's figures by the baseline's: the me req/s ratio
// (1.0 would be as fast as the bare handler; NOTES.md measured 0.65 with wrk),
// the me p99 ratio (above 1, keylin's tail is slower) and the ratio of server
// CPU per request (above 1, keylin spends more per request), all from the
// averages of the rounds, and the first two per round. If the baseline rounds disagree by
// more than a few percent, the machine drifted: trust no ratio finer than
// that. It also divides keylin with metrics by keylin without: what the
// metrics cost on the authenticated path. For login and register, which each compute one argon2id hash, it
// divides the accepted requests per second by the raw hash rate: near 1 the
// route costs its hash and little else; well below 1, time goes elsewhere
// (or the hashing slots sat idle for want of concurrent requests). It also
// divides the server's CPU time per accepted request by the CPU time of one
// raw hash, which other load disturbs less: near 1, the hash is the cost.
//
// In the mixed workload each worker waits for its answer before it sends
// the next request, so the 15% of requests that compute a hash set the pace:
// with production argon2id costs the mixed rate is near the hash rate
// divided by 0.15, and its me requests are few. Its table, broken down by
// operation, shows what each costs under contention for the CPUs.
//
// Absolute figures depend on the machine; the ratios are what compare
// across machines and commits.
//
// # Profiling
//
// --pprof ADDR makes every keylin server process serve net/http/pprof on
// ADDR (each run starts a fresh process on the same address). When the
// progress line "me: keylin run 1 on …" appears on stderr, the warm-up has
// begun; profile during the measured window:
//
//	go run ./cmd/keylin-bench --workloads me --rounds 1 --duration 30s --pprof 127.0.0.1:6060
//	go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=20'
//	curl -o a0 http://127.0.0.1:6060/debug/pprof/allocs   # before and after, then:
//	go tool pprof -sample_index=alloc_objects -base a0 -top a1
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage reports a command line that could not be understood; the flag
// package has already said why.
var errUsage = errors.New("usage")

// cli is main without the process: it runs a server role when the first
// argument is the hidden --role flag, the benchmark otherwise, and returns
// the exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 && (strings.HasPrefix(args[0], "--role") || strings.HasPrefix(args[0], "-role")) {
		err = runRole(ctx, args, stdout, stderr)
	} else {
		err = runBench(ctx, args, stdout, stderr)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "keylin-bench: %v\n", err)
		return 1
	}
}
