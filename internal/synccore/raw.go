package synccore

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/schema"
)

// applyRaw writes one changed row into a raw table with its put or delete
// statement (data NULL: the row left every bucket).
func (c *call) applyRaw(raw *schema.RawTable, t, id string, data sql.NullString) error {
	if !data.Valid {
		del, err := c.rawStatement(raw, false)
		if err != nil {
			return err
		}
		for _, p := range del.Params {
			if p.Kind != schema.ParamID {
				return fmt.Errorf("%w: Raw delete statement parameters must only reference id", ErrArgument)
			}
		}
		args := make([]any, len(del.Params))
		for i := range args {
			args[i] = id
		}
		if _, err := c.exec(del.SQL, args...); err != nil {
			return pserr.Errorf("powersync: statement %s: %w (context: deleting from %s, id = %s)", del.SQL, err, t, id)
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
		return pserr.Errorf("powersync: statement %s: %w (context: replacing into %s, id = %s, data = %s)", put.SQL, err, t, id, data.String)
	}
	return nil
}

// bindPut computes the arguments of a put statement (docs/storage.md, "Raw tables").
func bindPut(st *schema.PendingStatement, id, data string) ([]any, error) {
	var obj map[string]json.RawMessage
	needsJSON := false
	for _, p := range st.Params {
		if p.Kind != schema.ParamID {
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
		case schema.ParamID:
			args[i] = id
		case schema.ParamColumn:
			args[i] = jsonToSQL(obj[p.Column])
		case schema.ParamRest:
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

func restObject(st *schema.PendingStatement, obj map[string]json.RawMessage) any {
	hasID := false
	for _, p := range st.Params {
		hasID = hasID || p.Kind == schema.ParamID
	}
	rest := make(map[string]any)
	for k, v := range obj {
		used := hasID && k == "id"
		for _, p := range st.Params {
			if p.Kind == schema.ParamColumn && p.Column == k {
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
func (c *call) rawStatement(raw *schema.RawTable, put bool) (*schema.PendingStatement, error) {
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
		c.inferred = make(map[*schema.RawTable][2]*schema.PendingStatement)
	}
	pair := c.inferred[raw]
	pair[idx] = st
	c.inferred[raw] = pair
	return st, nil
}

func (c *call) inferStatement(raw *schema.RawTable, put bool) (*schema.PendingStatement, error) {
	if raw.TableName == "" {
		return nil, fmt.Errorf("%w: Raw table %s has no local name", ErrArgument, raw.Name)
	}
	cols, err := c.queryNames("SELECT name FROM pragma_table_info(?) ORDER BY cid", raw.TableName)
	if err != nil {
		return nil, err
	}
	putSt, delSt, err := raw.InferStatements(cols)
	if err != nil {
		return nil, pserr.Errorf("%w: %w", ErrArgument, err)
	}
	if put {
		return putSt, nil
	}
	return delSt, nil
}
