package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// op is one kind of request.
type op int

const (
	opMe op = iota
	opLogin
	opRegister
	opRefresh
	opPatchMe
	numOps
)

var opNames = [numOps]string{"me", "login", "register", "refresh", "patch_me"}

func (o op) String() string { return opNames[o] }

// workload is a weighted mix of operations.
type workload struct {
	name string
	desc string
	mix  [numOps]int // weights
}

var workloads = []workload{
	{name: "me", desc: "GET /users/me with a valid bearer token", mix: [numOps]int{opMe: 1}},
	{name: "login", desc: "POST /auth/jwt/login (form); each verifies one password hash", mix: [numOps]int{opLogin: 1}},
	{name: "register", desc: "POST /auth/register with a new address; each computes one password hash", mix: [numOps]int{opRegister: 1}},
	{name: "refresh", desc: "POST /auth/jwt/refresh; each worker follows its own rotation chain", mix: [numOps]int{opRefresh: 1}},
	{name: "mixed", desc: "70% me, 10% login, 5% register, 10% refresh, 5% PATCH /users/me full_name",
		mix: [numOps]int{opMe: 70, opLogin: 10, opRegister: 5, opRefresh: 10, opPatchMe: 5}},
}

func workloadNames() []string {
	names := make([]string, len(workloads))
	for i, w := range workloads {
		names[i] = w.name
	}
	return names
}

func findWorkload(name string) (workload, bool) {
	for _, w := range workloads {
		if w.name == name {
			return w, true
		}
	}
	return workload{}, false
}

// needsGrants reports whether the workload's workers need to be logged in
// beforehand (an access or a refresh token).
func (w workload) needsGrants() bool {
	return w.mix[opMe]+w.mix[opRefresh]+w.mix[opPatchMe] > 0
}

// pick draws an operation by the weights.
func (w workload) pick() op {
	total := 0
	for _, n := range w.mix {
		total += n
	}
	r := rand.IntN(total)
	for o, n := range w.mix {
		if r < n {
			return op(o)
		}
		r -= n
	}
	panic("unreachable")
}

// worker is what one client worker keeps between requests: its user and
// the tokens of its session.
type worker struct {
	email   string
	access  string
	refresh string
}

// client sends the benchmark's requests to one server.
type client struct {
	base     string // http://host:port
	http     *http.Client
	password string
	regTag   string        // makes registered addresses unique to this benchmark
	regSeq   *atomic.Int64 // numbers them
	// retryAfter makes workers wait as a 429's or 503's Retry-After says.
	retryAfter bool
}

func newClient(addr string, concurrency int, timeout time.Duration, password, regTag string, regSeq *atomic.Int64) *client {
	tr := &http.Transport{
		Proxy:               nil, // straight to the server, whatever HTTP_PROXY says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &client{
		base:     "http://" + addr,
		http:     &http.Client{Transport: tr, Timeout: timeout},
		password: password,
		regTag:   regTag,
		regSeq:   regSeq,
	}
}

func (c *client) close() { c.http.CloseIdleConnections() }

// grantBody is the part of a login or refresh answer the workers keep.
type grantBody struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// do sends one request of kind o as worker w and reads the whole answer.
// A refresh that succeeds moves w along its chain. It returns the status
// and the Retry-After of a 429 or 503, or the transport error.
func (c *client) do(ctx context.Context, o op, w *worker) (int, time.Duration, error) {
	var req *http.Request
	var err error
	switch o {
	case opMe:
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/users/me", nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+w.access)
		}
	case opLogin:
		form := url.Values{"username": {w.email}, "password": {c.password}}.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/auth/jwt/login", strings.NewReader(form))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	case opRegister:
		email := fmt.Sprintf("reg-%s-%d@example.com", c.regTag, c.regSeq.Add(1))
		req, err = jsonRequest(ctx, http.MethodPost, c.base+"/auth/register", map[string]string{"email": email, "password": c.password})
	case opRefresh:
		req, err = jsonRequest(ctx, http.MethodPost, c.base+"/auth/jwt/refresh", map[string]string{"refresh_token": w.refresh})
	case opPatchMe:
		req, err = jsonRequest(ctx, http.MethodPatch, c.base+"/users/me", map[string]string{"full_name": fmt.Sprintf("Bench User %d", rand.IntN(1000))})
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+w.access)
		}
	}
	if err != nil {
		return 0, 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if o == opRefresh && resp.StatusCode == http.StatusOK {
		var g grantBody
		if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
			return 0, 0, fmt.Errorf("refresh answer: %w", err)
		}
		w.access, w.refresh = g.AccessToken, g.RefreshToken
	}
	var wait time.Duration
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, wait, err
}

// login logs w in over the API and keeps the new session's tokens.
func (c *client) login(ctx context.Context, w *worker) error {
	form := url.Values{"username": {w.email}, "password": {c.password}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/auth/jwt/login", strings.NewReader(form))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return fmt.Errorf("login: status %d", resp.StatusCode)
	}
	var g grantBody
	if err := json.NewDecoder(resp.Body).Decode(&g); err != nil {
		return err
	}
	w.access, w.refresh = g.AccessToken, g.RefreshToken
	return nil
}

func jsonRequest(ctx context.Context, method, url string, body any) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// recorder keeps what one worker saw in the measured window.
type recorder struct {
	lat       [numOps][]time.Duration
	status    [numOps][]int       // the status of each latency; 0 for a transport error
	codes     [numOps]map[int]int // every status, 2xx included
	transport [numOps]int
	transErr  string // one transport error, as an example
	restarts  int    // refresh chains started again after a failed refresh
}

func (r *recorder) add(o op, d time.Duration, status int, err error) {
	r.lat[o] = append(r.lat[o], d)
	if err != nil {
		status = 0
	}
	r.status[o] = append(r.status[o], status)
	if err != nil {
		r.transport[o]++
		if r.transErr == "" {
			r.transErr = err.Error()
		}
		return
	}
	if r.codes[o] == nil {
		r.codes[o] = map[int]int{}
	}
	r.codes[o][status]++
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	}
}

// drive runs workers[i] (one goroutine each) against c with workload w:
// warm-up, then the measured window of duration. A request counts when it
// completes within the window; after the window no new request starts and
// those in flight finish uncounted. mark is called when the window opens
// (true) and when it closes (false). It returns what each worker recorded.
func drive(ctx context.Context, c *client, w workload, workers []*worker, warmup, duration time.Duration, mark func(open bool)) []*recorder {
	start := time.Now()
	from, to := start.Add(warmup), start.Add(warmup+duration)
	recs := make([]*recorder, len(workers))
	var wg sync.WaitGroup
	wg.Go(func() {
		for _, at := range []time.Time{from, to} {
			t := time.NewTimer(time.Until(at))
			select {
			case <-t.C:
				mark(at == from)
			case <-ctx.Done():
				t.Stop()
				return
			}
		}
	})
	for i, st := range workers {
		rec := &recorder{}
		recs[i] = rec
		wg.Go(func() {
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(to) {
					return
				}
				o := w.pick()
				if (o == opRefresh || o == opMe || o == opPatchMe) && st.refresh == "" && st.access == "" {
					// The chain broke (a failed refresh): log in again, uncounted.
					if err := c.login(ctx, st); err != nil {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					if t0.After(from) {
						rec.restarts++
					}
					continue
				}
				status, wait, err := c.do(ctx, o, st)
				t1 := time.Now()
				if o == opRefresh && (err != nil || status != http.StatusOK) {
					st.access, st.refresh = "", ""
				}
				if errors.Is(err, context.Canceled) && ctx.Err() != nil {
					return
				}
				if t1.Before(from) || t1.After(to) {
					continue
				}
				rec.add(o, t1.Sub(t0), status, err)
				if c.retryAfter && wait > 0 {
					// Up to half as long again, at random, as clients that
					// back off do, so that refused workers do not come back
					// in lockstep.
					until := t1.Add(wait + rand.N(wait/2+1))
					if until.After(to) {
						until = to
					}
					sleepUntil(ctx, until)
				}
			}
		})
	}
	wg.Wait()
	return recs
}
