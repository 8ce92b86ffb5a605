package attachments_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gopowersync/powersync/attachments"
)

// signingBackend plays an app backend that signs URLs (POST /sign) for its
// file endpoints (/files/{id}), which check the signature.
type signingBackend struct {
	srv    *httptest.Server
	secret []byte
	mu     sync.Mutex // guards files
	files  map[string][]byte
	types  map[string]string
	names  map[string]string // file names given when signing uploads
}

func newSigningBackend(t *testing.T) *signingBackend {
	b := &signingBackend{secret: []byte("s3cret"), files: map[string][]byte{}, types: map[string]string{}, names: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /sign", b.sign)
	mux.HandleFunc("/files/{id}", b.file)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *signingBackend) mac(method, id string) string {
	m := hmac.New(sha256.New, b.secret)
	fmt.Fprintf(m, "%s %s", method, id)
	return hex.EncodeToString(m.Sum(nil))
}

func (b *signingBackend) sign(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer app-session" {
		http.Error(w, "who are you", http.StatusUnauthorized)
		return
	}
	var req struct{ Op, ID, Filename string }
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	if req.Op == "upload" {
		b.mu.Lock()
		b.names[req.ID] = req.Filename
		b.mu.Unlock()
	}
	method := map[string]string{"upload": "PUT", "download": "GET", "delete": "DELETE"}[req.Op]
	json.NewEncoder(w).Encode(attachments.SignedRequest{
		Method: method,
		URL:    b.srv.URL + "/files/" + req.ID + "?sig=" + b.mac(method, req.ID),
	})
}

func (b *signingBackend) file(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !hmac.Equal([]byte(r.URL.Query().Get("sig")), []byte(b.mac(r.Method, id))) {
		http.Error(w, "bad signature", http.StatusForbidden)
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch r.Method {
	case "PUT":
		data, err := io.ReadAll(r.Body)
		if err != nil {
			return
		}
		b.files[id], b.types[id] = data, r.Header.Get("Content-Type")
	case "GET":
		data, ok := b.files[id]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", b.types[id])
		if b.types[id] == "" {
			w.Header().Set("Content-Type", "application/octet-stream")
		}
		if name := b.names[id]; name != "" {
			w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		}
		w.Write(data)
	case "DELETE":
		if _, ok := b.files[id]; !ok {
			http.NotFound(w, r)
			return
		}
		delete(b.files, id)
	}
}

func (b *signingBackend) storage() *attachments.HTTPStorage {
	signer := &attachments.Signer{URL: b.srv.URL + "/sign", Authorize: func(ctx context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer app-session")
		return nil
	}}
	return &attachments.HTTPStorage{Sign: signer.Sign}
}

func TestHTTPStorage(t *testing.T) {
	b := newSigningBackend(t)
	s := b.storage()
	ctx := t.Context()
	a := attachments.Attachment{ID: "a1", Size: 5, MediaType: "text/plain"}
	var buf bytes.Buffer
	if err := s.Download(ctx, a, &buf); !errors.Is(err, attachments.ErrNotFound) {
		t.Fatalf("download before upload: %v", err)
	}
	if err := s.Upload(ctx, a, strings.NewReader("hello")); err != nil {
		t.Fatal(err)
	}
	if b.types["a1"] != "text/plain" {
		t.Fatalf("content type %q", b.types["a1"])
	}
	if err := s.Download(ctx, a, &buf); err != nil || buf.String() != "hello" {
		t.Fatalf("download: %q, %v", buf.String(), err)
	}
	if err := s.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	// A request the storage refuses is an *HTTPError.
	bad := &attachments.HTTPStorage{Sign: func(ctx context.Context, op attachments.Op, a attachments.Attachment) (*attachments.SignedRequest, error) {
		return &attachments.SignedRequest{URL: b.srv.URL + "/files/" + a.ID + "?sig=forged"}, nil
	}}
	var he *attachments.HTTPError
	if err := bad.Upload(ctx, a, strings.NewReader("hello")); !errors.As(err, &he) || he.StatusCode != http.StatusForbidden {
		t.Fatalf("forged: %v", err)
	}
	// A signing endpoint that refuses.
	nosession := &attachments.HTTPStorage{Sign: (&attachments.Signer{URL: b.srv.URL + "/sign"}).Sign}
	if err := nosession.Upload(ctx, a, strings.NewReader("hello")); !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthorized: %v", err)
	}
}

func TestQueueOverHTTPStorage(t *testing.T) {
	b := newSigningBackend(t)
	opts := fastOptions(b.storage())
	up := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	down := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	qu := openQueue(t, up, opts)
	qd := openQueue(t, down, opts)
	content := bytes.Repeat([]byte("0123456789"), 100_000)
	a, err := qu.Save(t.Context(), bytes.NewReader(content), attachments.File{Filename: "big.bin"}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, qu, a.ID, attachments.Synced)
	if _, err := down.Exec(`INSERT INTO todos (id, photo_id) VALUES ('t1', ?)`, a.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, qd, a.ID, attachments.Synced)
	if !bytes.Equal(readLocal(t, qd, a.ID), content) {
		t.Fatal("content differs")
	}
}

// TestDownloadRecordsMediaType: a client that downloads an attachment it
// knows only by id records the media type and file name the response
// reports; application/octet-stream records nothing, and a value the row
// already has is kept.
func TestDownloadRecordsMediaType(t *testing.T) {
	b := newSigningBackend(t)
	opts := fastOptions(b.storage())
	up := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	down := openDB(t, filepath.Join(t.TempDir(), "app.db"))
	qu := openQueue(t, up, opts)
	qd := openQueue(t, down, opts)
	ctx := t.Context()
	png, err := qu.Save(ctx, strings.NewReader("not really a png"), attachments.File{Filename: "dot.png", MediaType: "image/png"}, linkTodo("t1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := qu.Save(ctx, strings.NewReader("some bytes"), attachments.File{Filename: "blob"}, linkTodo("t2"))
	if err != nil {
		t.Fatal(err)
	}
	waitState(t, qu, png.ID, attachments.Synced)
	waitState(t, qu, raw.ID, attachments.Synced)
	if _, err := down.Exec(`INSERT INTO todos (id, photo_id) VALUES ('t1', ?), ('t2', ?)`, png.ID, raw.ID); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, qd, png.ID, attachments.Synced)
	if got.MediaType != "image/png" || got.Filename != "dot.png" {
		t.Errorf("downloaded attachment: media type %q, file name %q; want image/png, dot.png", got.MediaType, got.Filename)
	}
	if string(readLocal(t, qd, png.ID)) != "not really a png" {
		t.Error("content differs")
	}
	got = waitState(t, qd, raw.ID, attachments.Synced)
	if got.MediaType != "" || got.Filename != "blob" {
		t.Errorf("octet-stream attachment: media type %q, file name %q; want none, blob", got.MediaType, got.Filename)
	}
	// The uploader's own row keeps what it had.
	if mine, _, _ := qu.Get(ctx, png.ID); mine.MediaType != "image/png" || mine.Filename != "dot.png" {
		t.Errorf("uploader's row: %+v", mine)
	}
}
