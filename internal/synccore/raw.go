package synccore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// applyRaw writes one changed row into a raw table with its put or delete
// statement (data NULL: the row left every bucket).
func (c *call) applyRaw(raw *RawTable, t, id string, data sql.NullString) error {
	if !data.Valid {
		del, err := c.rawStatement(raw, false)
		if err != nil {
			return err
		}
		for _, p := range del.Params {
			if p.Kind != ParamID {
				return fmt.Errorf("%w: Raw delete statement parameters must only reference id", ErrArgument)
			}
		}
		args := make([]any, len(del.Params))
		for i := range args {
			args[i] = id
		}
		if _, err := c.exec(del.SQL, args...); err != nil {
			return fmt.Errorf("powersync: statement %s: %w (context: deleting from %s, id = %s)", del.SQL, err, t, id)
		}
		return nil
	}
	put, err := c.rawStatement(raw, true)
	if err != nil {
		return err
	}
	args, err := bindPut(put, id, data.String)
	if err != nil {
		return err
	}
	if _, err := c.exec(put.SQL, args...); err != nil {
		return fmt.Errorf("powersync: statement %s: %w (context: replacing into %s, id = %s, data = %s)", put.SQL, err, t, id, data.String)
	}
	return nil
}

// bindPut computes the arguments of a put statement (spec schema.md §9.1).
func bindPut(st *PendingStatement, id, data string) ([]any, error) {
	var obj map[string]json.RawMessage
	needsJSON := false
	for _, p := range st.Params {
		if p.Kind != ParamID {
			needsJSON = true
		}
	}
	if needsJSON {
		d := json.NewDecoder(strings.NewReader(data))
		d.UseNumber()
		if err := d.Decode(&obj); err != nil || obj == nil {
			return nil, fmt.Errorf("%w: expected oplog data to be an object", ErrArgument)
		}
	}
	args := make([]any, len(st.Params))
	for i, p := range st.Params {
		switch p.Kind {
		case ParamID:
			args[i] = id
		case ParamColumn:
			args[i] = jsonToSQL(obj[p.Column])
		case ParamRest:
			args[i] = restObject(st, obj)
		}
	}
	return args, nil
}

func jsonToSQL(v json.RawMessage) any {
	if len(v) == 0 {
		return nil
	}
	switch v[0] {
	case 't':
		return int64(1)
	case 'f':
		return int64(0)
	case '"':
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	case 'n', '[', '{':
		return nil
	default:
		var f float64
		if json.Unmarshal(v, &f) == nil {
			return f
		}
	}
	return nil
}

func restObject(st *PendingStatement, obj map[string]json.RawMessage) any {
	hasID := false
	for _, p := range st.Params {
		hasID = hasID || p.Kind == ParamID
	}
	rest := make(map[string]any)
	for k, v := range obj {
		used := hasID && k == "id"
		for _, p := range st.Params {
			if p.Kind == ParamColumn && p.Column == k {
				used = true
			}
		}
		if !used {
			d := json.NewDecoder(bytes.NewReader(v))
			d.UseNumber()
			var x any
			if d.Decode(&x) == nil {
				rest[k] = x
			}
		}
	}
	if len(rest) == 0 {
		return nil
	}
	return string(appendSerde(nil, rest))
}

// rawStatement returns the put (or delete) statement of a raw table,
// inferring it from the local table when the schema gives none.
func (c *call) rawStatement(raw *RawTable, put bool) (*PendingStatement, error) {
	if put && raw.Put != nil {
		return raw.Put, nil
	}
	if !put && raw.Delete != nil {
		return raw.Delete, nil
	}
	idx := 0
	if put {
		idx = 1
	}
	if st := c.inferred[raw][idx]; st != nil {
		return st, nil
	}
	st, err := c.inferStatement(raw, put)
	if err != nil {
		return nil, err
	}
	if c.inferred == nil {
		c.inferred = make(map[*RawTable][2]*PendingStatement)
	}
	pair := c.inferred[raw]
	pair[idx] = st
	c.inferred[raw] = pair
	return st, nil
}

func (c *call) inferStatement(raw *RawTable, put bool) (*PendingStatement, error) {
	if raw.TableName == "" {
		return nil, fmt.Errorf("%w: Raw table %s has no local name", ErrArgument, raw.Name)
	}
	rows, err := c.tx.QueryContext(c.ctx, "SELECT name FROM pragma_table_info(?) ORDER BY cid", raw.TableName)
	if err != nil {
		return nil, err
	}
	var cols []string
	hasID, any := false, false
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		any = true
		if n == "id" {
			hasID = true
			continue
		}
		if raw.SyncedColumns == nil || slices.Contains(raw.SyncedColumns, n) {
			cols = append(cols, n)
		}
	}
	rows.Close()
	if !any {
		return nil, fmt.Errorf("%w: Could not find %s in local schema.", ErrArgument, raw.TableName)
	}
	if !hasID {
		return nil, fmt.Errorf("%w: Table %s has no id column.", ErrArgument, raw.TableName)
	}
	tbl := quoteIdent(raw.TableName)
	if !put {
		return &PendingStatement{SQL: "DELETE FROM " + tbl + " WHERE id = ?", Params: []ParamValue{{Kind: ParamID}}}, nil
	}
	var q strings.Builder
	params := []ParamValue{{Kind: ParamID}}
	q.WriteString("INSERT INTO " + tbl + " (id")
	for _, col := range cols {
		q.WriteString(", " + quoteIdent(col))
		params = append(params, ParamValue{Kind: ParamColumn, Column: col})
	}
	q.WriteString(") VALUES (?1")
	for i := range cols {
		fmt.Fprintf(&q, ", ?%d", i+2)
	}
	q.WriteString(") ON CONFLICT (id) DO ")
	if len(cols) == 0 {
		q.WriteString("NOTHING")
	} else {
		q.WriteString("UPDATE SET ")
		for i, col := range cols {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "%s = ?%d", quoteIdent(col), i+2)
		}
	}
	return &PendingStatement{SQL: q.String(), Params: params}, nil
}
