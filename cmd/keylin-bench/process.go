package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Bounds on a server process's life outside the runs.
const (
	startTimeout = time.Minute
	// stopTimeout is keylin serve's shutdown timeout and some.
	stopTimeout = shutdownTimeout + 10*time.Second
)

// server is a running server process.
type server struct {
	role    string
	addr    string // host:port it listens on
	logPath string
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	waitErr error         // the process's exit, once done is closed
}

// startServer starts exe --role=role in dir with env added to the
// environment, its stderr (the server's log) going to logPath, and waits
// until it listens.
func startServer(ctx context.Context, exe, role, dir, logPath string, env, extraArgs []string) (*server, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own descriptor
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	args := append([]string{"--role=" + role, "--addr", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(exe, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...) // later entries win
	cmd.Stdout = w
	cmd.Stderr = logf
	dieWithParent(cmd)
	err = cmd.Start()
	w.Close()
	if err != nil {
		return nil, fmt.Errorf("start %s server: %w", role, err)
	}
	s := &server{role: role, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()

	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		_, _ = io.Copy(io.Discard, r)
	}()
	fail := func(err error) (*server, error) {
		s.kill()
		return nil, fmt.Errorf("%s server: %w%s", role, err, logTail(logPath))
	}
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, listeningPrefix)
		if !ok || !found {
			<-s.done
			return fail(fmt.Errorf("exited before listening: %v", s.waitErr))
		}
		s.addr = addr
		return s, nil
	case <-time.After(startTimeout):
		return fail(fmt.Errorf("not listening after %v", startTimeout))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

// peakRSS returns the process's peak resident set size in bytes (VmHWM).
func (s *server) peakRSS() (int64, error) {
	return readVmHWM(s.cmd.Process.Pid)
}

// stop sends SIGTERM and waits for the process to finish its in-flight
// requests and exit; after stopTimeout it is killed.
func (s *server) stop() error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.kill()
		return err
	}
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		s.kill()
		return fmt.Errorf("%s server did not stop within %v; killed", s.role, stopTimeout)
	}
	if s.waitErr != nil {
		return fmt.Errorf("%s server: %w%s", s.role, s.waitErr, logTail(s.logPath))
	}
	return nil
}

// kill ends the process at once and waits for it.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

// readVmHWM reads VmHWM from /proc/PID/status, in bytes.
func readVmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("peak RSS: VmHWM %q: %w", v, err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("peak RSS: no VmHWM in /proc status")
}

// logStats counts a server log's lines, and its warnings and errors (JSON
// slog lines); first is the message of the first warning or error.
type logStats struct {
	Lines    int    `json:"lines"`
	Warnings int    `json:"warnings"`
	Errors   int    `json:"errors"`
	First    string `json:"first_problem,omitempty"`
}

func scanLog(path string) (logStats, error) {
	var st logStats
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		st.Lines++
		line := sc.Bytes()
		warn := bytes.Contains(line, []byte(`"level":"WARN"`))
		bad := bytes.Contains(line, []byte(`"level":"ERROR"`))
		switch {
		case warn:
			st.Warnings++
		case bad:
			st.Errors++
		default:
			continue
		}
		if st.First == "" {
			var m struct {
				Msg   string `json:"msg"`
				Error string `json:"error"`
			}
			if json.Unmarshal(line, &m) == nil {
				st.First = m.Msg
				if m.Error != "" {
					st.First += ": " + m.Error
				}
			}
		}
	}
	return st, sc.Err()
}

// logTail returns the last lines of a server log, for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "\nlast lines of " + path + ":\n  " + strings.Join(lines, "\n  ")
}

// waitReady polls keylin's /readyz until it answers 200: keylin is not
// ready before it has timed a password hash, which its load shedding needs.
func waitReady(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("keylin not ready after %v: %v", startTimeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// checkMetrics makes sure a keylin+metrics run had its metrics on: its
// /metrics counts the requests it served.
func checkMetrics(ctx context.Context, addr string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("keylin_http_requests_total{")) {
		return fmt.Errorf("keylin with METRICS=true: GET /metrics answered %d without request counts", resp.StatusCode)
	}
	return nil
}
