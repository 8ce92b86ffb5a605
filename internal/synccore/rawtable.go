package synccore

import (
	"encoding/json"
	"fmt"
)

// RawTable is a raw table of the schema as the sync client sees it: the
// official schema JSON's raw_tables element (spec schema.md §4.2).
type RawTable struct {
	// Name is the row type (object_type) routed to this table.
	Name string `json:"name"`
	// TableName is the local SQLite table; needed when Put or Delete is nil.
	TableName string `json:"table_name,omitempty"`
	// SyncedColumns restricts the columns written by inferred statements.
	SyncedColumns []string `json:"synced_columns,omitempty"`
	// Put upserts a synced row; nil means inferred from TableName.
	Put *PendingStatement `json:"put,omitempty"`
	// Delete deletes a synced row; nil means inferred from TableName.
	Delete *PendingStatement `json:"delete,omitempty"`
	// Clear is run by Clear to empty the table.
	Clear string `json:"clear,omitempty"`
}

// PendingStatement is a statement with the sources of its parameters.
type PendingStatement struct {
	SQL    string       `json:"sql"`
	Params []ParamValue `json:"params"`
}

// ParamKind says what a statement parameter is bound to.
type ParamKind uint8

const (
	// ParamID binds the row id.
	ParamID ParamKind = iota + 1
	// ParamColumn binds one key of the synced JSON object.
	ParamColumn
	// ParamRest binds a JSON object of the keys no other parameter uses.
	ParamRest
)

// ParamValue is one parameter source: "Id", {"Column": "name"} or "Rest".
type ParamValue struct {
	Kind   ParamKind
	Column string // for ParamColumn
}

// MarshalJSON encodes the value in the official externally tagged form.
func (p ParamValue) MarshalJSON() ([]byte, error) {
	switch p.Kind {
	case ParamID:
		return []byte(`"Id"`), nil
	case ParamRest:
		return []byte(`"Rest"`), nil
	case ParamColumn:
		return json.Marshal(map[string]string{"Column": p.Column})
	}
	return nil, fmt.Errorf("powersync: unknown raw table parameter kind %d", p.Kind)
}

// UnmarshalJSON decodes "Id", "Rest" or {"Column": "name"}.
func (p *ParamValue) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		switch s {
		case "Id":
			*p = ParamValue{Kind: ParamID}
			return nil
		case "Rest":
			*p = ParamValue{Kind: ParamRest}
			return nil
		}
		return fmt.Errorf("powersync: unknown raw table parameter %q", s)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("powersync: raw table parameter: %w", err)
	}
	c, ok := m["Column"]
	if !ok || len(m) != 1 {
		return fmt.Errorf("powersync: unknown raw table parameter %s", b)
	}
	*p = ParamValue{Kind: ParamColumn, Column: c}
	return nil
}

// RawTablesFromSchemaJSON extracts raw_tables from the official schema JSON.
func RawTablesFromSchemaJSON(schemaJSON []byte) ([]RawTable, error) {
	var s struct {
		RawTables []RawTable `json:"raw_tables"`
	}
	if err := json.Unmarshal(schemaJSON, &s); err != nil {
		return nil, fmt.Errorf("powersync: parse schema raw tables: %w", err)
	}
	return s.RawTables, nil
}
