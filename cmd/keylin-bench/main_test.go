package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/keylin/keylin/internal/dbtest"
)

// TestMain lets the test binary play the server roles: the benchmark
// re-executes its own binary, which under go test is this one.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "--role") {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestBench runs every workload for a second (three with the race
// detector) with tiny settings, on
// SQLite and on PostgreSQL, and checks the report is sane. It asserts
// nothing about speed.
func TestBench(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a dozen server processes")
	}
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			pgURL := dbtest.PostgresURL()
			if db == "postgres" && pgURL == "" {
				t.Skip("PostgreSQL tests are off (KEYLIN_TEST_POSTGRES_URL=off)")
			}
			if pgURL == "" {
				pgURL = defaultPostgresURL
			}
			duration := "1s"
			if raceEnabled {
				duration = "2s" // a hash can take a second under the race detector
			}
			// Every workload runs on SQLite; PostgreSQL, which only changes
			// where the servers keep their data, runs those that compare
			// keylin with the baseline and with the hash rate.
			workloads := workloadNames()
			if db == "postgres" {
				workloads = []string{"me", "login", "register"}
			}
			args := []string{
				"--db", db, "--pg-url", pgURL, "--json", "--workloads", strings.Join(workloads, ","),
				"--concurrency", "3", "--users", "2", "--duration", duration, "--warmup", "300ms",
				"--cheap-hash", "--hash-duration", "500ms", "--timeout", "20s",
			}
			var stdout, stderr bytes.Buffer
			if code := cli(t.Context(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\nstderr:\n%s", code, stderr.String())
			}
			t.Logf("progress:\n%s", stderr.String())
			var rep Report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("--json output does not decode: %v\n%s", err, stdout.String())
			}
			checkReport(t, &rep, workloads)

			var text bytes.Buffer
			if err := writeText(&text, &rep); err != nil {
				t.Fatal(err)
			}
			t.Logf("report:\n%s", text.String())
			wants := []string{"RATE_LIMIT_STORE=off", "raw hash rate:", "baseline 2", "keylin 2", "me req/s:"}
			for _, w := range workloads {
				wants = append(wants, w+":")
			}
			for _, want := range wants {
				if !strings.Contains(text.String(), want) {
					t.Errorf("text report lacks %q", want)
				}
			}
			if db == "postgres" {
				checkDropped(t, pgURL, rep.DatabaseName)
			} else if _, err := os.Stat(rep.DatabaseName); !os.IsNotExist(err) {
				t.Errorf("SQLite file %s left behind (stat: %v)", rep.DatabaseName, err)
			}
		})
	}
}

func checkReport(t *testing.T, rep *Report, workloads []string) {
	t.Helper()
	if rep.RateLimitStore != "off" {
		t.Errorf("rate_limit_store = %q, want off", rep.RateLimitStore)
	}
	if rep.HashRate.Hashes == 0 || rep.HashRate.PerSecond <= 0 {
		t.Errorf("hash rate not measured: %+v", rep.HashRate)
	}
	var names []string
	for _, w := range rep.Workloads {
		names = append(names, w.Name)
		wantRuns := 1
		if w.Name == "me" {
			wantRuns = 6 // two rounds of baseline, keylin, keylin+metrics
		}
		if len(w.Runs) != wantRuns {
			t.Errorf("%s: %d runs, want %d", w.Name, len(w.Runs), wantRuns)
			continue
		}
		for i, r := range w.Runs {
			if w.Name == "me" {
				wantServer := []string{roleBaseline, roleKeylin, runKeylinMetrics}[i%3]
				if r.Server != wantServer || r.Round != i/3+1 {
					t.Errorf("me run %d: %s round %d, want %s round %d (alternated)", i, r.Server, r.Round, wantServer, i/3+1)
				}
			}
			checkOps(t, w.Name, r.Server, append([]OpStats{r.Total}, r.Ops...))
			if r.PeakRSSBytes < 1<<20 {
				t.Errorf("%s %s: peak RSS %d bytes", w.Name, r.Server, r.PeakRSSBytes)
			}
			if r.CPU.ServerSeconds <= 0 || r.CPU.ServerUSPerRequest <= 0 {
				t.Errorf("%s %s: server CPU not measured: %+v", w.Name, r.Server, r.CPU)
			}
			if r.Server != roleBaseline && r.Log.Lines < r.Total.Requests {
				t.Errorf("%s: keylin logged %d lines for %d requests: is the request log on?", w.Name, r.Log.Lines, r.Total.Requests)
			}
			if r.Log.Errors > 0 {
				t.Errorf("%s %s: server logged %d errors, first: %s", w.Name, r.Server, r.Log.Errors, r.Log.First)
			}
		}
		if w.Name == "mixed" {
			ops := map[string]bool{}
			for _, s := range w.Runs[0].Ops {
				ops[s.Op] = true
			}
			// 1 s at 3 workers may miss the 5% operations; me is 70%.
			if !ops["me"] {
				t.Errorf("mixed: no me requests: %+v", w.Runs[0].Ops)
			}
		}
	}
	if got, want := strings.Join(names, ","), strings.Join(workloads, ","); got != want {
		t.Errorf("workloads %s, want %s", got, want)
	}
	s := rep.Summary
	switch {
	case s.Me == nil || s.Me.RPSRatio <= 0 || s.Me.P99Ratio <= 0 || s.Me.CPURatio <= 0 || len(s.Me.Rounds) != 2 ||
		s.Me.MetricsRPSRatio <= 0 || s.Me.MetricsP99Ratio <= 0 || s.Me.MetricsCPURatio <= 0:
		t.Errorf("me ratios not computed: %+v", s.Me)
	case s.Login == nil || s.Login.Ratio <= 0:
		t.Errorf("login ratio not computed: %+v", s.Login)
	case s.Register == nil || s.Register.Ratio <= 0:
		t.Errorf("register ratio not computed: %+v", s.Register)
	}
}

// checkOps: requests were made, none failed with a 5xx or in transport,
// and the percentiles are ordered.
func checkOps(t *testing.T, workload, server string, ops []OpStats) {
	t.Helper()
	for _, s := range ops {
		if s.Requests == 0 {
			t.Errorf("%s %s %s: no requests", workload, server, s.Op)
			continue
		}
		for code, n := range s.Errors {
			if status, err := strconv.Atoi(code); err != nil || status >= 500 {
				t.Errorf("%s %s %s: %d × %s (%s)", workload, server, s.Op, n, code, s.TransportError)
			}
		}
		if s.OKRPS <= 0 {
			t.Errorf("%s %s %s: no 2xx answers: %v", workload, server, s.Op, s.Errors)
		}
		if !(s.P50MS > 0 && s.P50MS <= s.P90MS && s.P90MS <= s.P99MS && s.P99MS <= s.MaxMS) {
			t.Errorf("%s %s %s: percentiles out of order: %+v", workload, server, s.Op, s)
		}
	}
}

// checkDropped fails when the benchmark's PostgreSQL database still exists.
func checkDropped(t *testing.T, adminURL, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "keylin_bench_") {
		t.Fatalf("database name %q", name)
	}
	db, err := sql.Open("postgres", adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s left behind", name)
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"UnknownWorkload", []string{"--workloads", "me,nope"}},
		{"HashAndCheapHash", []string{"--hash", "m=65536,t=3,p=4", "--cheap-hash"}},
		{"HashBelowOWASP", []string{"--hash", "m=1024,t=1,p=1"}},
		{"HashIncomplete", []string{"--hash", "m=65536"}},
		{"BadDB", []string{"--db", "mysql"}},
		{"ZeroConcurrency", []string{"--concurrency", "0"}},
		{"StrayArgument", []string{"me"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := cli(t.Context(), tc.args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
		})
	}
	t.Run("Defaults", func(t *testing.T) {
		o, err := parseOptions(nil, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.concurrency != 16 || o.duration.Seconds() != 10 || o.db != "sqlite" || len(o.workloads) != len(workloads) ||
			o.hash.Memory != 65536 || o.hash.Iterations != 3 || o.hash.Parallelism != 4 {
			t.Errorf("defaults: %+v", o)
		}
	})
	t.Run("Hash", func(t *testing.T) {
		o, err := parseOptions([]string{"--hash", "m=19456,t=2,p=1", "--workloads", "login, me,login"}, &bytes.Buffer{})
		if err != nil {
			t.Fatal(err)
		}
		if o.hash != cheapHash || strings.Join(o.workloads, ",") != "login,me" {
			t.Errorf("got hash %+v workloads %v", o.hash, o.workloads)
		}
	})
}

func TestPercentile(t *testing.T) {
	lat := make([]int64, 0, 100)
	for i := range 100 {
		lat = append(lat, int64(i+1))
	}
	var d recorder
	for _, v := range lat {
		d.add(opMe, time.Duration(v)*time.Millisecond, 200, nil)
	}
	d.add(opMe, 0, 503, nil)
	d.add(opMe, 0, 0, errors.New("connection refused"))
	total, _, _ := summarize([]*recorder{&d}, 10*time.Second)
	if total.Errors["503"] != 1 || total.Errors["transport"] != 1 {
		t.Errorf("errors %v", total.Errors)
	}
	want := map[string]StatusStats{"200": {Count: 100, P50MS: 50, P99MS: 99}, "503": {Count: 1}, "transport": {Count: 1}}
	if !reflect.DeepEqual(total.ByStatus, want) {
		t.Errorf("by status %+v, want %+v", total.ByStatus, want)
	}
	// The two failures took no time: they rank first.
	d = recorder{}
	for _, v := range lat {
		d.add(opMe, time.Duration(v)*time.Millisecond, 200, nil)
	}
	total, _, _ = summarize([]*recorder{&d}, 10*time.Second)
	if total.P50MS != 50 || total.P90MS != 90 || total.P99MS != 99 || total.MaxMS != 100 || total.RPS != 10 || total.OKRPS != 10 {
		t.Errorf("got %+v", total)
	}
}

// TestRetryAfter: with --retry-after a worker refused with 503 waits as
// Retry-After says (1 s here, plus up to 0.5 s of jitter: two requests in
// 2 s); without it, it asks again at once.
func TestRetryAfter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	login := workloads[1]
	for _, honour := range []bool{false, true} {
		var seq atomic.Int64
		c := newClient(strings.TrimPrefix(srv.URL, "http://"), 1, 5*time.Second, "pw", "t", &seq)
		c.retryAfter = honour
		recs := drive(context.Background(), c, login, []*worker{{email: "a@example.com"}}, 0, 2*time.Second, func(bool) {})
		total, _, _ := summarize(recs, 2*time.Second)
		switch {
		case honour && total.Requests != 2:
			t.Errorf("honouring Retry-After (1 s, plus up to 0.5 s): %d requests in 2 s, want 2", total.Requests)
		case !honour && total.Requests < 10:
			t.Errorf("flooding: %d requests in 2 s, want many", total.Requests)
		}
		if total.ByStatus["503"].Count != total.Requests {
			t.Errorf("by status %+v", total.ByStatus)
		}
	}
}
