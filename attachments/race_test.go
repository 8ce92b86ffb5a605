//go:build race

package attachments_test

// raceEnabled: the race detector slows modernc's SQLite (C translated to
// Go, every memory access checked) some thirty times.
const raceEnabled = true
