package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Files stores attachment files in a directory and serves them through
// short-lived signed URLs, for attachments.HTTPStorage with
// attachments.Signer (the todo example's -photos URL mode).
//
// POST /api/attachments/sign (behind the same JWT check as uploads) takes
// what attachments.Signer posts:
//
//	{"op": "upload", "id": "…", "filename": "cat.jpg", "media_type": "image/jpeg", "size": 123}
//
// and answers one request, valid for TTL, for that operation on that id
// only:
//
//	{"method": "PUT", "url": "http://…/api/attachments/files/ID?exp=…&sig=…", "headers": {…}}
//
// The URL's query carries the method's expiry and, for an upload, the
// media type and file name to store; all of it, with the method and the
// id, is covered by an HMAC-SHA256 under Key. The file handlers refuse a
// missing, altered or expired signature with 403. Ids must be safe file
// names (letters, digits, '-' and '_', as UUIDs are); others are refused
// with 400 before any path is built.
//
// A PUT streams the body to a temporary file, refusing bodies over
// MaxSize with 413, and renames it into place with its media type and
// file name beside it (ID.meta); a GET streams it back with that
// Content-Type and a Content-Disposition naming the file; a DELETE
// removes it (204, also when there was none).
type Files struct {
	Dir     string        // where the files are
	Key     []byte        // HMAC key of the signed URLs
	TTL     time.Duration // how long a signed URL is valid
	MaxSize int64         // largest file accepted, in bytes
	// BaseURL, if set, starts the signed URLs (e.g. the public address
	// behind a proxy); else they are built from the sign request's Host.
	BaseURL string
	Now     func() time.Time
}

func (f *Files) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// filesPath is where the signed URLs point; the id follows.
const filesPath = "/api/attachments/files/"

// validID matches the attachment ids the backend accepts as file names.
var validID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

// signRequest is the body of POST /api/attachments/sign.
type signRequest struct {
	Op        string `json:"op"`
	ID        string `json:"id"`
	Filename  string `json:"filename"`
	MediaType string `json:"media_type"`
	Size      int64  `json:"size"`
}

// signature is the HMAC of what a signed URL allows.
func (f *Files) signature(method, id string, exp int64, mediaType, filename string) string {
	m := hmac.New(sha256.New, f.Key)
	// Each field is length-prefixed, so that no two different sets of
	// fields sign the same bytes.
	for _, s := range []string{method, id, strconv.FormatInt(exp, 10), mediaType, filename} {
		fmt.Fprintf(m, "%d:%s\n", len(s), s)
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// cleanMediaType returns the media type v normalized, or "" if it is not
// one.
func cleanMediaType(v string) string {
	if v == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return ""
	}
	return mime.FormatMediaType(mt, params)
}

// cleanFilename returns the base name of v with control characters
// dropped, at most 255 bytes, or "".
func cleanFilename(v string) string {
	v = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return -1
		}
		return r
	}, v)
	if v == "." || v == ".." || len(v) > 255 {
		return ""
	}
	return v
}

// ServeSign handles POST /api/attachments/sign.
func (f *Files) ServeSign(w http.ResponseWriter, r *http.Request) {
	var req signRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "not a sign request: "+err.Error(), nil)
		return
	}
	if !validID.MatchString(req.ID) {
		writeError(w, http.StatusBadRequest, "bad attachment id", nil)
		return
	}
	method := map[string]string{"upload": http.MethodPut, "download": http.MethodGet, "delete": http.MethodDelete}[req.Op]
	if method == "" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown op %q", req.Op), nil)
		return
	}
	if req.Size < 0 || req.Size > f.MaxSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("attachments are limited to %d bytes", f.MaxSize), nil)
		return
	}
	exp := f.now().Add(f.TTL).Unix()
	q := url.Values{"exp": {strconv.FormatInt(exp, 10)}}
	var mediaType, filename string
	var header http.Header
	if method == http.MethodPut {
		mediaType, filename = cleanMediaType(req.MediaType), cleanFilename(req.Filename)
		if mediaType != "" {
			q.Set("type", mediaType)
			header = http.Header{"Content-Type": {mediaType}}
		}
		if filename != "" {
			q.Set("name", filename)
		}
	}
	q.Set("sig", f.signature(method, req.ID, exp, mediaType, filename))
	base := strings.TrimRight(f.BaseURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"method": method, "url": base + filesPath + req.ID + "?" + q.Encode(), "headers": header,
	})
}

// fileMeta is what ID.meta holds.
type fileMeta struct {
	MediaType string `json:"media_type,omitempty"`
	Filename  string `json:"filename,omitempty"`
}

// check verifies the signed URL of r for its method; it answers and
// returns false if it is not valid.
func (f *Files) check(w http.ResponseWriter, r *http.Request) (id string, meta fileMeta, ok bool) {
	id = r.PathValue("id")
	if !validID.MatchString(id) {
		writeError(w, http.StatusBadRequest, "bad attachment id", nil)
		return "", meta, false
	}
	q := r.URL.Query()
	exp, err := strconv.ParseInt(q.Get("exp"), 10, 64)
	if err != nil {
		writeError(w, http.StatusForbidden, "invalid signature", nil)
		return "", meta, false
	}
	meta = fileMeta{MediaType: q.Get("type"), Filename: q.Get("name")}
	want := f.signature(r.Method, id, exp, meta.MediaType, meta.Filename)
	if !hmac.Equal([]byte(q.Get("sig")), []byte(want)) {
		writeError(w, http.StatusForbidden, "invalid signature", nil)
		return "", meta, false
	}
	if f.now().Unix() > exp {
		writeError(w, http.StatusForbidden, "signature expired", nil)
		return "", meta, false
	}
	return id, meta, true
}

// ServePut handles the signed PUT of a file.
func (f *Files) ServePut(w http.ResponseWriter, r *http.Request) {
	id, meta, ok := f.check(w, r)
	if !ok {
		return
	}
	if r.ContentLength > f.MaxSize {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("attachments are limited to %d bytes", f.MaxSize), nil)
		return
	}
	if err := os.MkdirAll(f.Dir, 0o755); err != nil {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	tmp, err := os.CreateTemp(f.Dir, ".upload-*")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = io.Copy(tmp, http.MaxBytesReader(w, r.Body, f.MaxSize))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("attachments are limited to %d bytes", f.MaxSize), nil)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "read body: "+err.Error(), nil)
		return
	}
	mb, _ := json.Marshal(meta)
	metaPath := filepath.Join(f.Dir, id+".meta")
	if err := writeFileAtomic(metaPath, mb); err != nil {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	if err := os.Rename(tmp.Name(), filepath.Join(f.Dir, id)); err != nil {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ServeGet handles the signed GET of a file.
func (f *Files) ServeGet(w http.ResponseWriter, r *http.Request) {
	id, _, ok := f.check(w, r)
	if !ok {
		return
	}
	file, err := os.Open(filepath.Join(f.Dir, id))
	if errors.Is(err, fs.ErrNotExist) {
		writeError(w, http.StatusNotFound, "no such attachment", nil)
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
		return
	}
	var meta fileMeta
	if b, err := os.ReadFile(filepath.Join(f.Dir, id+".meta")); err == nil {
		json.Unmarshal(b, &meta)
	}
	ct := meta.MediaType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if meta.Filename != "" {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": meta.Filename}))
	}
	http.ServeContent(w, r, "", st.ModTime(), file)
}

// ServeDelete handles the signed DELETE of a file.
func (f *Files) ServeDelete(w http.ResponseWriter, r *http.Request) {
	id, _, ok := f.check(w, r)
	if !ok {
		return
	}
	for _, p := range []string{filepath.Join(f.Dir, id), filepath.Join(f.Dir, id+".meta")} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusInternalServerError, "storage unavailable", nil)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".meta-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// routes adds the attachment routes to mux; sign is ServeSign, wrapped by
// the caller's authentication.
func (f *Files) routes(mux *http.ServeMux, sign http.HandlerFunc) {
	mux.HandleFunc("POST /api/attachments/sign", sign)
	mux.HandleFunc("PUT "+filesPath+"{id}", f.ServePut)
	mux.HandleFunc("GET "+filesPath+"{id}", f.ServeGet)
	mux.HandleFunc("DELETE "+filesPath+"{id}", f.ServeDelete)
}
