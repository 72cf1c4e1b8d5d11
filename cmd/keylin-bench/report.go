package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is everything one benchmark measured; --json prints it as is.
type Report struct {
	Database       string  `json:"database"`      // sqlite or postgres
	DatabaseName   string  `json:"database_name"` // SQLite file or PostgreSQL database
	Concurrency    int     `json:"concurrency"`
	Seconds        float64 `json:"seconds"` // measured time of each run
	WarmupSeconds  float64 `json:"warmup_seconds"`
	Users          int     `json:"users"`
	Hash           string  `json:"hash"`
	CPUs           int     `json:"cpus"`
	GoVersion      string  `json:"go_version"`
	RateLimitStore string  `json:"rate_limit_store"` // what keylin ran with
	// RetryAfter tells whether workers waited as 429 and 503 answers asked.
	RetryAfter bool             `json:"retry_after"`
	HashRate   HashRate         `json:"hash_rate"`
	Workloads  []WorkloadReport `json:"workloads"`
	Summary    Summary          `json:"summary"`
}

// WorkloadReport holds a workload's runs, in the order they ran.
type WorkloadReport struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Runs        []Run  `json:"runs"`
}

// Run is one server process driven with one workload.
type Run struct {
	Workload string  `json:"workload"`
	Server   string  `json:"server"` // keylin or baseline
	Round    int     `json:"round"`  // 1, 2, … per server
	Seconds  float64 `json:"seconds"`
	Total    OpStats `json:"total"`
	// Ops break a mixed workload down by operation.
	Ops          []OpStats `json:"ops,omitempty"`
	PeakRSSBytes int64     `json:"peak_rss_bytes"`
	// RefreshChainRestarts counts workers that logged in again after a
	// failed refresh broke their chain.
	RefreshChainRestarts int      `json:"refresh_chain_restarts"`
	Log                  logStats `json:"log"`
	// CPU is where the machine's CPU time went in the measured window.
	CPU CPU `json:"cpu"`
}

// otherLoad is the share of the machine's CPU capacity that processes
// other than the server and the client used during the run.
func (r Run) otherLoad(cpus int) float64 {
	return ratio(r.CPU.OtherSeconds, float64(cpus)*r.Seconds)
}

// Summary compares keylin with the baseline and with the hash rate.
type Summary struct {
	Me       *MeSummary `json:"me,omitempty"`
	Login    *HashBound `json:"login,omitempty"`
	Register *HashBound `json:"register,omitempty"`
}

// MeSummary compares keylin's GET /users/me with the bare baseline: means
// of the rounds, and each round's ratios.
type MeSummary struct {
	KeylinRPS     float64 `json:"keylin_rps"`
	BaselineRPS   float64 `json:"baseline_rps"`
	RPSRatio      float64 `json:"rps_ratio"` // keylin / baseline
	KeylinP99MS   float64 `json:"keylin_p99_ms"`
	BaselineP99MS float64 `json:"baseline_p99_ms"`
	P99Ratio      float64 `json:"p99_ratio"` // keylin / baseline
	// Server CPU time per request, in microseconds (means of the rounds),
	// and their ratio: less disturbed by other load than req/s.
	KeylinCPUUS   float64 `json:"keylin_cpu_us_per_request"`
	BaselineCPUUS float64 `json:"baseline_cpu_us_per_request"`
	CPURatio      float64 `json:"cpu_ratio"` // keylin / baseline
	Rounds        []Round `json:"rounds"`
	// The same for keylin with METRICS=true against keylin without, from
	// the same rounds: what the metrics cost on the authenticated path.
	MetricsRPSRatio float64 `json:"metrics_rps_ratio,omitempty"`
	MetricsP99Ratio float64 `json:"metrics_p99_ratio,omitempty"`
	MetricsCPURatio float64 `json:"metrics_cpu_ratio,omitempty"`
	// BaselineSpread is (max − min) / mean of the baseline rounds' req/s:
	// how much the machine drifted.
	BaselineSpread float64 `json:"baseline_spread"`
}

// Round is one baseline run and the keylin run after it.
type Round struct {
	Round    int     `json:"round"`
	RPSRatio float64 `json:"rps_ratio"`
	P99Ratio float64 `json:"p99_ratio"`
}

// HashBound compares a hash-bound route's accepted requests per second
// with the raw hash rate, and the server's CPU time per accepted request
// with the CPU time of one raw hash.
type HashBound struct {
	AcceptedRPS     float64 `json:"accepted_rps"`
	HashesPerSecond float64 `json:"hashes_per_second"`
	Ratio           float64 `json:"ratio"`    // accepted_rps / hashes_per_second
	Rejected        int     `json:"rejected"` // non-2xx and transport errors
	// ServerCPUMSPerAccepted is the server's CPU time in the window over
	// the accepted requests (refused ones cost little: they never hash).
	ServerCPUMSPerAccepted float64 `json:"server_cpu_ms_per_accepted"`
	CPUMSPerHash           float64 `json:"cpu_ms_per_hash"`
	CPURatio               float64 `json:"cpu_ratio"` // server_cpu_ms_per_accepted / cpu_ms_per_hash
}

func summarizeReport(rep *Report) Summary {
	var s Summary
	for _, w := range rep.Workloads {
		switch w.Name {
		case "me":
			s.Me = summarizeMe(w.Runs)
		case "login", "register":
			if len(w.Runs) == 0 {
				continue
			}
			r := w.Runs[len(w.Runs)-1]
			hb := &HashBound{
				AcceptedRPS: r.Total.OKRPS, HashesPerSecond: rep.HashRate.PerSecond, Rejected: r.Total.ErrorCount(),
				CPUMSPerHash: rep.HashRate.CPUMSPerHash,
			}
			hb.Ratio = ratio(hb.AcceptedRPS, hb.HashesPerSecond)
			if accepted := r.Total.OKRPS * r.Seconds; accepted > 0 {
				hb.ServerCPUMSPerAccepted = r.CPU.ServerSeconds / accepted * 1e3
			}
			hb.CPURatio = ratio(hb.ServerCPUMSPerAccepted, hb.CPUMSPerHash)
			if w.Name == "login" {
				s.Login = hb
			} else {
				s.Register = hb
			}
		}
	}
	return s
}

func summarizeMe(runs []Run) *MeSummary {
	var base, kl, km []Run
	for _, r := range runs {
		switch r.Server {
		case roleBaseline:
			base = append(base, r)
		case roleKeylin:
			kl = append(kl, r)
		case runKeylinMetrics:
			km = append(km, r)
		}
	}
	if len(base) == 0 || len(kl) == 0 {
		return nil
	}
	mean := func(rs []Run, f func(Run) float64) float64 {
		t := 0.0
		for _, r := range rs {
			t += f(r)
		}
		return t / float64(len(rs))
	}
	rps := func(r Run) float64 { return r.Total.RPS }
	p99 := func(r Run) float64 { return r.Total.P99MS }
	m := &MeSummary{
		KeylinRPS: mean(kl, rps), BaselineRPS: mean(base, rps),
		KeylinP99MS: mean(kl, p99), BaselineP99MS: mean(base, p99),
	}
	m.RPSRatio = ratio(m.KeylinRPS, m.BaselineRPS)
	m.P99Ratio = ratio(m.KeylinP99MS, m.BaselineP99MS)
	cpu := func(r Run) float64 { return r.CPU.ServerUSPerRequest }
	m.KeylinCPUUS, m.BaselineCPUUS = mean(kl, cpu), mean(base, cpu)
	m.CPURatio = ratio(m.KeylinCPUUS, m.BaselineCPUUS)
	if len(km) > 0 {
		m.MetricsRPSRatio = ratio(mean(km, rps), m.KeylinRPS)
		m.MetricsP99Ratio = ratio(mean(km, p99), m.KeylinP99MS)
		m.MetricsCPURatio = ratio(mean(km, cpu), m.KeylinCPUUS)
	}
	for i := range min(len(base), len(kl)) {
		m.Rounds = append(m.Rounds, Round{
			Round:    i + 1,
			RPSRatio: ratio(kl[i].Total.RPS, base[i].Total.RPS),
			P99Ratio: ratio(kl[i].Total.P99MS, base[i].Total.P99MS),
		})
	}
	lo, hi := base[0].Total.RPS, base[0].Total.RPS
	for _, r := range base {
		lo, hi = min(lo, r.Total.RPS), max(hi, r.Total.RPS)
	}
	m.BaselineSpread = ratio(hi-lo, m.BaselineRPS)
	return m
}

// noisyLoad is the share of the CPUs other processes may use during a run
// before the report warns about it.
const noisyLoad = 0.10

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func writeJSON(w io.Writer, rep *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// writeText prints the report as one aligned table per workload and a
// summary.
func writeText(w io.Writer, rep *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "keylin-bench: %s, %d workers, %gs per run after %gs warm-up, %d users, %s, %d CPUs, %s\n",
		rep.Database, rep.Concurrency, rep.Seconds, rep.WarmupSeconds, rep.Users, rep.Hash, rep.CPUs, rep.GoVersion)
	fmt.Fprintf(&b, "keylin runs with RATE_LIMIT_STORE=%s (every request comes from the tool's one IP, which the rate limits would throttle)\n", rep.RateLimitStore)
	fmt.Fprintf(&b, "and the request log on; the client and the server share the machine's %d CPUs.\n", rep.CPUs)
	if rep.RetryAfter {
		b.WriteString("workers answered 429 or 503 wait as its Retry-After says (--retry-after).\n")
	} else {
		b.WriteString("workers answered 429 or 503 ask again at once, as a flood does (--retry-after makes them wait).\n")
	}
	if rep.Database == "postgres" {
		fmt.Fprintf(&b, "other load counts PostgreSQL's own processes too.\n")
	}
	b.WriteString("\n")
	hr := rep.HashRate
	fmt.Fprintf(&b, "raw hash rate: %.1f hashes/s, %.0f ms CPU per hash (%s, %s, %d goroutines: %d hashes in %.2fs)\n",
		hr.PerSecond, hr.CPUMSPerHash, hr.Params, hr.Hasher, hr.Goroutines, hr.Hashes, hr.Seconds)

	for _, wr := range rep.Workloads {
		fmt.Fprintf(&b, "\n%s: %s\n", wr.Name, wr.Description)
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprint(tw, "run\top\trequests\treq/s\t2xx/s\tp50\tp90\tp99\tmax\terrors\tpeak RSS\tsrv CPU/req\tother load\tlog lines (warn/err)\t\n")
		for _, r := range wr.Runs {
			name := r.Server
			if wr.Name == "me" {
				name += " " + strconv.Itoa(r.Round)
			}
			rows := append([]OpStats{r.Total}, r.Ops...)
			for i, s := range rows {
				rss, cpu, other, logs, run := "", "", "", "", ""
				if i == 0 {
					run = name
					rss = fmt.Sprintf("%.1f MiB", mib(r.PeakRSSBytes))
					cpu = fmt.Sprintf("%.0fµs", r.CPU.ServerUSPerRequest)
					other = fmt.Sprintf("%.0f%%", 100*r.otherLoad(rep.CPUs))
					logs = fmt.Sprintf("%d (%d/%d)", r.Log.Lines, r.Log.Warnings, r.Log.Errors)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
					run, s.Op, s.Requests, s.RPS, s.OKRPS, fmtMS(s.P50MS), fmtMS(s.P90MS), fmtMS(s.P99MS), fmtMS(s.MaxMS),
					fmtErrors(s.Errors), rss, cpu, other, logs)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, r := range wr.Runs {
			if st := r.Total.ByStatus; len(st) > 1 {
				var parts []string
				for _, k := range slices.Sorted(maps.Keys(st)) {
					parts = append(parts, fmt.Sprintf("%s: %d, p50 %s, p99 %s", k, st[k].Count, fmtMS(st[k].P50MS), fmtMS(st[k].P99MS)))
				}
				fmt.Fprintf(&b, "%s by status: %s\n", r.Server, strings.Join(parts, "; "))
			}
			if r.RefreshChainRestarts > 0 {
				fmt.Fprintf(&b, "%s: %d refresh chains broke and were started again by a login\n", r.Server, r.RefreshChainRestarts)
			}
			for _, s := range append([]OpStats{r.Total}, r.Ops...) {
				if s.TransportError != "" {
					fmt.Fprintf(&b, "%s %s: transport error, e.g.: %s\n", r.Server, s.Op, s.TransportError)
					break
				}
			}
		}
	}

	worst := 0.0
	for _, wr := range rep.Workloads {
		for _, r := range wr.Runs {
			worst = max(worst, r.otherLoad(rep.CPUs))
		}
	}
	if worst > noisyLoad {
		fmt.Fprintf(&b, "\nwarning: other processes used up to %.0f%% of the machine's CPUs during a run: req/s and latencies of such runs are doubtful; server CPU per request less so\n", 100*worst)
	}

	fmt.Fprintf(&b, "\nsummary (%s, %d workers)\n", rep.Database, rep.Concurrency)
	s := rep.Summary
	if m := s.Me; m != nil {
		var rr, pr []string
		for _, r := range m.Rounds {
			rr = append(rr, fmt.Sprintf("round %d: %.2f", r.Round, r.RPSRatio))
			pr = append(pr, fmt.Sprintf("round %d: %.2f", r.Round, r.P99Ratio))
		}
		fmt.Fprintf(&b, "  me req/s:  keylin %.0f / baseline %.0f = %.2f  (%s; baseline rounds spread %.1f%%)\n",
			m.KeylinRPS, m.BaselineRPS, m.RPSRatio, strings.Join(rr, ", "), 100*m.BaselineSpread)
		fmt.Fprintf(&b, "  me p99:    keylin %s / baseline %s = %.2f  (%s)\n",
			fmtMS(m.KeylinP99MS), fmtMS(m.BaselineP99MS), m.P99Ratio, strings.Join(pr, ", "))
		fmt.Fprintf(&b, "  me server CPU per request: keylin %.0fµs / baseline %.0fµs = %.2f\n",
			m.KeylinCPUUS, m.BaselineCPUUS, m.CPURatio)
		if m.MetricsRPSRatio > 0 {
			fmt.Fprintf(&b, "  me with METRICS=true / without: req/s %.2f, p99 %.2f, server CPU per request %.2f\n",
				m.MetricsRPSRatio, m.MetricsP99Ratio, m.MetricsCPURatio)
		}
	}
	for _, x := range []struct {
		name string
		hb   *HashBound
	}{{"login", s.Login}, {"register", s.Register}} {
		if x.hb == nil {
			continue
		}
		fmt.Fprintf(&b, "  %-9s  %.1f accepted/s / raw hash rate %.1f hashes/s = %.2f  (%d refused or failed)\n",
			x.name+":", x.hb.AcceptedRPS, x.hb.HashesPerSecond, x.hb.Ratio, x.hb.Rejected)
		fmt.Fprintf(&b, "  %-9s  server CPU %.0f ms per accepted / %.0f ms per raw hash = %.2f\n",
			"", x.hb.ServerCPUMSPerAccepted, x.hb.CPUMSPerHash, x.hb.CPURatio)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func fmtMS(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 1000:
		return fmt.Sprintf("%.2fs", v/1000)
	case v >= 100:
		return fmt.Sprintf("%.0fms", v)
	case v >= 10:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.2fms", v)
}

// fmtErrors writes error counts as "401:3 503:120 transport:1", or "-".
func fmtErrors(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
