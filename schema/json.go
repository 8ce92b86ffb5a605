package schema

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gopowersync/powersync/internal/pserr"
)

// This file holds the official schema JSON: what the SDKs pass to the core's
// powersync_replace_schema (and, for raw tables, to
// powersync_create_raw_table_crud_trigger and powersync_control start).

type jsonSchema struct {
	Tables    []*Table    `json:"tables"`
	RawTables []*RawTable `json:"raw_tables"`
}

type jsonColumn struct {
	Name string     `json:"name"`
	Type ColumnType `json:"type"`
}

type jsonIndex struct {
	Name    string            `json:"name"`
	Columns []jsonIndexColumn `json:"columns"`
}

type jsonIndexColumn struct {
	Name      string     `json:"name"`
	Ascending bool       `json:"ascending"`
	Type      ColumnType `json:"type"`
}

type jsonTable struct {
	Name                      string       `json:"name"`
	ViewName                  *string      `json:"view_name,omitempty"`
	Columns                   []jsonColumn `json:"columns"`
	Indexes                   []jsonIndex  `json:"indexes"`
	LocalOnly                 bool         `json:"local_only"`
	InsertOnly                bool         `json:"insert_only"`
	IncludeMetadata           bool         `json:"include_metadata"`
	IncludeOld                any          `json:"include_old"`
	IncludeOldOnlyWhenChanged bool         `json:"include_old_only_when_changed"`
	IgnoreEmptyUpdate         bool         `json:"ignore_empty_update"`
}

type jsonRawTable struct {
	Name                      string            `json:"name"`
	TableName                 string            `json:"table_name,omitempty"`
	SyncedColumns             []string          `json:"synced_columns,omitempty"`
	Put                       *PendingStatement `json:"put,omitempty"`
	Delete                    *PendingStatement `json:"delete,omitempty"`
	Clear                     string            `json:"clear,omitempty"`
	InsertOnly                bool              `json:"insert_only"`
	IncludeOld                any               `json:"include_old"`
	IncludeOldOnlyWhenChanged bool              `json:"include_old_only_when_changed"`
	IgnoreEmptyUpdate         bool              `json:"ignore_empty_update"`
}

type jsonStatement struct {
	SQL    string  `json:"sql"`
	Params []Param `json:"params"`
}

// includeOld returns the include_old value for p: false, true or the column
// list.
func includeOld(p *TrackPreviousValues) any {
	switch {
	case p == nil:
		return false
	case p.Columns == nil:
		return true
	default:
		return p.Columns
	}
}

// MarshalJSON returns the schema in the official schema JSON, the argument
// of the core's powersync_replace_schema:
//
//	{"tables": [...], "raw_tables": [...]}
//
// Tables carry every option key, like the Dart SDK sends them.
func (s *Schema) MarshalJSON() ([]byte, error) {
	js := jsonSchema{Tables: make([]*Table, len(s.Tables)), RawTables: make([]*RawTable, len(s.RawTables))}
	for i := range s.Tables {
		js.Tables[i] = &s.Tables[i]
	}
	for i := range s.RawTables {
		js.RawTables[i] = &s.RawTables[i]
	}
	return marshal(js)
}

// marshal encodes v without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, pserr.Errorf("powersync: encode schema: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// MarshalJSON returns the table as an element of "tables" in the official
// schema JSON. An index column without a Type gets its column's type.
func (t *Table) MarshalJSON() ([]byte, error) {
	jt := jsonTable{
		Name:                      t.Name,
		Columns:                   make([]jsonColumn, len(t.Columns)),
		Indexes:                   make([]jsonIndex, len(t.Indexes)),
		LocalOnly:                 t.LocalOnly,
		InsertOnly:                t.InsertOnly,
		IncludeMetadata:           t.TrackMetadata,
		IncludeOld:                includeOld(t.TrackPrevious),
		IncludeOldOnlyWhenChanged: t.TrackPrevious != nil && t.TrackPrevious.OnlyWhenChanged,
		IgnoreEmptyUpdate:         t.IgnoreEmptyUpdates,
	}
	if t.ViewNameOverride != "" {
		jt.ViewName = &t.ViewNameOverride
	}
	for i, c := range t.Columns {
		jt.Columns[i] = jsonColumn(c)
	}
	for i, idx := range t.Indexes {
		ji := jsonIndex{Name: idx.Name, Columns: make([]jsonIndexColumn, len(idx.Columns))}
		for j, ic := range idx.Columns {
			ji.Columns[j] = jsonIndexColumn{Name: ic.Name, Ascending: !ic.Descending, Type: t.indexColumnType(ic)}
		}
		jt.Indexes[i] = ji
	}
	return marshal(jt)
}

// MarshalJSON returns the raw table as an element of "raw_tables" in the
// official schema JSON, also the first argument of the core's
// powersync_create_raw_table_crud_trigger.
func (r *RawTable) MarshalJSON() ([]byte, error) {
	return marshal(jsonRawTable{
		Name:                      r.Name,
		TableName:                 r.TableName,
		SyncedColumns:             r.SyncedColumns,
		Put:                       r.Put,
		Delete:                    r.Delete,
		Clear:                     r.Clear,
		InsertOnly:                r.InsertOnly,
		IncludeOld:                includeOld(r.TrackPrevious),
		IncludeOldOnlyWhenChanged: r.TrackPrevious != nil && r.TrackPrevious.OnlyWhenChanged,
		IgnoreEmptyUpdate:         r.IgnoreEmptyUpdates,
	})
}

// MarshalJSON returns {"sql": ..., "params": [...]}.
func (p *PendingStatement) MarshalJSON() ([]byte, error) {
	params := p.Params
	if params == nil {
		params = []Param{}
	}
	return marshal(jsonStatement{SQL: p.SQL, Params: params})
}

// MarshalJSON returns "Id", {"Column": "name"} or "Rest".
func (p Param) MarshalJSON() ([]byte, error) {
	switch p.Kind {
	case ParamID:
		return []byte(`"Id"`), nil
	case ParamRest:
		return []byte(`"Rest"`), nil
	case ParamColumn:
		return marshal(map[string]string{"Column": p.Column})
	}
	return nil, fmt.Errorf("powersync: encode statement parameter: unknown kind %d", p.Kind)
}

// Parse parses the official schema JSON (see [Schema.MarshalJSON]) as
// tolerantly as the core does: unknown keys are ignored, optional keys may
// be absent or null, and include_old may be true, false, null or an array
// of column names. Required are "tables", and the "name" and "columns" of
// each table, the "name" and "type" of each column, the "name" and
// "columns" of each index and the "name" of each indexed column and raw
// table. A missing "ascending" means ascending; a missing index column
// "type" means the column's type.
//
// include_old_only_when_changed is kept only together with include_old, as
// it has no effect without it.
//
// Parse checks the shape of the JSON only; call [Schema.Validate] for the
// rules of a usable schema. Errors wrap [ErrInvalidSchema].
func Parse(data []byte) (*Schema, error) {
	var s Schema
	if err := s.UnmarshalJSON(data); err != nil {
		return nil, err
	}
	return &s, nil
}

// UnmarshalJSON parses the official schema JSON into s; see [Parse].
func (s *Schema) UnmarshalJSON(data []byte) error {
	obj, err := object(data, "schema")
	if err != nil {
		return err
	}
	tables, ok, err := array(obj, "tables", "schema")
	if err != nil {
		return err
	}
	if !ok {
		return parseErr("schema: missing tables")
	}
	rawTables, _, err := array(obj, "raw_tables", "schema")
	if err != nil {
		return err
	}
	out := Schema{Tables: make([]Table, len(tables))}
	for i, raw := range tables {
		if err := out.Tables[i].unmarshal(raw, fmt.Sprintf("tables[%d]", i)); err != nil {
			return err
		}
	}
	if len(rawTables) > 0 {
		out.RawTables = make([]RawTable, len(rawTables))
	}
	for i, raw := range rawTables {
		if err := out.RawTables[i].unmarshal(raw, fmt.Sprintf("raw_tables[%d]", i)); err != nil {
			return err
		}
	}
	*s = out
	return nil
}

// UnmarshalJSON parses one element of "tables" of the schema JSON; see
// [Parse].
func (t *Table) UnmarshalJSON(data []byte) error {
	return t.unmarshal(data, "table")
}

// UnmarshalJSON parses one element of "raw_tables" of the schema JSON, e.g.
// the first argument of powersync_create_raw_table_crud_trigger; see
// [Parse].
func (r *RawTable) UnmarshalJSON(data []byte) error {
	return r.unmarshal(data, "raw table")
}

// UnmarshalJSON parses {"sql": ..., "params": [...]}.
func (p *PendingStatement) UnmarshalJSON(data []byte) error {
	return p.unmarshal(data, "statement")
}

// UnmarshalJSON parses "Id", {"Column": "name"} or "Rest".
func (p *Param) UnmarshalJSON(data []byte) error {
	return p.unmarshal(data, "parameter")
}

func (t *Table) unmarshal(data []byte, where string) error {
	obj, err := object(data, where)
	if err != nil {
		return err
	}
	var out Table
	if out.Name, err = requiredStr(obj, "name", where); err != nil {
		return err
	}
	where = fmt.Sprintf("%s (%s)", where, out.Name)
	if out.ViewNameOverride, _, err = str(obj, "view_name", where); err != nil {
		return err
	}
	cols, ok, err := array(obj, "columns", where)
	if err != nil {
		return err
	}
	if !ok {
		return parseErr("%s: missing columns", where)
	}
	out.Columns = make([]Column, len(cols))
	for i, raw := range cols {
		cw := fmt.Sprintf("%s: columns[%d]", where, i)
		c, err := object(raw, cw)
		if err != nil {
			return err
		}
		if out.Columns[i].Name, err = requiredStr(c, "name", cw); err != nil {
			return err
		}
		typ, err := requiredStr(c, "type", cw)
		if err != nil {
			return err
		}
		out.Columns[i].Type = ColumnType(typ)
	}
	indexes, _, err := array(obj, "indexes", where)
	if err != nil {
		return err
	}
	for i, raw := range indexes {
		idx, err := parseIndex(raw, fmt.Sprintf("%s: indexes[%d]", where, i))
		if err != nil {
			return err
		}
		out.Indexes = append(out.Indexes, idx)
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{
		{"local_only", &out.LocalOnly},
		{"insert_only", &out.InsertOnly},
		{"include_metadata", &out.TrackMetadata},
		{"ignore_empty_update", &out.IgnoreEmptyUpdates},
	} {
		if *f.dst, err = boolean(obj, f.key, where); err != nil {
			return err
		}
	}
	if out.TrackPrevious, err = parseIncludeOld(obj, where); err != nil {
		return err
	}
	*t = out
	return nil
}

func parseIndex(data []byte, where string) (Index, error) {
	obj, err := object(data, where)
	if err != nil {
		return Index{}, err
	}
	var idx Index
	if idx.Name, err = requiredStr(obj, "name", where); err != nil {
		return Index{}, err
	}
	cols, ok, err := array(obj, "columns", where)
	if err != nil {
		return Index{}, err
	}
	if !ok {
		return Index{}, parseErr("%s: missing columns", where)
	}
	idx.Columns = make([]IndexedColumn, len(cols))
	for i, raw := range cols {
		cw := fmt.Sprintf("%s: columns[%d]", where, i)
		c, err := object(raw, cw)
		if err != nil {
			return Index{}, err
		}
		ic := &idx.Columns[i]
		if ic.Name, err = requiredStr(c, "name", cw); err != nil {
			return Index{}, err
		}
		asc := true
		if v, ok := c["ascending"]; ok && !isNull(v) {
			if err := json.Unmarshal(v, &asc); err != nil {
				return Index{}, parseErr("%s: ascending: expected a boolean", cw)
			}
		}
		ic.Descending = !asc
		typ, _, err := str(c, "type", cw)
		if err != nil {
			return Index{}, err
		}
		ic.Type = ColumnType(typ)
	}
	return idx, nil
}

func (r *RawTable) unmarshal(data []byte, where string) error {
	obj, err := object(data, where)
	if err != nil {
		return err
	}
	var out RawTable
	if out.Name, err = requiredStr(obj, "name", where); err != nil {
		return err
	}
	where = fmt.Sprintf("%s (%s)", where, out.Name)
	if out.TableName, _, err = str(obj, "table_name", where); err != nil {
		return err
	}
	if out.Clear, _, err = str(obj, "clear", where); err != nil {
		return err
	}
	cols, ok, err := array(obj, "synced_columns", where)
	if err != nil {
		return err
	}
	if ok {
		out.SyncedColumns, err = stringList(cols, where+": synced_columns")
		if err != nil {
			return err
		}
	}
	for _, st := range []struct {
		key string
		dst **PendingStatement
	}{{"put", &out.Put}, {"delete", &out.Delete}} {
		v, ok := obj[st.key]
		if !ok || isNull(v) {
			continue
		}
		var ps PendingStatement
		if err := ps.unmarshal(v, where+": "+st.key); err != nil {
			return err
		}
		*st.dst = &ps
	}
	if out.InsertOnly, err = boolean(obj, "insert_only", where); err != nil {
		return err
	}
	if out.IgnoreEmptyUpdates, err = boolean(obj, "ignore_empty_update", where); err != nil {
		return err
	}
	if out.TrackPrevious, err = parseIncludeOld(obj, where); err != nil {
		return err
	}
	*r = out
	return nil
}

func (p *PendingStatement) unmarshal(data []byte, where string) error {
	obj, err := object(data, where)
	if err != nil {
		return err
	}
	var out PendingStatement
	if out.SQL, err = requiredStr(obj, "sql", where); err != nil {
		return err
	}
	params, ok, err := array(obj, "params", where)
	if err != nil {
		return err
	}
	if !ok {
		return parseErr("%s: missing params", where)
	}
	out.Params = make([]Param, len(params))
	for i, raw := range params {
		if err := out.Params[i].unmarshal(raw, fmt.Sprintf("%s: params[%d]", where, i)); err != nil {
			return err
		}
	}
	*p = out
	return nil
}

func (p *Param) unmarshal(data []byte, where string) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		switch s {
		case "Id":
			*p = IDParam()
			return nil
		case "Rest":
			*p = RestParam()
			return nil
		}
		return parseErr("%s: unknown parameter %q (want \"Id\", \"Rest\" or {\"Column\": name})", where, s)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil || len(obj) != 1 {
		return parseErr("%s: expected \"Id\", \"Rest\" or {\"Column\": name}", where)
	}
	col, err := requiredStr(obj, "Column", where)
	if err != nil {
		return err
	}
	*p = ColumnParam(col)
	return nil
}

// parseIncludeOld reads include_old and include_old_only_when_changed.
func parseIncludeOld(obj map[string]json.RawMessage, where string) (*TrackPreviousValues, error) {
	whenChanged, err := boolean(obj, "include_old_only_when_changed", where)
	if err != nil {
		return nil, err
	}
	v, ok := obj["include_old"]
	if !ok || isNull(v) {
		return nil, nil
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		if !b {
			return nil, nil
		}
		return &TrackPreviousValues{OnlyWhenChanged: whenChanged}, nil
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		return nil, parseErr("%s: include_old: expected an array of columns, or true", where)
	}
	cols, err := stringList(list, where+": include_old")
	if err != nil {
		return nil, err
	}
	return &TrackPreviousValues{Columns: cols, OnlyWhenChanged: whenChanged}, nil
}

func parseErr(format string, args ...any) error {
	return pserr.Errorf("powersync: parse schema: %w: %s", ErrInvalidSchema, fmt.Sprintf(format, args...))
}

func isNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

// object decodes a JSON object into its members, keys compared exactly.
func object(data []byte, where string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(data, &obj); err != nil || obj == nil {
		return nil, parseErr("%s: expected a JSON object", where)
	}
	return obj, nil
}

// str returns the string member key; absent or null gives ok false.
func str(obj map[string]json.RawMessage, key, where string) (s string, ok bool, err error) {
	v, present := obj[key]
	if !present || isNull(v) {
		return "", false, nil
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", false, parseErr("%s: %s: expected a string", where, key)
	}
	return s, true, nil
}

func requiredStr(obj map[string]json.RawMessage, key, where string) (string, error) {
	s, ok, err := str(obj, key, where)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", parseErr("%s: missing %s", where, key)
	}
	return s, nil
}

// array returns the elements of the array member key; absent or null gives
// ok false.
func array(obj map[string]json.RawMessage, key, where string) (elems []json.RawMessage, ok bool, err error) {
	v, present := obj[key]
	if !present || isNull(v) {
		return nil, false, nil
	}
	if err := json.Unmarshal(v, &elems); err != nil {
		return nil, false, parseErr("%s: %s: expected an array", where, key)
	}
	return elems, true, nil
}

// boolean returns the boolean member key; absent or null is false.
func boolean(obj map[string]json.RawMessage, key, where string) (bool, error) {
	v, present := obj[key]
	if !present || isNull(v) {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, parseErr("%s: %s: expected a boolean", where, key)
	}
	return b, nil
}

// stringList decodes an array of strings; the result is never nil.
func stringList(elems []json.RawMessage, where string) ([]string, error) {
	out := make([]string, len(elems))
	for i, e := range elems {
		if err := json.Unmarshal(e, &out[i]); err != nil {
			return nil, parseErr("%s[%d]: expected a string", where, i)
		}
	}
	return out, nil
}
