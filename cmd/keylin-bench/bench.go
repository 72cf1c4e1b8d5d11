package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/keylin/keylin"
	"github.com/keylin/keylin/authn"
	"github.com/keylin/keylin/config"
	"github.com/keylin/keylin/database"
	"github.com/keylin/keylin/ent"
)

// password is every benchmark user's password.
const password = "bench password 0123456789"

// bench is one benchmark: its database, its users and the settings every
// server process gets.
type bench struct {
	opts     *options
	exe      string // this binary, re-executed for the server roles
	tmp      string // temporary directory: SQLite file, server logs
	env      []string
	db       *database.DB
	dbName   string
	drop     func(context.Context) error // drops a PostgreSQL database
	svc      *keylin.Service             // keylin in the benchmark's own process: seeds users, logs workers in
	emails   []string
	workers  []*worker
	regTag   string
	regSeq   atomic.Int64
	runs     int // server processes started, for log names
	progress io.Writer
}

// runBench runs the benchmark the flags describe and prints its report.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	b := &bench{opts: opts, progress: stderr}
	defer func() {
		if cerr := b.close(); err == nil {
			err = cerr
		}
	}()
	if err := b.setUp(ctx); err != nil {
		return err
	}
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	if opts.json {
		return writeJSON(stdout, rep)
	}
	return writeText(stdout, rep)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.progress, "keylin-bench: "+format+"\n", args...)
}

// setUp creates and migrates the database, builds the settings, and
// stores the users.
func (b *bench) setUp(ctx context.Context) error {
	var err error
	if b.exe, err = os.Executable(); err != nil {
		return err
	}
	if b.tmp, err = os.MkdirTemp("", "keylin-bench-"); err != nil {
		return err
	}
	var tag [4]byte
	_, _ = rand.Read(tag[:])
	b.regTag = hex.EncodeToString(tag[:])
	var dbURL string
	switch b.opts.db {
	case "sqlite":
		path := filepath.Join(b.tmp, "bench.db")
		dbURL = "file:" + path
		if b.db, err = database.Open(ctx, dbURL); err != nil {
			return err
		}
		b.dbName = path
	case "postgres":
		if b.db, b.drop, err = database.CreateTempPostgres(ctx, b.opts.pgURL, "keylin_bench"); err != nil {
			return err
		}
		dbURL = b.db.URL.DSN
		b.dbName = b.db.URL.Database
	}
	b.logf("%s database %s", b.opts.db, b.dbName)
	if err := migrate(ctx, b.db); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	p := b.opts.hash
	vars := map[string]string{
		"JWT_SECRET":       hex.EncodeToString(secret),
		"DATABASE_URL":     dbURL,
		"RATE_LIMIT_STORE": "off",
		"LOG_LEVEL":        "info",
		"HASH_MEMORY_KIB":  strconv.FormatUint(uint64(p.Memory), 10),
		"HASH_ITERATIONS":  strconv.FormatUint(uint64(p.Iterations), 10),
		"HASH_PARALLELISM": strconv.FormatUint(uint64(p.Parallelism), 10),
	}
	for k, v := range vars {
		b.env = append(b.env, k+"="+v)
	}
	// The benchmark's own keylin has the settings the servers get: the
	// tool's variables over the environment, no .env file.
	var s config.Settings
	if err := config.Load(ctx, &s, config.WithDotEnv(""),
		config.WithLookuper(envconfig.MultiLookuper(envconfig.MapLookuper(vars), envconfig.OsLookuper()))); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(b.progress, &slog.HandlerOptions{Level: slog.LevelError}))
	store := ent.NewAuthnStore(ent.NewClient(ent.Driver(b.db.Driver())))
	if b.svc, err = keylin.New(s, store, keylin.WithLogger(quiet), keylin.WithConsole(io.Discard)); err != nil {
		return err
	}
	return b.seedUsers(ctx, store)
}

// seedUsers stores the users straight through the store: one hash of the
// shared password, computed once, for all of them.
func (b *bench) seedUsers(ctx context.Context, store authn.Store) error {
	start := time.Now()
	hash, err := b.svc.Manager.Hasher().Hash(ctx, password)
	if err != nil {
		return err
	}
	b.emails = make([]string, b.opts.users)
	for i := range b.emails {
		b.emails[i] = fmt.Sprintf("user-%d@example.com", i)
	}
	err = parallel(ctx, len(b.emails), 4, func(i int) error {
		_, err := store.CreateUser(ctx, &authn.User{Email: b.emails[i], HashedPassword: hash, IsActive: true, IsVerified: true}, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("store users: %w", err)
	}
	b.logf("%d users stored in %v", len(b.emails), time.Since(start).Round(time.Millisecond))
	return nil
}

// logInWorkers gives each worker a session of its own (worker i as user
// i mod users), through the Manager, before the measured runs.
func (b *bench) logInWorkers(ctx context.Context) error {
	if b.workers != nil {
		return nil
	}
	start := time.Now()
	ws := make([]*worker, b.opts.concurrency)
	err := parallel(ctx, len(ws), runtime.NumCPU(), func(i int) error {
		w := &worker{email: b.emails[i%len(b.emails)]}
		g, err := b.svc.Manager.Login(ctx, w.email, password)
		if err != nil {
			return err
		}
		w.access, w.refresh = g.AccessToken, g.RefreshToken
		ws[i] = w
		return nil
	})
	if err != nil {
		return fmt.Errorf("log workers in: %w", err)
	}
	b.workers = ws
	b.logf("%d workers logged in in %v", len(ws), time.Since(start).Round(time.Millisecond))
	return nil
}

// plainWorkers are the workers for a workload that needs no session: the
// logged-in workers if there are, else new ones without tokens.
func (b *bench) plainWorkers() []*worker {
	if b.workers != nil {
		return b.workers
	}
	ws := make([]*worker, b.opts.concurrency)
	for i := range ws {
		ws[i] = &worker{email: b.emails[i%len(b.emails)]}
	}
	return ws
}

// run measures the hash rate, then runs every workload, and returns the
// report.
func (b *bench) run(ctx context.Context) (*Report, error) {
	o := b.opts
	rep := &Report{
		Database: o.db, DatabaseName: b.dbName, Concurrency: o.concurrency,
		Seconds: o.duration.Seconds(), WarmupSeconds: o.warmup.Seconds(), Users: o.users,
		Hash: hashLabel(o.hash), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
		RateLimitStore: "off",
		RetryAfter:     b.opts.retryAfter,
	}
	b.logf("raw hash rate: %s on %d CPUs: %v warm-up, %v measured", hashLabel(o.hash), runtime.NumCPU(), o.warmup, o.hashDuration)
	hr, err := measureHashRate(ctx, o.hash, o.warmup, o.hashDuration)
	if err != nil {
		return nil, fmt.Errorf("hash rate: %w", err)
	}
	rep.HashRate = hr
	for _, name := range o.workloads {
		w, _ := findWorkload(name)
		wr := WorkloadReport{Name: w.name, Description: w.desc}
		workers := b.plainWorkers()
		if w.needsGrants() {
			if err := b.logInWorkers(ctx); err != nil {
				return nil, err
			}
			workers = b.workers
		}
		var schedule []string
		if w.name == "me" {
			for range o.rounds {
				schedule = append(schedule, roleBaseline, roleKeylin, runKeylinMetrics)
			}
		} else {
			schedule = []string{roleKeylin}
		}
		rounds := map[string]int{}
		for _, role := range schedule {
			rounds[role]++
			r, err := b.runOnce(ctx, w, role, rounds[role], workers)
			if err != nil {
				return nil, err
			}
			wr.Runs = append(wr.Runs, r)
		}
		rep.Workloads = append(rep.Workloads, wr)
	}
	rep.Summary = summarizeReport(rep)
	return rep, nil
}

// runOnce starts a fresh server process of role, drives workload w
// against it, and stops it.
func (b *bench) runOnce(ctx context.Context, w workload, role string, round int, workers []*worker) (Run, error) {
	b.runs++
	logPath := filepath.Join(b.tmp, fmt.Sprintf("%02d-%s-%s.log", b.runs, w.name, role))
	var extra []string
	if role == roleKeylin && b.opts.pprof != "" {
		extra = []string{"--pprof", b.opts.pprof}
	}
	procRole, env := role, b.env
	if role == runKeylinMetrics {
		procRole, env = roleKeylin, append(slices.Clone(b.env), "METRICS=true")
	}
	srv, err := startServer(ctx, b.exe, procRole, b.tmp, logPath, env, extra)
	if err != nil {
		return Run{}, err
	}
	if procRole == roleKeylin {
		// As a load balancer would, send nothing before /readyz says so.
		if err := waitReady(ctx, srv.addr); err != nil {
			_ = srv.stop()
			return Run{}, err
		}
	}
	b.logf("%s: %s run %d on %s (pid %d): %v warm-up, %v measured, %d workers",
		w.name, role, round, srv.addr, srv.cmd.Process.Pid, b.opts.warmup, b.opts.duration, len(workers))
	c := newClient(srv.addr, b.opts.concurrency, b.opts.timeout, password, b.regTag, &b.regSeq)
	c.retryAfter = b.opts.retryAfter
	var cpu [2]cpuSample
	var cpuErr error
	recs := drive(ctx, c, w, workers, b.opts.warmup, b.opts.duration, func(open bool) {
		i := 1
		if open {
			i = 0
		}
		var err error
		if cpu[i], err = sampleCPU(srv.cmd.Process.Pid); err != nil && cpuErr == nil {
			cpuErr = err
		}
	})
	c.close()
	var metricsErr error
	if role == runKeylinMetrics {
		metricsErr = checkMetrics(ctx, srv.addr)
	}
	rss, rssErr := srv.peakRSS()
	stopErr := srv.stop()
	if ctx.Err() != nil {
		return Run{}, ctx.Err()
	}
	if rssErr != nil {
		b.logf("%v", rssErr)
	}
	if cpuErr != nil {
		b.logf("CPU times: %v", cpuErr)
	}
	if stopErr != nil {
		return Run{}, stopErr
	}
	if metricsErr != nil {
		return Run{}, metricsErr
	}
	ls, err := scanLog(logPath)
	if err != nil {
		return Run{}, err
	}
	_ = os.Remove(logPath) // request logs grow to tens of MB per run
	r := Run{Workload: w.name, Server: role, Round: round, Seconds: b.opts.duration.Seconds(), PeakRSSBytes: rss, Log: ls}
	r.Total, r.Ops, r.RefreshChainRestarts = summarize(recs, b.opts.duration)
	if cpuErr == nil {
		r.CPU = cpuBetween(cpu[0], cpu[1], r.Total.Requests)
	}
	b.logf("%s: %s run %d: %d requests, %.1f req/s, p99 %.2f ms, %d errors, peak RSS %.1f MiB, server CPU %.0f µs/request, other load %.0f%%",
		w.name, role, round, r.Total.Requests, r.Total.RPS, r.Total.P99MS, r.Total.ErrorCount(), mib(rss),
		r.CPU.ServerUSPerRequest, 100*r.otherLoad(runtime.NumCPU()))
	if ls.Warnings+ls.Errors > 0 {
		b.logf("%s: %s server logged %d warnings and %d errors; first: %s", w.name, role, ls.Warnings, ls.Errors, ls.First)
	}
	return r, nil
}

// close stops the benchmark's own keylin, drops the PostgreSQL database
// and removes the temporary directory.
func (b *bench) close() error {
	var errs []error
	if b.svc != nil {
		errs = append(errs, b.svc.Close(context.Background()))
	}
	if b.drop != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := b.drop(ctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("drop database %s: %w", b.dbName, err))
		} else {
			b.logf("dropped database %s", b.dbName)
		}
	} else if b.db != nil {
		b.db.Close()
	}
	if b.tmp != "" {
		errs = append(errs, os.RemoveAll(b.tmp))
	}
	return errors.Join(errs...)
}

// parallel calls f(0) … f(n-1) on at most width goroutines and returns the
// first error.
func parallel(ctx context.Context, n, width int, f func(i int) error) error {
	var (
		next     atomic.Int64
		firstErr error
		once     sync.Once
		wg       sync.WaitGroup
	)
	for range min(width, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}
