package pstest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gopowersync/powersync/sync/pstest"
)

// A test starts a service, gives its client srv.URL and a token, changes
// data while the client is connected and checks what was uploaded. Here a
// plain HTTP request plays the client; in a real test it is a pssync.Syncer
// whose connector returns pstest's URL and token.
func Example() {
	srv := pstest.NewServer()
	defer srv.Close()
	if err := srv.SetRow("todos", "t1", map[string]any{"title": "buy milk"}); err != nil {
		panic(err)
	}

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/sync/stream",
		strings.NewReader(`{"client_id": "client-1", "raw_data": true}`))
	req.Header.Set("Authorization", "Token "+srv.Token("user-1"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	next := func() {
		lines.Scan()
		var line map[string]json.RawMessage
		if err := json.Unmarshal(lines.Bytes(), &line); err != nil {
			panic(err)
		}
		for kind, body := range line { // one key per line: its type
			if kind == "data" {
				body = body[:min(len(body), 66)]
			}
			fmt.Println(kind, string(body))
		}
	}
	next() // checkpoint
	next() // data
	next() // checkpoint_complete

	// A change reaches connected clients at once, as a checkpoint_diff.
	if err := srv.DeleteRow("todos", "t1"); err != nil {
		panic(err)
	}
	next()
	next()
	next()

	// The upload endpoint (or ApplyBatch) plays the app's backend.
	_, err = srv.ApplyBatch(context.Background(), "user-1", "client-1", []pstest.CrudEntry{
		{OpID: 1, TxID: 1, Op: "PUT", Type: "todos", ID: "t2", Data: map[string]any{"title": "call mom"}},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("applied:", srv.AppliedCount("todos", "t2"))
	next()
	// Output:
	// checkpoint {"last_op_id":"1","buckets":[{"bucket":"global[]","checksum":1576337255,"count":1,"priority":3,"subscriptions":[{"default":0}]}],"streams":[{"name":"global","is_default":true,"errors":[]}]}
	// data {"bucket":"global[]","after":"0","has_more":false,"data":[{"op_id"
	// checkpoint_complete {"last_op_id":"1"}
	// checkpoint_diff {"last_op_id":"2","removed_buckets":[],"updated_buckets":[{"bucket":"global[]","checksum":-911666674,"count":2,"priority":3,"subscriptions":[{"default":0}]}]}
	// data {"bucket":"global[]","after":"1","has_more":false,"data":[{"op_id"
	// checkpoint_complete {"last_op_id":"2"}
	// applied: 1
	// checkpoint_diff {"last_op_id":"3","write_checkpoint":"1","removed_buckets":[],"updated_buckets":[{"bucket":"global[]","checksum":1441391172,"count":3,"priority":3,"subscriptions":[{"default":0}]}]}
}
