//go:build !linux

package main

import "os/exec"

// dieWithParent does nothing outside Linux: a server left behind by a
// killed benchmark must be stopped by hand there.
func dieWithParent(*exec.Cmd) {}
