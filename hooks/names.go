package hooks

import (
	"slices"
	"strings"
)

// Internal storage prefixes of PowerSync data tables (docs/storage.md, "Change notifications").
const (
	dataPrefix      = "ps_data__"
	localDataPrefix = "ps_data_local__"
	internalPrefix  = "ps_"
)

// PublicName maps a raw SQLite table name, as the database reports a write,
// to the name users know: ps_data__X and ps_data_local__X become X, other
// internal ps_ tables report ok == false, and any other name (raw tables,
// plain SQLite tables) is returned unchanged.
func PublicName(raw string) (name string, ok bool) {
	lower := strings.ToLower(raw)
	switch {
	case strings.HasPrefix(lower, dataPrefix):
		return raw[len(dataPrefix):], true
	case strings.HasPrefix(lower, localDataPrefix):
		return raw[len(localDataPrefix):], true
	case strings.HasPrefix(lower, internalPrefix):
		return "", false
	}
	return raw, true
}

// matcher decides which raw committed table names a listener reports, and
// under which name. SQLite identifiers are case-insensitive, so matching is.
type matcher struct {
	// all reports every public name; want is ignored.
	all bool
	// want maps a lower-case wanted name to the spelling the caller gave.
	want map[string]string
}

func newMatcher(tables []string) matcher {
	if len(tables) == 0 {
		return matcher{all: true}
	}
	m := matcher{want: make(map[string]string, len(tables))}
	for _, t := range tables {
		m.want[strings.ToLower(t)] = t
	}
	return m
}

// match reports the name under which a raw table name is reported, if at
// all. A wanted name matches its own raw name literally (so internal tables
// such as ps_crud can be listened to by name) and the data tables that
// store it (ps_data__X, ps_data_local__X).
func (m matcher) match(raw string) (string, bool) {
	if m.all {
		return PublicName(raw)
	}
	if n, ok := m.want[strings.ToLower(raw)]; ok {
		return n, true
	}
	if p, ok := PublicName(raw); ok && p != raw {
		if n, ok := m.want[strings.ToLower(p)]; ok {
			return n, true
		}
	}
	return "", false
}

// names returns the sorted, de-duplicated reported names of a set of raw
// table names; nil when none is reported.
func (m matcher) names(raw map[string]struct{}) []string {
	var out []string
	for r := range raw {
		if n, ok := m.match(r); ok && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
