package synccore

import (
	"flag"
	"testing"
)

// noMinimize turns off the fuzzing engine's minimization of new inputs
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
	// (Set only once: the flag refuses a second zero.)
	if fl := flag.Lookup("test.fuzzminimizetime"); fl != nil && !explicit && fl.Value.String() != "0s" {
		if err := fl.Value.Set("0"); err != nil {
			f.Fatal(err)
		}
	}
}

// NoMinimize is noMinimize for the fuzz targets of the external test
// package.
var NoMinimize = noMinimize
