package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// OpStats are the figures of one operation (or of all) in one run.
type OpStats struct {
	Op       string  `json:"op"`
	Requests int     `json:"requests"`
	RPS      float64 `json:"rps"`
	OKRPS    float64 `json:"ok_rps"` // 2xx answers per second
	P50MS    float64 `json:"p50_ms"`
	P90MS    float64 `json:"p90_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
	// Errors counts every non-2xx answer by status ("401", "503") and
	// transport errors ("transport").
	Errors map[string]int `json:"errors"`
	// TransportError is one transport error's message, as an example.
	TransportError string `json:"transport_error,omitempty"`
	// ByStatus are the latencies of the answers of each status ("200",
	// "503"; "transport" for transport errors): how fast a refusal comes
	// matters as much as how fast a success does.
	ByStatus map[string]StatusStats `json:"by_status"`
}

// StatusStats are the figures of the answers of one status in one run.
type StatusStats struct {
	Count int     `json:"count"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
}

// ErrorCount is the number of non-2xx answers and transport errors.
func (s OpStats) ErrorCount() int {
	n := 0
	for _, c := range s.Errors {
		n += c
	}
	return n
}

// summarize merges the workers' recorders over a measured window: the
// figures of all operations together, and of each operation that occurred
// when there were several kinds.
func summarize(recs []*recorder, window time.Duration) (total OpStats, perOp []OpStats, restarts int) {
	var all [numOps]opData
	for _, r := range recs {
		restarts += r.restarts
		for o := range numOps {
			d := &all[o]
			d.lat = append(d.lat, r.lat[o]...)
			d.status = append(d.status, r.status[o]...)
			for code, n := range r.codes[o] {
				if d.codes == nil {
					d.codes = map[int]int{}
				}
				d.codes[code] += n
			}
			d.transport += r.transport[o]
			if d.transErr == "" {
				d.transErr = r.transErr
			}
		}
	}
	var sum opData
	kinds := 0
	for o := range numOps {
		d := &all[o]
		if len(d.lat) == 0 {
			continue
		}
		kinds++
		sum.lat = append(sum.lat, d.lat...)
		sum.status = append(sum.status, d.status...)
		for code, n := range d.codes {
			if sum.codes == nil {
				sum.codes = map[int]int{}
			}
			sum.codes[code] += n
		}
		sum.transport += d.transport
		if sum.transErr == "" {
			sum.transErr = d.transErr
		}
		perOp = append(perOp, d.stats(op(o).String(), window))
	}
	total = sum.stats("all", window)
	if kinds == 1 {
		total.Op = perOp[0].Op
	}
	if kinds <= 1 {
		perOp = nil
	}
	return total, perOp, restarts
}

// opData is the raw record of one operation.
type opData struct {
	lat       []time.Duration
	status    []int // of each latency; 0 for a transport error
	codes     map[int]int
	transport int
	transErr  string
}

func (d *opData) stats(name string, window time.Duration) OpStats {
	s := OpStats{Op: name, Requests: len(d.lat), Errors: map[string]int{}}
	secs := window.Seconds()
	s.RPS = float64(len(d.lat)) / secs
	ok := 0
	for code, n := range d.codes {
		if code >= 200 && code < 300 {
			ok += n
		} else {
			s.Errors[strconv.Itoa(code)] += n
		}
	}
	if d.transport > 0 {
		s.Errors["transport"] = d.transport
		s.TransportError = d.transErr
	}
	s.OKRPS = float64(ok) / secs
	if len(d.lat) > 0 {
		lat := slices.Clone(d.lat)
		slices.Sort(lat)
		s.P50MS = ms(percentile(lat, 0.50))
		s.P90MS = ms(percentile(lat, 0.90))
		s.P99MS = ms(percentile(lat, 0.99))
		s.MaxMS = ms(lat[len(lat)-1])
	}
	s.ByStatus = d.byStatus()
	return s
}

// byStatus groups the latencies by status.
func (d *opData) byStatus() map[string]StatusStats {
	groups := map[string][]time.Duration{}
	for i, l := range d.lat {
		name := "transport"
		if i < len(d.status) && d.status[i] != 0 {
			name = strconv.Itoa(d.status[i])
		}
		groups[name] = append(groups[name], l)
	}
	out := make(map[string]StatusStats, len(groups))
	for name, lat := range groups {
		slices.Sort(lat)
		out[name] = StatusStats{Count: len(lat), P50MS: ms(percentile(lat, 0.50)), P99MS: ms(percentile(lat, 0.99))}
	}
	return out
}

// percentile returns the nearest-rank p-quantile of sorted latencies: the
// smallest latency that at least p of the requests did not exceed.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
