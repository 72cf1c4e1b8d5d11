// Package metrics exposes a keylin service's figures to Prometheus, with
// the official client library (prometheus/client_golang): requests by
// route and status, their latency, the password-hashing slots and their
// queue, and the database pool. It is opt-in: `keylin serve` mounts it at
// /metrics with METRICS=true, and an application can do the same.
//
//	metrics.New(metrics.Config{Hasher: svc.Manager.Hasher(), DB: db.DB}).Mount(e)
//
// or, to serve /metrics elsewhere (another port, behind authentication),
// e.Pre(m.Middleware()) and m.Handler() where it belongs.
//
// The middleware costs two map-free updates per request: the counter and
// the histogram of the request's route are looked up once per route and
// status, then cached.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/keylin/keylin/authn"
)

// Config says what to measure besides the HTTP requests.
type Config struct {
	// Hasher is the Manager's password hasher (svc.Manager.Hasher()); nil
	// leaves the hashing figures out.
	Hasher *authn.Hasher
	// DB is the database pool; nil leaves the pool figures out.
	DB *sql.DB
	// Registry receives the collectors; nil makes a new one with the Go
	// runtime and process collectors.
	Registry *prometheus.Registry
}

// Metrics holds the collectors of one service.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// series caches the children of one route, method and status.
	series sync.Map // seriesKey → *series
}

type seriesKey struct {
	route, method string
	status        int
}

type series struct {
	count prometheus.Counter
	dur   prometheus.Observer
}

// New registers keylin's collectors.
func New(cfg Config) *Metrics {
	reg := cfg.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &Metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keylin_http_requests_total",
			Help: "HTTP requests by route pattern, method and status (429: rate limited; 503: hashing overloaded or database unavailable).",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "keylin_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests, m.latency)
	if h := cfg.Hasher; h != nil {
		stat := func(f func(authn.HasherStats) float64) func() float64 {
			return func() float64 { return f(h.Stats()) }
		}
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keylin_hash_slots", Help: "Password hashes that may run at once."},
				stat(func(s authn.HasherStats) float64 { return float64(s.Slots) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keylin_hash_slots_in_use", Help: "Password hashes running now."},
				stat(func(s authn.HasherStats) float64 { return float64(s.InUse) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keylin_hash_waiting", Help: "Requests queued for a hashing slot."},
				stat(func(s authn.HasherStats) float64 { return float64(s.Waiting) })),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "keylin_hash_duration_seconds", Help: "Moving average of one password hash."},
				stat(func(s authn.HasherStats) float64 { return s.AvgHash.Seconds() })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keylin_hash_waits_total", Help: "Hashes that waited for a slot."},
				stat(func(s authn.HasherStats) float64 { return float64(s.Waits) })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keylin_hash_wait_seconds_total", Help: "Time spent waiting for a hashing slot."},
				stat(func(s authn.HasherStats) float64 { return s.WaitTotal.Seconds() })),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "keylin_hash_refused_total", Help: "Hashes refused because the wait for a slot would be too long (answered 503)."},
				stat(func(s authn.HasherStats) float64 { return float64(s.Refused) })),
		)
	}
	if cfg.DB != nil {
		reg.MustRegister(collectors.NewDBStatsCollector(cfg.DB, "keylin"))
	}
	return m
}

// Middleware counts and times every request by its route pattern (never
// its path: ids stay out of the labels). Requests that match no route are
// counted under the route "unmatched".
func (m *Metrics) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			status := c.Response().Status
			if err != nil {
				// The error handler writes the answer after us: read its status
				// from the error.
				if he, ok := err.(*echo.HTTPError); ok {
					status = he.Code
				} else if !c.Response().Committed {
					status = http.StatusInternalServerError
				}
			}
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			m.observe(route, c.Request().Method, status, time.Since(start))
			return err
		}
	}
}

func (m *Metrics) observe(route, method string, status int, d time.Duration) {
	k := seriesKey{route, method, status}
	v, ok := m.series.Load(k)
	if !ok {
		code := strconv.Itoa(status)
		v, _ = m.series.LoadOrStore(k, &series{
			count: m.requests.WithLabelValues(route, method, code),
			dur:   m.latency.WithLabelValues(route, method, code),
		})
	}
	s := v.(*series)
	s.count.Inc()
	s.dur.Observe(d.Seconds())
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Mount installs the metrics on e as `keylin serve` does with METRICS=true:
// the middleware ahead of routing (so every request is counted, matched or
// not) and GET /metrics. Keep /metrics reachable from your monitoring
// only.
func (m *Metrics) Mount(e *echo.Echo) {
	e.Pre(m.Middleware())
	e.GET("/metrics", echo.WrapHandler(m.Handler()))
}
