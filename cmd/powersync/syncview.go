package main

import (
	"fmt"
	"io"
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
	uploading   bool
	queued      int64
	bar         string // the bar currently shown ("" when none)
}

func newSyncView(w io.Writer, tty bool, now func() time.Time, canUpload bool) *syncView {
	return &syncView{w: w, tty: tty, now: now, canUpload: canUpload, prios: map[int]time.Time{}, queued: -1}
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
	downloadErr, uploadErr                                   string
	queued                                                   int64 // upload queue entries, -1 if unknown
}

// update prints what changed since the previous status. queued is the
// number of upload queue entries (-1 if unknown).
func (v *syncView) update(st pssync.Status, queued int64) {
	vs := viewState{
		connected: st.Connected, connecting: st.Connecting, downloading: st.Downloading, uploading: st.Uploading,
		hasSynced: st.HasSynced, lastSynced: st.LastSyncedAt, priorities: st.Priorities,
		downloadErr: errText(st.DownloadError), uploadErr: errText(st.UploadError), queued: queued,
	}
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
	}

	if st.downloadErr != v.dlErr {
		if st.downloadErr != "" {
			v.event("download error: %s", st.downloadErr)
		}
		v.dlErr = st.downloadErr
	}
	if st.uploadErr != v.upErr {
		if st.uploadErr != "" {
			v.event("upload error: %s", st.uploadErr)
		}
		v.upErr = st.uploadErr
	}

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

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
