package synccore

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gopowersync/powersync/internal/oracletest"
)

var seedFlag = flag.String("seed", "", "comma-separated seeds or a range A-B for TestRandomStreams (env SYNCCORE_SEEDS too); default 1-3")

func randomSeeds(t *testing.T) []uint64 {
	spec := *seedFlag
	if spec == "" {
		spec = os.Getenv("SYNCCORE_SEEDS")
	}
	if spec == "" {
		spec = "1-3"
	}
	var out []uint64
	for _, part := range strings.Split(spec, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseUint(a, 10, 64)
		if err != nil {
			t.Fatalf("bad seed %q", part)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(b, 10, 64); err != nil {
				t.Fatalf("bad seed %q", part)
			}
		}
		for s := lo; s <= hi; s++ {
			out = append(out, s)
		}
	}
	return out
}

// streamGen writes a random but valid sync stream: several buckets and
// priorities, PUT/REMOVE/MOVE/CLEAR ops (subkeys, null data, rows shared by
// buckets), checkpoints and diffs with bucket removal, partial completions,
// local writes with write checkpoints in between, keepalives, unknown lines
// and occasionally a wrong checksum.
type streamGen struct {
	r       *rand.Rand
	out     strings.Builder
	opID    int64
	buckets map[string]*genBucket
	order   []string // live bucket names in creation order
	nextB   int
	wc      int64 // last write checkpoint
	local   int
}

type genBucket struct {
	name     string
	priority int32
	sum      uint32
	count    int64
}

var genTypes = []string{"todos", "todos", "lists", "comments", "drafts"}

func (g *streamGen) line(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	g.out.Write(b)
	g.out.WriteByte('\n')
}

func (g *streamGen) newBucket() {
	g.nextB++
	b := &genBucket{name: fmt.Sprintf("b%d[\"x\"]", g.nextB), priority: int32(g.r.IntN(4))}
	g.buckets[b.name] = b
	g.order = append(g.order, b.name)
}

func (g *streamGen) checksumValue(b *genBucket) any {
	v := b.sum
	switch g.r.IntN(3) {
	case 0:
		return int64(int32(v)) // signed form
	case 1:
		return float64(v)
	}
	return v
}

func (g *streamGen) bucketJSON(b *genBucket) map[string]any {
	m := map[string]any{"bucket": b.name, "checksum": g.checksumValue(b)}
	if b.priority != 3 || g.r.IntN(2) == 0 {
		m["priority"] = b.priority
	}
	if g.r.IntN(5) > 0 {
		m["count"] = b.count
	}
	return m
}

func (g *streamGen) op(b *genBucket) map[string]any {
	g.opID++
	cs := g.r.Uint32()
	op := map[string]any{"op_id": strconv.FormatInt(g.opID, 10), "checksum": cs}
	b.count++
	switch n := g.r.IntN(20); {
	case n < 12:
		op["op"] = "PUT"
		op["object_type"] = genTypes[g.r.IntN(len(genTypes))]
		op["object_id"] = fmt.Sprintf("r%d", g.r.IntN(12))
		if g.r.IntN(8) == 0 {
			op["subkey"] = fmt.Sprintf("s%d", g.r.IntN(2))
		}
		if g.r.IntN(15) == 0 {
			op["data"] = nil
		} else {
			op["data"] = fmt.Sprintf(`{"description":"v%d","completed":%d,"weight":%d.5}`, g.opID, g.r.IntN(2), g.r.IntN(100))
		}
	case n < 17:
		op["op"] = "REMOVE"
		op["object_type"] = genTypes[g.r.IntN(len(genTypes))]
		op["object_id"] = fmt.Sprintf("r%d", g.r.IntN(12))
		if g.r.IntN(8) == 0 {
			op["subkey"] = fmt.Sprintf("s%d", g.r.IntN(2))
		}
	case n < 19:
		op["op"] = "MOVE"
	default:
		op["op"] = "CLEAR"
		b.sum = 0
		if g.r.IntN(2) == 0 {
			op["checksum"] = int64(int32(cs))
		}
	}
	b.sum += cs
	return op
}

func (g *streamGen) localWrite() {
	// Every statement affects a row: the core allocates a tx id even for
	// view writes that change nothing, which is the driver's business.
	g.local++
	fmt.Fprintf(&g.out, "!sql insert into todos(id, description) values ('local%d', 'x')\n", g.local)
	switch g.r.IntN(3) {
	case 1:
		fmt.Fprintf(&g.out, "!sql update todos set description = 'edited' where id = 'local%d'\n", g.local)
	case 2:
		fmt.Fprintf(&g.out, "!sql delete from todos where id = 'local%d'\n", g.local)
	}
}

func (g *streamGen) upload() {
	g.wc++
	g.out.WriteString("!sql delete from ps_crud\n")
	fmt.Fprintf(&g.out, "!control target_checkpoint_request_id %d\n", g.wc)
	g.out.WriteString("!control completed_upload\n")
}

func generateStream(seed uint64) string {
	g := &streamGen{r: rand.New(rand.NewPCG(seed, 0x5eed)), buckets: map[string]*genBucket{}}
	fmt.Fprintf(&g.out, "# random stream, seed %d\n", seed)
	for range 2 + g.r.IntN(3) {
		g.newBucket()
	}
	rounds := 4 + g.r.IntN(5)
	for round := range rounds {
		// checkpoint or diff
		var removed []string
		var updated []*genBucket
		if round > 0 && g.r.IntN(3) > 0 {
			if len(g.order) > 1 && g.r.IntN(4) == 0 {
				i := g.r.IntN(len(g.order))
				removed = append(removed, g.order[i])
				delete(g.buckets, g.order[i])
				g.order = append(g.order[:i:i], g.order[i+1:]...)
			}
			if g.r.IntN(3) == 0 {
				g.newBucket()
			}
		}
		// data for some buckets
		type dl struct {
			b   *genBucket
			ops []map[string]any
		}
		var lines []dl
		for _, name := range g.order {
			b := g.buckets[name]
			if round > 0 && g.r.IntN(3) == 0 {
				continue
			}
			for range 1 + g.r.IntN(2) {
				var ops []map[string]any
				for range 1 + g.r.IntN(12) {
					ops = append(ops, g.op(b))
				}
				lines = append(lines, dl{b, ops})
			}
			updated = append(updated, b)
		}
		var wcVal any
		if g.wc > 0 && g.r.IntN(2) == 0 {
			wcVal = strconv.FormatInt(g.wc-int64(g.r.IntN(2)), 10)
		}
		last := strconv.FormatInt(g.opID, 10)
		if round == 0 || len(removed) == 0 && len(updated) == len(g.order) && g.r.IntN(2) == 0 {
			var bs []map[string]any
			for _, name := range g.order {
				bs = append(bs, g.bucketJSON(g.buckets[name]))
			}
			g.line(map[string]any{"checkpoint": map[string]any{"last_op_id": last, "write_checkpoint": wcVal, "buckets": bs}})
		} else {
			var bs []map[string]any
			for _, b := range updated {
				bs = append(bs, g.bucketJSON(b))
			}
			if bs == nil {
				bs = []map[string]any{}
			}
			if removed == nil {
				removed = []string{}
			}
			cd := map[string]any{"last_op_id": last, "updated_buckets": bs, "removed_buckets": removed}
			if wcVal != nil {
				cd["write_checkpoint"] = wcVal
			}
			g.line(map[string]any{"checkpoint_diff": cd})
		}
		// data lines grouped by priority, with partial completions
		for prio := int32(0); prio <= 3; prio++ {
			sent := false
			for _, l := range lines {
				if l.b.priority == prio {
					g.line(map[string]any{"data": map[string]any{"bucket": l.b.name, "has_more": false, "data": l.ops}})
					sent = true
				}
			}
			if g.r.IntN(6) == 0 {
				g.line(map[string]any{"token_expires_in": 60 + g.r.IntN(3000)})
			}
			if g.r.IntN(10) == 0 {
				g.line(map[string]any{"something_new": map[string]any{"x": 1}})
			}
			if g.r.IntN(5) == 0 {
				g.localWrite()
			}
			if sent && prio < 3 && g.r.IntN(2) == 0 {
				g.line(map[string]any{"partial_checkpoint_complete": map[string]any{"last_op_id": last, "priority": prio}})
			}
		}
		if g.r.IntN(4) == 0 {
			g.upload()
		}
		if round == rounds-1 && g.r.IntN(3) == 0 {
			// corrupt the stream: a checkpoint with a wrong checksum
			var bs []map[string]any
			for i, name := range g.order {
				m := g.bucketJSON(g.buckets[name])
				if i == 0 {
					m["checksum"] = g.buckets[name].sum + 1
				}
				bs = append(bs, m)
			}
			g.line(map[string]any{"checkpoint": map[string]any{"last_op_id": last, "buckets": bs}})
		}
		g.line(map[string]any{"checkpoint_complete": map[string]any{"last_op_id": last}})
		if g.r.IntN(3) == 0 {
			g.out.WriteString("!dump\n")
		}
	}
	return g.out.String()
}

func TestRandomStreams(t *testing.T) {
	for _, seed := range randomSeeds(t) {
		t.Run(fmt.Sprintf("seed_%d", seed), func(t *testing.T) {
			dir := t.TempDir()
			lines := filepath.Join(dir, "random.ndjson")
			if err := os.WriteFile(lines, []byte(generateStream(seed)), 0o644); err != nil {
				t.Fatal(err)
			}
			c := replayCase{name: fmt.Sprintf("random_seed_%d", seed), lines: lines, schema: "testdata/lines/schema_todos.json", mode: "legacy", noGolden: seed > 3}
			official, ours := filepath.Join(dir, "official.db"), filepath.Join(dir, "ours.db")
			want, haveOracle := oracleTranscript(t, c, official)
			got, _ := replayOurs(t, c, ours)
			if d := oracletest.LineDiff(want, got); d != "" {
				t.Errorf("transcript differs from the core's (- core, + ours):\n%s\nlines:\n%s", d, generateStream(seed))
			}
			if haveOracle {
				if same, diff := oracletest.Diff(t, official, ours, false); !same {
					t.Errorf("oracle diff official.db ours.db:\n%s", diff)
				}
			}
		})
	}
}
