package hooks

import (
	"slices"
	"testing"
)

func TestPublicName(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{"ps_data__todos", "todos", true},
		{"ps_data_local__drafts", "drafts", true},
		{"PS_DATA__Lists", "Lists", true},
		{"ps_crud", "", false},
		{"ps_oplog", "", false},
		{"ps_kv", "", false},
		{"raw_items", "raw_items", true},
		{"todos", "todos", true},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, ok := PublicName(tt.raw)
			if got != tt.want || ok != tt.ok {
				t.Errorf("PublicName(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestMatcherNames(t *testing.T) {
	raw := func(names ...string) map[string]struct{} {
		m := map[string]struct{}{}
		for _, n := range names {
			m[n] = struct{}{}
		}
		return m
	}
	tests := []struct {
		name   string
		tables []string
		raw    map[string]struct{}
		want   []string
	}{
		{"all maps and drops internal", nil, raw("ps_data__todos", "ps_data_local__drafts", "ps_crud", "ps_oplog", "raw_items"), []string{"drafts", "raw_items", "todos"}},
		{"wanted synced table", []string{"todos"}, raw("ps_data__todos", "ps_crud"), []string{"todos"}},
		{"wanted local-only table", []string{"drafts"}, raw("ps_data_local__drafts"), []string{"drafts"}},
		{"other table ignored", []string{"todos"}, raw("ps_data__lists"), nil},
		{"case-insensitive, caller's spelling", []string{"Todos"}, raw("ps_data__todos"), []string{"Todos"}},
		{"internal table by full name", []string{"ps_crud"}, raw("ps_crud", "ps_oplog"), []string{"ps_crud"}},
		{"raw table", []string{"raw_items"}, raw("raw_items", "ps_data__raw_items"), []string{"raw_items"}},
		{"storage name given", []string{"ps_data__todos"}, raw("ps_data__todos"), []string{"ps_data__todos"}},
		{"nothing committed", []string{"todos"}, raw(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := newMatcher(tt.tables).names(tt.raw)
			if !slices.Equal(got, tt.want) {
				t.Errorf("names = %q, want %q", got, tt.want)
			}
		})
	}
}
