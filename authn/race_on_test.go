//go:build race

package authn_test

// raceEnabled: the race detector slows hashing unevenly; timing
// comparisons run without it (see the Makefile's timing target).
const raceEnabled = true
