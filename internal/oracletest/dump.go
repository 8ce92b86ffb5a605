package oracletest

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	_ "modernc.org/sqlite" // "sqlite" driver for DumpFile (read-only, no PowerSync functions needed)
)

// Querier is what [DumpState] reads through: *sql.DB, *sql.Conn and *sql.Tx have it.
type Querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

var clientIDLine = regexp.MustCompile(`(?m)^  client_id = .*$`)

// Normalize replaces the ps_kv client_id value of a state dump with <client_id>, the one
// value (with last_synced_at, which dumps already mask) that differs between two clients
// doing the same thing. The oracle's diff normalises the same way.
func Normalize(dump string) string {
	return clientIDLine.ReplaceAllString(dump, "  client_id = <client_id>")
}

// DumpFile opens a database file read-only with plain SQLite (no PowerSync functions) and
// returns [DumpState] of it, normalised as [Normalize] does.
func DumpFile(ctx context.Context, path string) (string, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return "", err
	}
	defer db.Close()
	s, err := DumpState(ctx, db)
	if err != nil {
		return "", fmt.Errorf("oracletest: dump %s: %w", path, err)
	}
	return Normalize(s), nil
}

// DumpState prints the sync-relevant state of a database in exactly the format of the
// oracle's state dump (psoracle.dump_state, which `oracle.sh dump` and the end of
// `oracle.sh replay` print): ps_buckets, ps_oplog, every ps_data* table and ps_untyped,
// ps_kv, ps_sync_state (timestamps masked) and ps_crud, every row with all its columns,
// values formatted as Python's json.dumps does. The client id is left as it is.
func DumpState(ctx context.Context, q Querier) (string, error) {
	var b strings.Builder
	b.WriteString("\n######## final state\n")
	names, err := queryStrings(ctx, q, "select name from sqlite_master where type='table'")
	if err != nil {
		return "", err
	}
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for _, t := range []struct{ name, order string }{{"ps_buckets", "name"}, {"ps_oplog", "bucket, op_id"}} {
		if have[t.name] {
			if err := dumpTable(ctx, q, &b, t.name, t.order); err != nil {
				return "", err
			}
		}
	}
	var data []string
	for _, n := range names {
		if strings.HasPrefix(n, "ps_data") || n == "ps_untyped" {
			data = append(data, n)
		}
	}
	slices.Sort(data)
	for _, n := range data {
		order := "id"
		if n == "ps_untyped" {
			order = "type, id"
		}
		if err := dumpTable(ctx, q, &b, n, order); err != nil {
			return "", err
		}
	}
	if have["ps_kv"] {
		b.WriteString("-- ps_kv\n")
		rows, err := queryRows(ctx, q, "select key, value from ps_kv order by key")
		if err != nil {
			return "", err
		}
		for _, r := range rows {
			fmt.Fprintf(&b, "  %s = %s\n", pyStr(r[0]), pyStr(r[1]))
		}
	}
	if have["ps_sync_state"] {
		b.WriteString("-- ps_sync_state (last_synced_at masked)\n")
		rows, err := queryRows(ctx, q, "select priority, last_synced_at from ps_sync_state order by priority")
		if err != nil {
			return "", err
		}
		for _, r := range rows {
			ts := "<ts>"
			if !pyTruthy(r[1]) {
				ts = pyStr(r[1])
			}
			fmt.Fprintf(&b, "  priority %s: last_synced_at %s\n", pyStr(r[0]), ts)
		}
	}
	if have["ps_crud"] {
		if err := dumpTable(ctx, q, &b, "ps_crud", "id"); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// openReadOnly opens a database file read-only with plain SQLite.
func openReadOnly(path string) (*sql.DB, error) {
	u := url.URL{Scheme: "file", Path: path, RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return nil, fmt.Errorf("oracletest: open %s: %w", path, err)
	}
	return db, nil
}

func dumpTable(ctx context.Context, q Querier, b *strings.Builder, name, order string) error {
	rows, err := q.QueryContext(ctx, `select * from "`+name+`" order by `+order)
	if err != nil {
		return fmt.Errorf("oracletest: dump %s: %w", name, err)
	}
	cols, all, err := scanAll(rows)
	if err != nil {
		return fmt.Errorf("oracletest: dump %s: %w", name, err)
	}
	fmt.Fprintf(b, "-- %s (%d rows)\n", name, len(all))
	for _, r := range all {
		b.WriteString("  ")
		b.WriteString(PyJSONObject(cols, r))
		b.WriteByte('\n')
	}
	return nil
}

func queryStrings(ctx context.Context, q Querier, query string) ([]string, error) {
	rows, err := queryRows(ctx, q, query)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = pyStr(r[0])
	}
	return out, nil
}

func queryRows(ctx context.Context, q Querier, query string) ([][]any, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("oracletest: %s: %w", query, err)
	}
	_, out, err := scanAll(rows)
	if err != nil {
		return nil, fmt.Errorf("oracletest: %s: %w", query, err)
	}
	return out, nil
}

// scanAll reads and closes rows, returning the column names and every row, each
// value as the SQLite storage class it has: nil, int64, float64, string (TEXT) or
// []byte (BLOB).
func scanAll(rows *sql.Rows) ([]string, [][]any, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, nil, err
		}
		for i, v := range vals {
			vals[i] = canonical(v)
		}
		out = append(out, vals)
	}
	return cols, out, rows.Err()
}

// canonical maps driver values to nil, int64, float64, string or []byte.
func canonical(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, string, []byte:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case float32:
		return float64(x)
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// PyJSONObject formats one row as Python's json.dumps(dict(zip(cols, values)),
// default=repr) does (a later duplicate column name wins, in the first one's place).
func PyJSONObject(cols []string, vals []any) string {
	var b strings.Builder
	b.WriteByte('{')
	seen := map[string]int{}
	var keys []string
	var values []any
	for i, c := range cols {
		if j, ok := seen[c]; ok {
			values[j] = vals[i]
			continue
		}
		seen[c] = len(keys)
		keys = append(keys, c)
		values = append(values, vals[i])
	}
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(pyJSONString(k))
		b.WriteString(": ")
		b.WriteString(PyJSON(values[i]))
	}
	b.WriteByte('}')
	return b.String()
}

// PyJSONRows formats query rows as Python's json.dumps([list(r) for r in rows],
// default=repr) does.
func PyJSONRows(rows [][]any) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('[')
		for j, v := range r {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(PyJSON(v))
		}
		b.WriteByte(']')
	}
	b.WriteByte(']')
	return b.String()
}

// PyJSON formats one SQLite value as Python's json.dumps(value, default=repr) does.
func PyJSON(v any) string {
	switch x := canonical(v).(type) {
	case nil:
		return "null"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return "NaN"
		case math.IsInf(x, 1):
			return "Infinity"
		case math.IsInf(x, -1):
			return "-Infinity"
		}
		return pyFloatRepr(x)
	case string:
		return pyJSONString(x)
	case []byte:
		return pyJSONString(pyBytesRepr(x))
	}
	return "null" // unreachable: canonical returns one of the cases above
}

// pyStr formats a value as Python's str() does (f-string interpolation).
func pyStr(v any) string {
	switch x := canonical(v).(type) {
	case nil:
		return "None"
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		switch {
		case math.IsNaN(x):
			return "nan"
		case math.IsInf(x, 1):
			return "inf"
		case math.IsInf(x, -1):
			return "-inf"
		}
		return pyFloatRepr(x)
	case string:
		return x
	case []byte:
		return pyBytesRepr(x)
	}
	return ""
}

// pyTruthy reports Python's truth value of a SQLite value.
func pyTruthy(v any) bool {
	switch x := canonical(v).(type) {
	case nil:
		return false
	case int64:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []byte:
		return len(x) != 0
	}
	return true
}

// pyFloatRepr formats a finite float as Python's repr(float): the shortest digits that
// round-trip, fixed notation when the decimal exponent is in [-4, 16), else 'e' notation
// with a signed exponent of at least two digits.
func pyFloatRepr(f float64) string {
	s := strconv.FormatFloat(f, 'e', -1, 64) // e.g. -1.2345e+06
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	digits := strings.Replace(mant, ".", "", 1)
	decpt := exp + 1 // digits[0:decpt] is the integer part
	var out string
	if decpt > -4 && decpt <= 16 {
		switch {
		case decpt <= 0:
			out = "0." + strings.Repeat("0", -decpt) + digits
		case decpt >= len(digits):
			out = digits + strings.Repeat("0", decpt-len(digits)) + ".0"
		default:
			out = digits[:decpt] + "." + digits[decpt:]
		}
	} else {
		m := digits[:1]
		if len(digits) > 1 {
			m += "." + digits[1:]
		}
		sign := "+"
		e := decpt - 1
		if e < 0 {
			sign, e = "-", -e
		}
		out = fmt.Sprintf("%se%s%02d", m, sign, e)
	}
	if neg {
		out = "-" + out
	}
	return out
}

// pyJSONString quotes s as Python's json.dumps does with ensure_ascii=True.
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			switch {
			case r >= 0x20 && r <= 0x7e:
				b.WriteRune(r)
			case r > 0xffff:
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			default:
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pyBytesRepr formats b as Python's repr(bytes) does.
func pyBytesRepr(p []byte) string {
	quote := byte('\'')
	if slices.Contains(p, '\'') && !slices.Contains(p, '"') {
		quote = '"'
	}
	var b strings.Builder
	b.WriteString("b")
	b.WriteByte(quote)
	for _, c := range p {
		switch {
		case c == quote || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte(quote)
	return b.String()
}

// MasterEntry is one row of sqlite_master.
type MasterEntry struct {
	Type, Name, TblName, SQL string // SQL is "" for automatic indexes
}

// String renders an entry the way `oracle.sh dump --master` does.
func (e MasterEntry) String() string {
	sql := e.SQL
	if sql == "" {
		sql = "<no sql: auto index>"
	}
	return fmt.Sprintf("== %s %s (%s)\n%s\n", e.Type, e.Name, e.TblName, sql)
}

// ReadMaster returns the sqlite_master entries of a database file, opened read-only with
// plain SQLite, sorted by (type, name, tbl_name, sql) as the oracle's dump sorts them.
func ReadMaster(ctx context.Context, path string) ([]MasterEntry, error) {
	db, err := openReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := queryRows(ctx, db, "select type, name, tbl_name, sql from sqlite_master")
	if err != nil {
		return nil, fmt.Errorf("oracletest: %s: %w", path, err)
	}
	out := make([]MasterEntry, len(rows))
	for i, r := range rows {
		out[i] = MasterEntry{Type: pyStr(r[0]), Name: pyStr(r[1]), TblName: pyStr(r[2])}
		if r[3] != nil {
			out[i].SQL = pyStr(r[3])
		}
	}
	slices.SortFunc(out, func(a, b MasterEntry) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.TblName, b.TblName), cmp.Compare(a.SQL, b.SQL))
	})
	return out, nil
}
