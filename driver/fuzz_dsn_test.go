package driver_test

import (
	"strings"
	"testing"

	"github.com/gopowersync/powersync/driver"
)

// FuzzNewConnector hands arbitrary DSNs to NewConnector: it must never
// panic, and must return either a usable connector or an error. (Connecting
// is not fuzzed: a DSN may name any file and any pragma.)
func FuzzNewConnector(f *testing.F) {
	for _, s := range []string{
		"", "file.db", "file:test.db?mode=memory", ":memory:", "file::memory:?cache=shared",
		"app.db?_powersync_schema=nope", "app.db?_pragma=journal_mode(DELETE)&_pragma=busy_timeout(1)",
		"app.db?_txlock=deferred", "a.db?%zz", "a.db?_pragma=%", "?", "??&&==", "a.db?vfs=memdb",
		"file:/tmp/x.db?_pragma=foreign_keys(1)&_time_format=sqlite",
		"a.db?_powersync_schema=" + strings.Repeat("x", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		c, err := driver.NewConnector(dsn)
		if err != nil {
			if c != nil {
				t.Errorf("NewConnector(%q) returned a connector and an error", dsn)
			}
			return
		}
		if c == nil {
			t.Fatalf("NewConnector(%q) returned nil, nil", dsn)
		}
		if c.Driver() == nil {
			t.Errorf("NewConnector(%q): connector without a driver", dsn)
		}
	})
}
