package schema_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/schema"
)

// TestJSONRoundTrip marshals every test schema and parses it back.
func TestJSONRoundTrip(t *testing.T) {
	for _, c := range oracleCases() {
		t.Run(c.name, func(t *testing.T) {
			s := caseSchema(t, c)
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := schema.Parse(data)
			if err != nil {
				t.Fatalf("Parse(%s): %v", data, err)
			}
			// Index columns come back with their types made explicit.
			want := withIndexTypes(s)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
			}
			again, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(data) {
				t.Errorf("second marshal differs:\n%s\n%s", again, data)
			}
		})
	}
}

// withIndexTypes returns a copy of s whose index columns all have a Type.
func withIndexTypes(s *schema.Schema) *schema.Schema {
	out := &schema.Schema{RawTables: s.RawTables}
	for _, t := range s.Tables {
		var idxs []schema.Index
		for _, idx := range t.Indexes {
			cols := make([]schema.IndexedColumn, len(idx.Columns))
			for i, ic := range idx.Columns {
				if ic.Type == "" {
					ic.Type = t.Column(ic.Name).Type
				}
				cols[i] = ic
			}
			idxs = append(idxs, schema.Index{Name: idx.Name, Columns: cols})
		}
		t.Indexes = idxs
		if t.Columns == nil {
			t.Columns = []schema.Column{}
		}
		out.Tables = append(out.Tables, t)
	}
	return out
}

func TestParseTolerant(t *testing.T) {
	tests := []struct {
		name string
		json string
		want *schema.Schema
	}{
		{
			name: "minimal",
			json: `{"tables":[{"name":"a","columns":[{"name":"x","type":"TEXT"}]}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{schema.Text("x")}}}},
		},
		{
			name: "no tables",
			json: `{"tables":[]}`,
			want: &schema.Schema{Tables: []schema.Table{}},
		},
		{
			name: "unknown keys everywhere",
			json: `{"tables":[{"name":"a","Name":"b","foo":"bar","n":1,"o":{},"columns":[{"name":"x","type":"TEXT","extra":1}],
				"indexes":[{"name":"i","columns":[{"name":"x","ascending":false,"type":"TEXT","z":null}],"q":[]}]}],
				"raw_tables":[{"name":"r","table_name":"r","foo":"x","put":null,"clear":null}],"zzz":3}`,
			want: &schema.Schema{
				Tables: []schema.Table{{
					Name: "a", Columns: []schema.Column{schema.Text("x")},
					Indexes: []schema.Index{{Name: "i", Columns: []schema.IndexedColumn{{Name: "x", Descending: true, Type: "TEXT"}}}},
				}},
				RawTables: []schema.RawTable{{Name: "r", TableName: "r"}},
			},
		},
		{
			name: "nulls for optional keys",
			json: `{"tables":[{"name":"a","view_name":null,"columns":[],"indexes":null,"local_only":null,"include_old":null,
				"include_old_only_when_changed":null}],"raw_tables":null}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{}}}},
		},
		{
			name: "flags",
			json: `{"tables":[{"name":"a","view_name":"v","columns":[],"local_only":false,"insert_only":true,"include_metadata":true,"ignore_empty_update":true}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", ViewNameOverride: "v", Columns: []schema.Column{}, InsertOnly: true, TrackMetadata: true, IgnoreEmptyUpdates: true}}},
		},
		{
			name: "include_old true",
			json: `{"tables":[{"name":"a","columns":[],"include_old":true,"include_old_only_when_changed":true}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{}, TrackPrevious: &schema.TrackPreviousValues{OnlyWhenChanged: true}}}},
		},
		{
			name: "include_old false drops only_when_changed",
			json: `{"tables":[{"name":"a","columns":[],"include_old":false,"include_old_only_when_changed":true}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{}}}},
		},
		{
			name: "include_old columns",
			json: `{"tables":[{"name":"a","columns":[],"include_old":["x","y"]}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{}, TrackPrevious: &schema.TrackPreviousValues{Columns: []string{"x", "y"}}}}},
		},
		{
			name: "include_old empty list",
			json: `{"tables":[{"name":"a","columns":[],"include_old":[]}]}`,
			want: &schema.Schema{Tables: []schema.Table{{Name: "a", Columns: []schema.Column{}, TrackPrevious: &schema.TrackPreviousValues{Columns: []string{}}}}},
		},
		{
			name: "index defaults",
			json: `{"tables":[{"name":"a","columns":[{"name":"x","type":"integer"}],"indexes":[{"name":"i","columns":[{"name":"x"}]}]}]}`,
			want: &schema.Schema{Tables: []schema.Table{{
				Name: "a", Columns: []schema.Column{{Name: "x", Type: "integer"}},
				Indexes: []schema.Index{{Name: "i", Columns: []schema.IndexedColumn{{Name: "x"}}}},
			}}},
		},
		{
			name: "raw tables",
			json: `{"tables":[],"raw_tables":[
				{"name":"todos","put":{"sql":"INSERT INTO t VALUES (?, ?, ?)","params":["Id",{"Column":"title"},"Rest"]},
				 "delete":{"sql":"DELETE FROM t WHERE id = ?","params":["Id"]},"clear":"DELETE FROM t"},
				{"name":"users","table_name":"local_users","synced_columns":["email"],"insert_only":true,
				 "include_old":["email"],"include_old_only_when_changed":true,"ignore_empty_update":true,"local_only":true}]}`,
			want: &schema.Schema{Tables: []schema.Table{}, RawTables: []schema.RawTable{
				{
					Name: "todos",
					Put: &schema.PendingStatement{SQL: "INSERT INTO t VALUES (?, ?, ?)",
						Params: []schema.Param{schema.IDParam(), schema.ColumnParam("title"), schema.RestParam()}},
					Delete: &schema.PendingStatement{SQL: "DELETE FROM t WHERE id = ?", Params: []schema.Param{schema.IDParam()}},
					Clear:  "DELETE FROM t",
				},
				{
					Name: "users", TableName: "local_users", SyncedColumns: []string{"email"}, InsertOnly: true,
					TrackPrevious:      &schema.TrackPreviousValues{Columns: []string{"email"}, OnlyWhenChanged: true},
					IgnoreEmptyUpdates: true,
				},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := schema.Parse([]byte(tt.json))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse:\n got %#v\nwant %#v", got, tt.want)
			}
			var viaUnmarshal schema.Schema
			if err := json.Unmarshal([]byte(tt.json), &viaUnmarshal); err != nil {
				t.Fatalf("json.Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(&viaUnmarshal, tt.want) {
				t.Errorf("json.Unmarshal:\n got %#v\nwant %#v", &viaUnmarshal, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		json, want string
	}{
		{``, "schema: expected a JSON object"},
		{`null`, "schema: expected a JSON object"},
		{`[]`, "schema: expected a JSON object"},
		{`{}`, "schema: missing tables"},
		{`{"tables":{}}`, "schema: tables: expected an array"},
		{`{"tables":[1]}`, "tables[0]: expected a JSON object"},
		{`{"tables":[{"columns":[]}]}`, "tables[0]: missing name"},
		{`{"tables":[{"name":1,"columns":[]}]}`, "tables[0]: name: expected a string"},
		{`{"tables":[{"name":"a"}]}`, "tables[0] (a): missing columns"},
		{`{"tables":[{"name":"a","columns":[{"name":"x"}]}]}`, "tables[0] (a): columns[0]: missing type"},
		{`{"tables":[{"name":"a","columns":[{"type":"TEXT"}]}]}`, "tables[0] (a): columns[0]: missing name"},
		{`{"tables":[{"name":"a","columns":[],"view_name":3}]}`, "tables[0] (a): view_name: expected a string"},
		{`{"tables":[{"name":"a","columns":[],"local_only":"yes"}]}`, "tables[0] (a): local_only: expected a boolean"},
		{`{"tables":[{"name":"a","columns":[],"include_old":"x"}]}`, "include_old: expected an array of columns, or true"},
		{`{"tables":[{"name":"a","columns":[],"include_old":[1]}]}`, "include_old[0]: expected a string"},
		{`{"tables":[{"name":"a","columns":[],"indexes":[{"name":"i"}]}]}`, "indexes[0]: missing columns"},
		{`{"tables":[{"name":"a","columns":[],"indexes":[{"name":"i","columns":[{"name":"x","ascending":"no"}]}]}]}`, "ascending: expected a boolean"},
		{`{"tables":[],"raw_tables":[{}]}`, "raw_tables[0]: missing name"},
		{`{"tables":[],"raw_tables":[{"name":"r","put":{"sql":"x"}}]}`, "raw_tables[0] (r): put: missing params"},
		{`{"tables":[],"raw_tables":[{"name":"r","put":{"params":[]}}]}`, "raw_tables[0] (r): put: missing sql"},
		{`{"tables":[],"raw_tables":[{"name":"r","delete":{"sql":"x","params":["id"]}}]}`, `delete: params[0]: unknown parameter "id"`},
		{`{"tables":[],"raw_tables":[{"name":"r","delete":{"sql":"x","params":[{"Column":1}]}}]}`, "delete: params[0]: Column: expected a string"},
		{`{"tables":[],"raw_tables":[{"name":"r","delete":{"sql":"x","params":[{"Col":"a"}]}}]}`, "delete: params[0]: missing Column"},
		{`{"tables":[],"raw_tables":[{"name":"r","synced_columns":"a"}]}`, "synced_columns: expected an array"},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			_, err := schema.Parse([]byte(tt.json))
			if err == nil {
				t.Fatalf("Parse succeeded, want error containing %q", tt.want)
			}
			if !errors.Is(err, schema.ErrInvalidSchema) {
				t.Errorf("error %v does not wrap ErrInvalidSchema", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestRawTableJSON(t *testing.T) {
	r := schema.RawTable{Name: "users", TableName: "users", SyncedColumns: []string{"email"}, InsertOnly: true}
	data, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"users","table_name":"users","synced_columns":["email"],"insert_only":true,"include_old":false,"include_old_only_when_changed":false,"ignore_empty_update":false}`
	if string(data) != want {
		t.Errorf("Marshal = %s\nwant %s", data, want)
	}
	var back schema.RawTable
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("round trip = %#v", back)
	}
	if _, err := json.Marshal(schema.Param{}); err == nil {
		t.Error("marshalling a zero Param succeeded")
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// survives a marshal/parse round trip unchanged.
func FuzzParse(f *testing.F) {
	for _, c := range oracleCases() {
		if c.schema != nil && c.name != "wide" { // large inputs make the fuzzer crawl
			data, err := c.schema().MarshalJSON()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := schema.Parse(data)
		if err != nil {
			if !errors.Is(err, schema.ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		out, err := s.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON of a parsed schema: %v", err)
		}
		s2, err := schema.Parse(out)
		if err != nil {
			t.Fatalf("Parse(MarshalJSON(s)) = %v\ninput %q\nmarshalled %s", err, data, out)
		}
		out2, err := s2.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("marshal not stable:\n%s\n%s", out, out2)
		}
		// Generation and validation must not panic on any parsed schema.
		_ = s.Validate()
		for i := range s.Tables {
			_ = s.Tables[i].Statements()
		}
		_ = s.CreateTableSQL()
	})
}
