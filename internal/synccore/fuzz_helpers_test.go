package synccore

import (
	"flag"
	"testing"
)

// noMinimize limits the fuzzing engine's minimization of new inputs to one run
// unless -fuzzminimizetime was given. A run of these targets costs
// milliseconds (every call is a SQLite transaction), and SQLite's own code is
// instrumented too, so a large share of inputs reach new coverage. The engine
// would then shrink each of them for up to a minute (its default), one
// candidate per run, and no new inputs would be tried at all: a 10 s CI run
// made 0 execs/sec after the seeds. Failing inputs are still saved, as
// found; give -fuzzminimizetime=60s to have the engine shrink them.
func noMinimize(f *testing.F) {
	explicit := false
	flag.Visit(func(fl *flag.Flag) { explicit = explicit || fl.Name == "test.fuzzminimizetime" })
	// One execution, not zero: with a zero minimization time the
	// coordinator can end the run with "context deadline exceeded" when
	// the fuzz time runs out while an input waits to be minimized.
	if fl := flag.Lookup("test.fuzzminimizetime"); fl != nil && !explicit && fl.Value.String() != "1x" {
		if err := fl.Value.Set("1x"); err != nil {
			f.Fatal(err)
		}
	}
}

// NoMinimize is noMinimize for the fuzz targets of the external test
// package.
var NoMinimize = noMinimize
