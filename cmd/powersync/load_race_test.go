//go:build race

package main

// raceEnabled: the race detector slows the SQLite code of every client
// about fifteen times, so the load tests run fewer clients under it.
const raceEnabled = true
