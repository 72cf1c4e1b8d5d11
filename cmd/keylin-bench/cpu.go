package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is Linux's USER_HZ, the unit of /proc's CPU times: 100 on
// every architecture Go supports.
const clockTicks = 100

// cpuSample is the CPU time used so far, in seconds: by the whole machine
// (busy and idle, all CPUs), by the server process and by this process.
type cpuSample struct {
	busy, idle float64
	server     float64
	self       float64
}

// sampleCPU reads /proc (Linux only).
func sampleCPU(serverPID int) (cpuSample, error) {
	var s cpuSample
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s, errors.New("unexpected /proc/stat")
	}
	// user nice system idle iowait irq softirq steal
	for i, v := range f[1:9] {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return s, err
		}
		if i == 3 || i == 4 {
			s.idle += n / clockTicks
		} else {
			s.busy += n / clockTicks
		}
	}
	if s.server, err = processCPU(strconv.Itoa(serverPID)); err != nil {
		return s, err
	}
	s.self, err = processCPU("self")
	return s, err
}

// processCPU returns a process's user and system CPU time, all threads, in
// seconds, from /proc/PID/stat.
func processCPU(pid string) (float64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing parenthesis, where field 3 (state) starts.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc/PID/stat")
	}
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return (utime + stime) / clockTicks, nil
}

// CPU is where the machine's CPU time went during a run's measured
// window, in seconds: the server process, this benchmark (the client), and
// everything else running on the machine at the time — which, when large,
// makes the run's figures doubtful.
type CPU struct {
	ServerSeconds float64 `json:"server_seconds"`
	ClientSeconds float64 `json:"client_seconds"`
	OtherSeconds  float64 `json:"other_seconds"`
	IdleSeconds   float64 `json:"idle_seconds"`
	// ServerUSPerRequest is the server's CPU time per completed request,
	// in microseconds: a cost that other load on the machine disturbs
	// less than the request rate.
	ServerUSPerRequest float64 `json:"server_us_per_request"`
}

// cpuBetween is the CPU time spent between two samples.
func cpuBetween(a, b cpuSample, requests int) CPU {
	c := CPU{
		ServerSeconds: b.server - a.server,
		ClientSeconds: b.self - a.self,
		IdleSeconds:   b.idle - a.idle,
	}
	c.OtherSeconds = max(0, (b.busy-a.busy)-c.ServerSeconds-c.ClientSeconds)
	if requests > 0 {
		c.ServerUSPerRequest = c.ServerSeconds / float64(requests) * 1e6
	}
	return c
}
