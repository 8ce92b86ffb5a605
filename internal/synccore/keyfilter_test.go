package synccore

import (
	"strconv"
	"strings"
	"testing"
)

// The filter never says a key it holds is absent, across its growth, and
// says most keys it does not hold are absent.
func TestKeyFilter(t *testing.T) {
	f := newKeyFilter(0)
	const n = 50_000
	for i := range n {
		f.add("items/" + strconv.Itoa(i) + "/null")
	}
	if len(f.parts) < 2 {
		t.Fatalf("filter did not grow: %d parts", len(f.parts))
	}
	for i := range n {
		if !f.mayHave("items/" + strconv.Itoa(i) + "/null") {
			t.Fatalf("key %d added but reported absent", i)
		}
	}
	fp := 0
	for i := n; i < 2*n; i++ {
		if f.mayHave("items/" + strconv.Itoa(i) + "/null") {
			fp++
		}
	}
	// ~1% a part, and a lookup asks every part
	if fp > n/10 {
		t.Errorf("%d of %d absent keys reported present", fp, n)
	}
	if got := f.present([]string{"", "items/1/null", "items/x/null"}); len(got) > 2 || len(got) == 0 || got[0] != "items/1/null" {
		t.Errorf("present = %q", got)
	}
}

// In a first sync (the bucket's keys are tracked by its filter), a later data
// line still supersedes the rows of earlier lines.
func TestFirstSyncSupersedesAcrossLines(t *testing.T) {
	ctx := t.Context()
	db := openTestDB(t, t.TempDir()+"/k.db", "testdata/lines/schema_todos.json")
	e := New(db, Options{})
	if _, err := e.Start(ctx, StartRequest{IncludeDefaults: true}); err != nil {
		t.Fatal(err)
	}
	put := func(id, op, key, desc string, cs int) string {
		data := `null`
		if desc != "" {
			data = strconv.Quote(`{"description":"` + desc + `"}`)
		}
		return `{"op_id":"` + id + `","op":"` + op + `","object_type":"todos","object_id":"` + key + `","checksum":` + strconv.Itoa(cs) + `,"data":` + data + `}`
	}
	lines := []string{
		`{"checkpoint":{"last_op_id":"5","buckets":[{"bucket":"b","checksum":15,"count":5}]}}`,
		`{"data":{"bucket":"b","data":[` + put("1", "PUT", "a", "old a", 1) + `,` + put("2", "PUT", "b", "old b", 2) + `]}}`,
		`{"data":{"bucket":"b","data":[` + put("3", "PUT", "a", "new a", 3) + `,` + put("4", "REMOVE", "b", "", 4) + `,` + put("5", "PUT", "c", "c", 5) + `]}}`,
		`{"checkpoint_complete":{"last_op_id":"5"}}`,
	}
	var b [][]byte
	for _, l := range lines {
		b = append(b, []byte(l))
	}
	ins, err := e.LinesText(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	done := false
	for _, in := range ins {
		_, ok := in.(DidCompleteSync)
		done = done || ok
	}
	if !done {
		t.Fatalf("checkpoint not applied: %v", ins)
	}
	rows, err := db.QueryContext(ctx, `SELECT id, data ->> 'description' FROM ps_data__todos ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var id, d string
		if err := rows.Scan(&id, &d); err != nil {
			t.Fatal(err)
		}
		got = append(got, id+"="+d)
	}
	if want := "a=new a c=c"; strings.Join(got, " ") != want {
		t.Errorf("rows %q, want %q", got, want)
	}
	var oplog int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM ps_oplog`).Scan(&oplog); err != nil || oplog != 2 {
		t.Errorf("%d oplog rows (%v), want 2", oplog, err)
	}
}
