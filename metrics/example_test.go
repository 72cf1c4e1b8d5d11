package metrics_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/keylin/keylin/metrics"
)

// An application counts its requests, keylin's and its own, by route
// pattern: the id in the path stays out of the labels.
func ExampleMetrics_Mount() {
	e := echo.New()
	e.GET("/notes/:id", func(c echo.Context) error { return c.String(http.StatusOK, "a note") })
	metrics.New(metrics.Config{Registry: prometheus.NewRegistry()}).Mount(e)

	for _, path := range []string{"/notes/1", "/notes/2", "/nowhere"} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, "keylin_http_requests_total{") {
			fmt.Println(line)
		}
	}
	// Output:
	// keylin_http_requests_total{method="GET",route="/notes/:id",status="200"} 2
	// keylin_http_requests_total{method="GET",route="unmatched",status="404"} 1
}
