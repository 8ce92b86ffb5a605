// Package oracletest runs the PowerSync oracle (the official core extension driven
// from Python, see ../shared/oracle/README.md) from Go tests, and compares its results
// with what this module produces.
//
// # Finding the oracle
//
// The oracle is the script oracle.sh. Its path comes from the environment variable
// POWERSYNC_ORACLE when set; otherwise the repository root is found by walking up from
// the test's working directory (the package directory) to go.mod, and the oracle is
// <root>/../shared/oracle/oracle.sh.
//
// [Require] builds the oracle's cache once per test binary (oracle.sh setup). When the
// oracle cannot be used, a test is skipped with the reason, except under CI (CI=true),
// where it fails: CI must never pass because a comparison silently did not run.
//
// # Comparing states
//
// [Replay], [Dump] and [Diff] wrap the oracle commands of the same names. [DumpState] and
// [DumpFile] print a database in exactly the format of the oracle's state dump, in pure
// Go, so a test can also compare against a golden file where the oracle is not installed.
// [Golden] compares text with a file under testdata and rewrites it when the test binary
// runs with -update or UPDATE_GOLDEN=1.
//
// # SQL scripts
//
// A SQL script is a text file in the oracle's replay format restricted to local writes,
// with a few directives of its own that let both implementations act out the same
// sequence (see [ParseScript]). [RunScript] plays a script on the official core and
// [ExecScript] plays it on any database/sql database; both return a [Transcript] of
// failed statements and query results, which [CompareTranscripts] checks.
//
// # Flags
//
// Importing this package defines the test flag -update; a package that imports it must
// not define its own flag of that name (use [Updating]).
package oracletest
