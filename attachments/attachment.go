package attachments

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopowersync/powersync/schema"
)

// DefaultTable is the name of the attachments table when
// [Options.Table] is empty.
const DefaultTable = "attachments"

// State is where an attachment is in its life. The values are stored in
// the table's state column and are the official SDKs' values.
type State int

const (
	// QueuedUpload: the file is local and waits to be uploaded.
	QueuedUpload State = 0
	// QueuedDownload: a row references the attachment and its file is not
	// local yet.
	QueuedDownload State = 1
	// QueuedDelete: the attachment waits to be deleted from the remote
	// storage, then locally.
	QueuedDelete State = 2
	// Synced: the file is local and in the remote storage.
	Synced State = 3
	// Archived: no watched row references the attachment any more. Its
	// local file is kept (a row may reference it again) until the cache
	// limits remove it.
	Archived State = 4
)

var stateNames = [...]string{"queued_upload", "queued_download", "queued_delete", "synced", "archived"}

// String returns the state's name, e.g. "queued_upload".
func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Attachment is one row of the attachments table.
type Attachment struct {
	// ID is the attachment's id, the value the app's rows reference and
	// the name of the file in the remote storage.
	ID string
	// Filename is the file's name as the app gave it, or ID plus an
	// extension.
	Filename string
	// MediaType is the file's media (MIME) type, if known.
	MediaType string
	// Size is the file's size in bytes, once known.
	Size int64
	// State is where the attachment is in its life.
	State State
	// Timestamp is the time of the last change of state.
	Timestamp time.Time
	// LocalPath is the file's key in the [LocalStorage] (for
	// [FileStorage], a name relative to its directory), empty while there
	// is no local file.
	LocalPath string
	// MetaData is the app's own data about the attachment, stored as given.
	MetaData string
	// Hash is the hex SHA-256 of the file's content, once known.
	Hash string
	// HasSynced reports whether the file has ever been uploaded or
	// downloaded by this client.
	HasSynced bool
	// Attempts counts the failed attempts at the queued operation.
	Attempts int
	// RetryAt is when a failed operation is tried again.
	RetryAt time.Time
	// LastError is the error of the last failed attempt.
	LastError string
}

// Table returns the local-only table that holds the attachments, to be
// added to the database's schema:
//
//	s := schema.New(todos, attachments.Table(""))
//
// An empty name means [DefaultTable]. The table is local-only: its rows
// are never uploaded; only the app's own rows that reference attachment ids
// sync.
func Table(name string) schema.Table {
	if name == "" {
		name = DefaultTable
	}
	return schema.Table{
		Name:      name,
		LocalOnly: true,
		Columns: []schema.Column{
			schema.Integer("timestamp"),
			schema.Text("filename"),
			schema.Text("local_uri"),
			schema.Text("media_type"),
			schema.Integer("size"),
			schema.Integer("state"),
			schema.Integer("has_synced"),
			schema.Text("meta_data"),
			schema.Text("content_hash"),
			schema.Integer("attempts"),
			schema.Integer("retry_at"),
			schema.Text("last_error"),
		},
		Indexes: []schema.Index{{Name: "state_retry", Columns: []schema.IndexedColumn{{Name: "state"}, {Name: "retry_at"}}}},
	}
}

// columns lists the table's columns in the order scanAttachment reads them.
const columns = `id, coalesce(filename, ''), coalesce(media_type, ''), coalesce(size, 0), coalesce(state, 0),
	coalesce(timestamp, 0), coalesce(local_uri, ''), coalesce(meta_data, ''), coalesce(content_hash, ''),
	coalesce(has_synced, 0), coalesce(attempts, 0), coalesce(retry_at, 0), coalesce(last_error, '')`

type scanner interface{ Scan(dest ...any) error }

func scanAttachment(r scanner) (Attachment, error) {
	var a Attachment
	var ts, retry int64
	err := r.Scan(&a.ID, &a.Filename, &a.MediaType, &a.Size, &a.State, &ts, &a.LocalPath, &a.MetaData,
		&a.Hash, &a.HasSynced, &a.Attempts, &retry, &a.LastError)
	a.Timestamp = fromMillis(ts)
	a.RetryAt = fromMillis(retry)
	return a, err
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// localKey is the local file name of an attachment: its id with the
// extension of its file name, reduced to safe characters.
func localKey(id, filename string) string {
	ext := filepath.Ext(filename)
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
				return r
			}
			return '_'
		}, s)
	}
	if len(ext) > 16 {
		ext = ""
	}
	return clean(id) + clean(ext)
}

// nullable turns "" into NULL.
func nullable(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
