// Package e2e holds the end-to-end tests of the client against the real
// PowerSync Service (1.25, replicating a real PostgreSQL), as a user runs
// it: the "powersync" driver and a pssync.Syncer syncing from the service,
// with uploads going through examples/backend into the same Postgres the
// service replicates from.
//
// The package's tests share one service, started by TestMain with
// ps-service.sh (see ../shared/realservice beside the repository, or set
// PSSERVICE_SH), a throwaway PostgreSQL on 127.0.0.1 with the tables of
// testdata/app.sql and the sync config testdata/sync-config.yaml. Starting
// takes 10-50 s. Under CI=true a service that cannot start fails the
// package; elsewhere the package is skipped with a message, and with
// -short it is skipped too.
//
// The package is a module of its own (it needs pgx, which the library does
// not), with a replace of the library to the working tree; it builds
// examples/backend in the examples module. From the repository root:
//
//	go -C e2e test .                 # the suite
//	go -C e2e test . -run Upload -v  # one group
//	go -C e2e test . -run NONE -bench LiveChange   # live-change latency p50/p95
//
// PSSERVICE_KEEP=1 keeps the service's directory (logs, Postgres data)
// after the run and prints where it is.
package e2e
