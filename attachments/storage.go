package attachments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotFound is wrapped by the error of a [RemoteStorage] or
// [LocalStorage] that has no file for an attachment. A download that fails
// with it is retried like any other failure (the file may not have been
// uploaded yet); a delete that fails with it has succeeded.
var ErrNotFound = errors.New("attachments: not found")

// RemoteStorage holds the attachments' files away from the device: an S3
// bucket (see the nested module attachments/s3), a backend that signs URLs
// ([HTTPStorage]), or anything else. Files are named by [Attachment.ID];
// the other fields are information (a media type to send, a size for a
// Content-Length).
//
// Methods are called from several goroutines at once (see
// [Options.Concurrency]) and must stop when their context ends.
type RemoteStorage interface {
	// Upload stores the a.Size bytes that r yields as the file of a.ID,
	// replacing any earlier one.
	Upload(ctx context.Context, a Attachment, r io.Reader) error
	// Download writes the file of a.ID to w. It returns an error wrapping
	// ErrNotFound if there is none.
	Download(ctx context.Context, a Attachment, w io.Writer) error
	// Delete removes the file of a.ID. Deleting a missing file is not an
	// error.
	Delete(ctx context.Context, a Attachment) error
}

// FileInfoWriter is implemented by the writer a [Queue] passes to
// [RemoteStorage.Download]. A storage that learns the file's media type or
// name while downloading it ([HTTPStorage] from the response's
// Content-Type and Content-Disposition headers) reports them, and the
// Queue records them for an attachment it knew only by id: a file
// downloaded because a synced row references it gets its media type.
// Values the attachment already has are kept.
type FileInfoWriter interface {
	io.Writer
	// SetFileInfo reports the file's media type and name; either may be
	// empty when not known.
	SetFileInfo(mediaType, filename string)
}

// HashStorage is a [RemoteStorage] that can tell the content hash of a
// stored file. When a Queue's remote storage implements it, an upload whose
// file is already stored with the same content (the hex SHA-256 in
// [Attachment.Hash]) is skipped: after a crash between an upload and its
// bookkeeping, or when the same content is saved again.
type HashStorage interface {
	RemoteStorage
	// RemoteHash returns the hex SHA-256 of the stored file of a.ID, ""
	// if the storage does not know it, or an error wrapping ErrNotFound
	// if there is no such file.
	RemoteHash(ctx context.Context, a Attachment) (string, error)
}

// LocalStorage holds the attachments' files on the device. Keys are the
// names the Queue chooses ([Attachment.LocalPath]): an attachment's id and
// the extension of its file name.
type LocalStorage interface {
	// Create starts a new file for key. Nothing is visible under key until
	// the returned file's Commit returns; Abort (or a crash) leaves no
	// trace under key.
	Create(ctx context.Context, key string) (PendingFile, error)
	// Open opens the file of key for reading; an error wraps ErrNotFound
	// if there is none.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Size returns the size of the file of key; an error wraps ErrNotFound
	// if there is none.
	Size(ctx context.Context, key string) (int64, error)
	// Remove deletes the file of key. Removing a missing file is not an
	// error.
	Remove(ctx context.Context, key string) error
	// Keys lists the committed files, for the Queue to remove files no
	// attachment row knows (left by a crash), and removes the leftovers of
	// uncommitted files.
	Keys(ctx context.Context) ([]string, error)
}

// PendingFile is a file being written by a [LocalStorage].
type PendingFile interface {
	io.Writer
	// Commit makes the file durable and visible under its key, replacing
	// an earlier file of the key.
	Commit() error
	// Abort discards the file. After Commit it does nothing.
	Abort() error
}

// FileStorage is the default [LocalStorage]: one file an attachment in a
// directory. Files are written to a temporary name, synced to disk and
// renamed, so a key names either nothing or a complete file.
type FileStorage struct {
	// Dir is the directory of the files; it is created when needed.
	Dir string
}

// tmpPrefix starts the names of files being written.
const tmpPrefix = ".tmp-"

func (s *FileStorage) path(key string) (string, error) {
	if key == "" || key != filepath.Base(key) || strings.HasPrefix(key, ".") {
		return "", fmt.Errorf("attachments: bad local key %q", key)
	}
	return filepath.Join(s.Dir, key), nil
}

// Create implements [LocalStorage].
func (s *FileStorage) Create(ctx context.Context, key string) (PendingFile, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	f, err := os.CreateTemp(s.Dir, tmpPrefix+key+"-*")
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	return &pendingFile{f: f, dest: p, dir: s.Dir}, nil
}

type pendingFile struct {
	f    *os.File
	dest string
	dir  string
	done bool
}

func (p *pendingFile) Write(b []byte) (int, error) { return p.f.Write(b) }

func (p *pendingFile) Commit() error {
	if p.done {
		return errors.New("attachments: file already committed or aborted")
	}
	p.done = true
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.f.Name(), p.dest)
	}
	if err != nil {
		os.Remove(p.f.Name())
		return fmt.Errorf("attachments: write %s: %w", p.dest, err)
	}
	syncDir(p.dir)
	return nil
}

func (p *pendingFile) Abort() error {
	if p.done {
		return nil
	}
	p.done = true
	p.f.Close()
	return os.Remove(p.f.Name())
}

// syncDir makes a rename in dir durable where the system allows it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync() // not supported everywhere (Windows); best effort
		d.Close()
	}
}

// Open implements [LocalStorage].
func (s *FileStorage) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("attachments: %s: %w", key, ErrNotFound)
	}
	return f, err
}

// Size implements [LocalStorage].
func (s *FileStorage) Size(ctx context.Context, key string) (int64, error) {
	p, err := s.path(key)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("attachments: %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Remove implements [LocalStorage].
func (s *FileStorage) Remove(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("attachments: %w", err)
	}
	return nil
}

// Keys implements [LocalStorage]. It removes the temporary files of writes
// that never committed.
func (s *FileStorage) Keys(ctx context.Context) ([]string, error) {
	entries, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	var keys []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			os.Remove(filepath.Join(s.Dir, e.Name()))
			continue
		}
		keys = append(keys, e.Name())
	}
	return keys, nil
}

var _ LocalStorage = (*FileStorage)(nil)

// DirRemote is a [RemoteStorage] in a directory: one file an attachment,
// named by its id, written as [FileStorage] writes (synced, then renamed).
// It serves development and tests, and clients that share a network file
// system. It is also a [HashStorage], so identical content is not uploaded
// twice.
type DirRemote struct {
	// Dir is the directory of the files; it is created when needed.
	Dir string
}

func (d DirRemote) files() *FileStorage { return &FileStorage{Dir: d.Dir} }

// Upload implements [RemoteStorage].
func (d DirRemote) Upload(ctx context.Context, a Attachment, r io.Reader) error {
	f, err := d.files().Create(ctx, a.ID)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

// Download implements [RemoteStorage]; a missing file wraps [ErrNotFound].
func (d DirRemote) Download(ctx context.Context, a Attachment, w io.Writer) error {
	f, err := d.files().Open(ctx, a.ID)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// Delete implements [RemoteStorage]; deleting a missing file is no error.
func (d DirRemote) Delete(ctx context.Context, a Attachment) error {
	return d.files().Remove(ctx, a.ID)
}

// RemoteHash implements [HashStorage] by hashing the stored file.
func (d DirRemote) RemoteHash(ctx context.Context, a Attachment) (string, error) {
	f, err := d.files().Open(ctx, a.ID)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("attachments: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var _ HashStorage = DirRemote{}
