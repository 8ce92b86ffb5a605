package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

const bucketsUsage = `Usage: powersync buckets [--json] FILE

Lists the buckets of FILE (ps_buckets) with their positions, operation counts
and checksums:

  LAST_APPLIED  the highest op id published to the data tables
  LAST_OP       the highest op id downloaded (sent as "after" on reconnect)
  STORED        operations kept in ps_oplog (current PUTs only)
  COUNT         the bucket's operation count at the last complete checkpoint
                (+N: operations downloaded since then)
  CHECKSUM      add_checksum + op_checksum (mod 2^32); a complete checkpoint
                is only applied when this equals the service's checksum
  DOWNLOADED    bytes of sync lines received for the bucket
  ROW TYPES     stored operations per table

A bucket marked "*" has downloaded operations that are not applied yet.
The file is opened read-only and is not changed.

Examples:
  powersync buckets app.db
  powersync buckets --json app.db | jq '.buckets[] | select(.last_op > .last_applied_op)'
`

func bucketsCommand() *command {
	c := &command{name: "buckets", summary: "list buckets with positions, counts and checksums", usage: bucketsUsage}
	c.run = func(a *app, ctx context.Context, args []string) int {
		fs := newFlagSet(c)
		asJSON := fs.Bool("json", false, "print JSON instead of text")
		d, code, ok := a.openFileArg(ctx, c, fs, args)
		if !ok {
			return code
		}
		defer d.Close()
		buckets, err := d.readBuckets(ctx)
		if err != nil {
			return a.fail(c, err)
		}
		if *asJSON {
			return a.writeJSON(c, struct {
				File    string        `json:"file"`
				Buckets []*bucketInfo `json:"buckets"`
			}{d.path, nonNil(buckets)})
		}
		printBuckets(a.stdout, buckets)
		return exitOK
	}
	return c
}

func printBuckets(w io.Writer, buckets []*bucketInfo) {
	if len(buckets) == 0 {
		fmt.Fprintln(w, "No buckets (nothing downloaded yet).")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  BUCKET\tID\tLAST_APPLIED\tLAST_OP\tSTORED\tCOUNT\tCHECKSUM\tDOWNLOADED\tROW TYPES")
	var unapplied, pendingDelete int
	for _, b := range buckets {
		mark := " "
		if b.unapplied() {
			mark = "*"
			unapplied++
		}
		name := b.Name
		if b.PendingDelete {
			name += " (pending delete)"
			pendingDelete++
		}
		count := fmt.Sprintf("%d", b.CountAtLast)
		if b.CountSinceLast > 0 {
			count += fmt.Sprintf(" +%d", b.CountSinceLast)
		}
		fmt.Fprintf(tw, "%s %s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", mark, name, b.ID, b.LastAppliedOp, b.LastOp,
			b.StoredOps, count, checksumText(b), formatBytes(b.DownloadedSize), rowTypes(b.RowTypes))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s", plural(int64(len(buckets)), "bucket", "buckets"))
	if unapplied > 0 {
		fmt.Fprintf(w, "; * %d with downloaded operations not applied yet", unapplied)
	}
	if pendingDelete > 0 {
		fmt.Fprintf(w, "; %d pending delete", pendingDelete)
	}
	fmt.Fprintln(w)
}

// checksumText is "0x000000c0 (192)".
func checksumText(b *bucketInfo) string {
	return fmt.Sprintf("0x%08x (%d)", b.Checksum, b.Checksum)
}

// rowTypes is "lists:1 todos:2".
func rowTypes(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = "(none)"
		}
		parts[i] = fmt.Sprintf("%s:%d", name, m[k])
	}
	return strings.Join(parts, " ")
}
