// Package serdejson reads and writes JSON numbers and strings exactly as the
// official PowerSync core does (it uses serde_json with its own float
// formatting). The driver's powersync_diff and the sync client's raw-table
// "Rest" parameter both re-serialise JSON, and both must produce the core's
// bytes.
package serdejson
