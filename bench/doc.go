// Command psbench measures powersync-go against the official PowerSync
// client on the same data: the official core (the oracle's "bench") and the
// official Node SDK (the oracle's "node-bench").
//
// It is driven by the script bench/run, which builds it, runs every workload
// in a fresh process, runs the oracle's benchmarks with the same stream, and
// prints one table. See bench/README.md.
//
// # Subcommands
//
//	psbench gen -n N [-ids random|seq] [-per 1000] > stream.ndjson
//	    write an initial-sync NDJSON stream in the format of the oracle's
//	    bench/gen_checkpoint.py (same rows, same checksums), with random
//	    UUID v4 ids (seeded, so repeatable) or the oracle's sequential ids
//	psbench gen-diffs -n N -small K -big K2 > diffs.ndjson
//	    write the incremental checkpoints of the "checkpoint" workload
//	psbench serve -stream FILE -secret S
//	    serve the stream's rows from package pstest on 127.0.0.1 and print
//	    "listening PORT"
//	psbench case NAME [flags]
//	    run one workload and print one JSON line per result, each with the
//	    process's peak RSS (getrusage)
//	psbench table -dir DIR
//	    read the JSON lines of our runs and of the oracle's runs below DIR
//	    and print the comparison table
//
// Every workload prints JSON objects of the shape the oracle's
// bench_oracle.py prints: {"case", "n", "seconds", "rows_per_s", ...}.
package main
