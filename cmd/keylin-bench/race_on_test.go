//go:build race

package main

// raceEnabled: the race detector makes argon2id hashing about ten times
// slower, so that a one-second window may see no login complete.
const raceEnabled = true
