package main

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	pssync "github.com/gopowersync/powersync/sync"
)

// syncView prints the sync status: a line per change of state and, on a
// terminal, a progress bar kept on the last line while downloading.
type syncView struct {
	w         io.Writer
	tty       bool
	now       func() time.Time
	canUpload bool

	started     bool
	conn        string
	downloading bool
	pct         int // last printed progress step, in percent (plain output)
	lastSynced  time.Time
	prios       map[int]time.Time
	dlErr       string
	upErr       string
	lastDlErr   error // the errors of the previous status, to tell a new
	lastUpErr   error // occurrence from the same one seen again
	uploading   bool
	queued      int64
	streams     map[string]time.Time // stream key: last synced before this run
	announced   map[string]bool      // streams whose sync this run was printed
	bar         string               // the bar currently shown ("" when none)
}

func newSyncView(w io.Writer, tty bool, now func() time.Time, canUpload bool) *syncView {
	return &syncView{w: w, tty: tty, now: now, canUpload: canUpload, prios: map[int]time.Time{}, queued: -1,
		streams: map[string]time.Time{}, announced: map[string]bool{}}
}

// event prints one status line (above the progress bar on a terminal).
func (v *syncView) event(format string, args ...any) {
	v.clearBar()
	fmt.Fprintf(v.w, "%s %s\n", v.now().Format("15:04:05"), fmt.Sprintf(format, args...))
	v.drawBar(v.bar)
}

func (v *syncView) clearBar() {
	if v.tty && v.bar != "" {
		fmt.Fprint(v.w, "\r\033[K")
	}
}

func (v *syncView) drawBar(bar string) {
	v.bar = bar
	if v.tty && bar != "" {
		fmt.Fprint(v.w, bar)
	}
}

// finish removes the progress bar.
func (v *syncView) finish() {
	v.clearBar()
	v.bar = ""
}

// viewState is what the view shows of a status.
type viewState struct {
	connected, connecting, downloading, uploading, hasSynced bool
	lastSynced                                               time.Time
	progress                                                 pssync.ProgressCounts
	priorities                                               []pssync.PriorityStatus
	streams                                                  []pssync.StreamStatus
	downloadErr, uploadErr                                   string
	newDownloadErr, newUploadErr                             bool  // the error is a new occurrence
	queued                                                   int64 // upload queue entries, -1 if unknown
}

// update prints what changed since the previous status. queued is the
// number of upload queue entries (-1 if unknown).
func (v *syncView) update(st pssync.Status, queued int64) {
	vs := viewState{
		connected: st.Connected, connecting: st.Connecting, downloading: st.Downloading, uploading: st.Uploading,
		hasSynced: st.HasSynced, lastSynced: st.LastSyncedAt, priorities: st.Priorities, streams: st.Streams,
		downloadErr: errText(st.DownloadError), uploadErr: errText(st.UploadError), queued: queued,
		newDownloadErr: !sameError(st.DownloadError, v.lastDlErr), newUploadErr: !sameError(st.UploadError, v.lastUpErr),
	}
	v.lastDlErr, v.lastUpErr = st.DownloadError, st.UploadError
	if st.Downloading && st.DownloadProgress != nil {
		vs.progress = st.DownloadProgress.Overall()
	}
	v.apply(vs)
}

func (v *syncView) apply(st viewState) {
	first := !v.started
	v.started = true

	conn := "disconnected"
	switch {
	case st.connected:
		conn = "connected"
	case st.connecting:
		conn = "connecting"
	}
	if conn != v.conn {
		if !(first && conn == "disconnected") {
			v.event("%s", conn)
		}
		v.conn = conn
	}

	if first {
		v.lastSynced = st.lastSynced
		if st.hasSynced {
			v.event("last synced %s (before this run)", st.lastSynced.UTC().Format(time.RFC3339))
		} else {
			v.event("never synced before")
		}
		for _, p := range st.priorities {
			v.prios[p.Priority] = p.LastSyncedAt
		}
		for _, s := range st.streams {
			v.streams[streamLabel(s.Name, s.Parameters)] = s.LastSyncedAt
		}
	}

	// An error is printed when its text changes and for every new
	// occurrence (each failed connection or upload attempt records its
	// own), so that every "disconnected" of a retry says why.
	if st.downloadErr != "" && (st.downloadErr != v.dlErr || st.newDownloadErr) {
		v.event("download error: %s", st.downloadErr)
	}
	v.dlErr = st.downloadErr
	if st.uploadErr != "" && (st.uploadErr != v.upErr || st.newUploadErr) {
		v.event("upload error: %s", st.uploadErr)
	}
	v.upErr = st.uploadErr

	if st.queued >= 0 && st.queued != v.queued {
		switch {
		case st.queued == 0 && v.queued > 0:
			v.event("upload queue empty")
		case st.queued > 0 && !v.canUpload:
			v.event("upload queue: %s (not uploaded: no --upload-url; downloaded data waits for them)", plural(st.queued, "entry", "entries"))
		case st.queued > 0:
			v.event("upload queue: %s", plural(st.queued, "entry", "entries"))
		}
		v.queued = st.queued
	}
	if st.uploading && !v.uploading {
		v.event("uploading")
	}
	v.uploading = st.uploading

	for _, p := range st.priorities {
		if p.Priority == pssync.FullSyncPriority || !p.HasSynced {
			continue
		}
		if prev, ok := v.prios[p.Priority]; !ok || !prev.Equal(p.LastSyncedAt) {
			v.event("priority %d synced", p.Priority)
		}
		v.prios[p.Priority] = p.LastSyncedAt
	}

	for _, s := range st.streams {
		label := streamLabel(s.Name, s.Parameters)
		if !s.HasSynced() || v.announced[label] {
			continue
		}
		if prev, ok := v.streams[label]; ok && prev.Equal(s.LastSyncedAt) {
			continue
		}
		v.announced[label] = true
		if !s.Active {
			v.event("stream %s: not in the service's checkpoint (no such stream, or its parameters are wrong)", label)
			continue
		}
		v.event("stream %s synced", label)
	}

	counts := st.progress
	if st.downloading && !v.downloading {
		if left := counts.Total - counts.Downloaded; left > 0 {
			v.event("downloading %s", plural(left, "operation", "operations"))
		} else {
			v.event("downloading a checkpoint")
		}
		v.pct = 0
	}
	v.downloading = st.downloading

	if st.hasSynced && !st.lastSynced.Equal(v.lastSynced) {
		v.finish()
		v.event("synced (complete) at %s", st.lastSynced.UTC().Format(time.RFC3339))
		v.lastSynced = st.lastSynced
	}

	if !st.downloading {
		v.finish()
		return
	}
	pct := 0
	if counts.Total > 0 {
		pct = int(counts.Downloaded * 100 / counts.Total)
	}
	if v.tty {
		v.clearBar()
		v.drawBar(progressBar(counts, pct, conn))
		return
	}
	if step := pct / 10 * 10; step > v.pct {
		v.pct = step
		v.event("downloaded %d/%d operations (%d%%)", counts.Downloaded, counts.Total, pct)
	}
}

// progressBar renders "[######----------]  37%  370/1000 operations  connected".
func progressBar(c pssync.ProgressCounts, pct int, conn string) string {
	const width = 30
	filled := width * min(max(pct, 0), 100) / 100
	return fmt.Sprintf("[%s%s] %3d%%  %d/%d operations  %s",
		strings.Repeat("#", filled), strings.Repeat("-", width-filled), pct, c.Downloaded, c.Total, conn)
}

// streamLabel names a stream subscription: "name" without parameters,
// else "name {params}".
func streamLabel(name string, params []byte) string {
	p := strings.TrimSpace(string(params))
	if p == "" || p == "null" {
		return name
	}
	return name + " " + p
}

// sameError reports whether a and b are the same error value (not merely
// the same text): the syncer records a new value for every failure.
func sameError(a, b error) (same bool) {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if t := reflect.TypeOf(a); t != reflect.TypeOf(b) {
		return false
	} else if !t.Comparable() {
		return a.Error() == b.Error()
	}
	defer func() {
		if recover() != nil { // a comparable type holding an uncomparable value
			same = a.Error() == b.Error()
		}
	}()
	return a == b
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
