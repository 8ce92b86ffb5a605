package driver

import "github.com/gopowersync/powersync/schema"

// tableIndexes lists the indexes the schema wants on t's storage table.
func tableIndexes(t *schema.Table) []namedSQL {
	var out []namedSQL
	for _, st := range t.IndexSQL() {
		out = append(out, namedSQL{st.Name, st.SQL})
	}
	return out
}

// tableViewSQL returns the CREATE VIEW statement for t and its triggers.
func tableViewSQL(t *schema.Table) (string, []namedSQL) {
	var trigs []namedSQL
	for _, tr := range t.Triggers() {
		trigs = append(trigs, namedSQL{tr.Name, tr.SQL})
	}
	return t.ViewSQL(), trigs
}
