package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
)

// filesServer is a backend serving attachments from a new directory, with
// a clock the test moves, behind Auth.
type filesServer struct {
	*httptest.Server
	files *Files
	auth  *Auth
	now   time.Time
}

func newFilesServer(t *testing.T) *filesServer {
	t.Helper()
	fs := &filesServer{now: time.Unix(1_700_000_000, 0)}
	clock := func() time.Time { return fs.now }
	fs.auth = &Auth{Secret: []byte("secret of 32 bytes for the tests"), KeyID: "k1", Audience: "powersync-dev", TTL: time.Hour, Now: clock}
	fs.files = &Files{Dir: filepath.Join(t.TempDir(), "files"), Key: []byte("url key"), TTL: 10 * time.Minute, MaxSize: 1000, Now: clock}
	fs.Server = httptest.NewServer(handler(NewBackend(nil, todoschema.WithPhotos(), nil), fs.auth, "", fs.files))
	t.Cleanup(fs.Close)
	return fs
}

// token returns a valid "Token …" header value.
func (fs *filesServer) token(t *testing.T) string {
	tok, _, err := fs.auth.Mint(user1)
	if err != nil {
		t.Fatal(err)
	}
	return "Token " + tok
}

// sign posts a sign request and returns the status and the answer.
func (fs *filesServer) sign(t *testing.T, authz, body string) (int, attachments.SignedRequest) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fs.URL+"/api/attachments/sign", strings.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sr attachments.SignedRequest
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&sr); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, sr
}

// mustSign signs op on id and returns the request.
func (fs *filesServer) mustSign(t *testing.T, op, id string) attachments.SignedRequest {
	t.Helper()
	code, sr := fs.sign(t, fs.token(t), `{"op": "`+op+`", "id": "`+id+`", "filename": "cat.jpg", "media_type": "image/jpeg", "size": 3}`)
	if code != http.StatusOK {
		t.Fatalf("sign %s %s: status %d", op, id, code)
	}
	return sr
}

// send sends a signed request with body; it returns the status, the body
// and the response header.
func send(t *testing.T, method, u string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

const photoID = "0b8e6f2a-4c1d-4e9f-9a57-3f1f2d7c9e10"

// TestFilesRoundTrip uploads, downloads and deletes a file through signed
// URLs: the download has the uploaded bytes, media type and file name.
func TestFilesRoundTrip(t *testing.T) {
	fs := newFilesServer(t)
	put := fs.mustSign(t, "upload", photoID)
	if put.Method != http.MethodPut || put.Header.Get("Content-Type") != "image/jpeg" {
		t.Errorf("upload request %+v", put)
	}
	if code, body, _ := send(t, put.Method, put.URL, []byte("jpg")); code != http.StatusNoContent {
		t.Fatalf("PUT: %d %s", code, body)
	}
	get := fs.mustSign(t, "download", photoID)
	code, body, h := send(t, get.Method, get.URL, nil)
	if code != http.StatusOK || string(body) != "jpg" {
		t.Fatalf("GET: %d %q", code, body)
	}
	if h.Get("Content-Type") != "image/jpeg" || h.Get("Content-Disposition") != `attachment; filename=cat.jpg` {
		t.Errorf("GET headers %v", h)
	}
	del := fs.mustSign(t, "delete", photoID)
	if code, body, _ := send(t, del.Method, del.URL, nil); code != http.StatusNoContent {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	if code, _, _ := send(t, get.Method, get.URL, nil); code != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", code)
	}
	if code, _, _ := send(t, del.Method, del.URL, nil); code != http.StatusNoContent {
		t.Errorf("second DELETE: %d, want 204", code)
	}
	if left, _ := os.ReadDir(fs.files.Dir); len(left) != 0 {
		t.Errorf("files left: %v", left)
	}
}

// TestFilesSignAuth: signing needs the same token as uploads.
func TestFilesSignAuth(t *testing.T) {
	fs := newFilesServer(t)
	body := `{"op": "download", "id": "` + photoID + `"}`
	for _, authz := range []string{"", "Token nonsense", "Basic dXNlcjpwYXNz"} {
		if code, _ := fs.sign(t, authz, body); code != http.StatusUnauthorized {
			t.Errorf("sign with Authorization %q: %d, want 401", authz, code)
		}
	}
	other := &Auth{Secret: []byte("another secret of 32 bytes......"), KeyID: "k1", Audience: "powersync-dev", TTL: time.Hour, Now: fs.auth.Now}
	tok, _, _ := other.Mint(user1)
	if code, _ := fs.sign(t, "Token "+tok, body); code != http.StatusUnauthorized {
		t.Errorf("sign with a token of another key: %d, want 401", code)
	}
	if code, _ := fs.sign(t, fs.token(t), body); code != http.StatusOK {
		t.Errorf("sign with a valid token: %d, want 200", code)
	}
}

// TestFilesSignRefuses: bad ids, unknown ops, sizes over the limit and
// bodies that are not sign requests are refused before anything is signed.
func TestFilesSignRefuses(t *testing.T) {
	fs := newFilesServer(t)
	for _, tc := range []struct {
		body string
		code int
	}{
		{`{"op": "upload", "id": "../../etc/passwd"}`, http.StatusBadRequest},
		{`{"op": "upload", "id": ".hidden"}`, http.StatusBadRequest},
		{`{"op": "upload", "id": "a/b"}`, http.StatusBadRequest},
		{`{"op": "upload", "id": "x.meta"}`, http.StatusBadRequest},
		{`{"op": "upload", "id": ""}`, http.StatusBadRequest},
		{`{"op": "upload", "id": "` + strings.Repeat("a", 200) + `"}`, http.StatusBadRequest},
		{`{"op": "rename", "id": "a"}`, http.StatusBadRequest},
		{`{"op": "upload", "id": "a", "size": 1001}`, http.StatusRequestEntityTooLarge},
		{`not json`, http.StatusBadRequest},
	} {
		if code, _ := fs.sign(t, fs.token(t), tc.body); code != tc.code {
			t.Errorf("sign %s: %d, want %d", tc.body, code, tc.code)
		}
	}
}

// TestFilesSignature: a signed URL allows its method on its id until it
// expires, and nothing once any part of it is changed.
func TestFilesSignature(t *testing.T) {
	fs := newFilesServer(t)
	put := fs.mustSign(t, "upload", photoID)
	u, err := url.Parse(put.URL)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(u *url.URL, q url.Values)) string {
		c := *u
		q := c.Query()
		f(&c, q)
		c.RawQuery = q.Encode()
		return c.String()
	}
	tampered := map[string]string{
		"other id":       with(func(u *url.URL, q url.Values) { u.Path = filesPath + "1" + photoID[1:] }),
		"later expiry":   with(func(u *url.URL, q url.Values) { q.Set("exp", "99999999999") }),
		"other type":     with(func(u *url.URL, q url.Values) { q.Set("type", "text/html") }),
		"no type":        with(func(u *url.URL, q url.Values) { q.Del("type") }),
		"other name":     with(func(u *url.URL, q url.Values) { q.Set("name", "evil.html") }),
		"no signature":   with(func(u *url.URL, q url.Values) { q.Del("sig") }),
		"bad signature":  with(func(u *url.URL, q url.Values) { q.Set("sig", "AAAA"+q.Get("sig")[4:]) }),
		"no expiry":      with(func(u *url.URL, q url.Values) { q.Del("exp") }),
		"garbled expiry": with(func(u *url.URL, q url.Values) { q.Set("exp", "soon") }),
	}
	for name, tu := range tampered {
		if code, body, _ := send(t, http.MethodPut, tu, []byte("jpg")); code != http.StatusForbidden {
			t.Errorf("PUT with %s: %d %s, want 403", name, code, body)
		}
	}
	// The upload URL does not allow a download or a delete.
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		if code, _, _ := send(t, m, put.URL, nil); code != http.StatusForbidden {
			t.Errorf("%s with the upload URL: %d, want 403", m, code)
		}
	}
	// Valid up to its expiry, refused after.
	fs.now = fs.now.Add(fs.files.TTL)
	if code, body, _ := send(t, http.MethodPut, put.URL, []byte("jpg")); code != http.StatusNoContent {
		t.Errorf("PUT at the expiry: %d %s, want 204", code, body)
	}
	fs.now = fs.now.Add(time.Second)
	if code, body, _ := send(t, http.MethodPut, put.URL, []byte("new")); code != http.StatusForbidden || !strings.Contains(string(body), "expired") {
		t.Errorf("PUT after the expiry: %d %s, want 403 expired", code, body)
	}
	// A URL signed under another key is refused.
	fs.files.Key = []byte("rotated key")
	get := fs.mustSign(t, "download", photoID)
	fs.files.Key = []byte("url key")
	if code, _, _ := send(t, http.MethodGet, get.URL, nil); code != http.StatusForbidden {
		t.Errorf("GET signed with another key: %d, want 403", code)
	}
}

// TestFilesPathTraversal: ids that are not safe file names are refused by
// the file handlers even with a signature made for them.
func TestFilesPathTraversal(t *testing.T) {
	fs := newFilesServer(t)
	secret := filepath.Join(filepath.Dir(fs.files.Dir), "secret")
	if err := os.WriteFile(secret, []byte("do not serve"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"..%2Fsecret", "%2E%2E%2Fsecret", "..", ".meta", "x.meta", "a%00b"} {
		exp := fs.now.Add(time.Minute).Unix()
		raw, _ := url.PathUnescape(id)
		q := url.Values{"exp": {strconv.FormatInt(exp, 10)}, "sig": {fs.files.signature(http.MethodGet, raw, exp, "", "")}}
		code, body, _ := send(t, http.MethodGet, fs.URL+filesPath+id+"?"+q.Encode(), nil)
		if code == http.StatusOK || strings.Contains(string(body), "do not serve") {
			t.Errorf("GET %s: %d %s", id, code, body)
		}
	}
}

// TestFilesSizeLimit: a body over MaxSize is refused with 413, whether its
// length is declared or not, and leaves no file.
func TestFilesSizeLimit(t *testing.T) {
	fs := newFilesServer(t)
	put := fs.mustSign(t, "upload", photoID)
	big := bytes.Repeat([]byte("x"), int(fs.files.MaxSize)+1)
	if code, body, _ := send(t, http.MethodPut, put.URL, big); code != http.StatusRequestEntityTooLarge {
		t.Errorf("PUT of %d bytes: %d %s, want 413", len(big), code, body)
	}
	// Chunked: no Content-Length, so the limit is found while streaming.
	req, _ := http.NewRequest(http.MethodPut, put.URL, io.MultiReader(bytes.NewReader(big)))
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked PUT of %d bytes: %d, want 413", len(big), resp.StatusCode)
	}
	if left, _ := os.ReadDir(fs.files.Dir); len(left) != 0 {
		t.Errorf("files left after refused uploads: %v", left)
	}
	if code, body, _ := send(t, http.MethodPut, put.URL, big[:fs.files.MaxSize]); code != http.StatusNoContent {
		t.Errorf("PUT of exactly MaxSize: %d %s", code, body)
	}
}

// TestFilesHTTPStorage uses the backend as attachments.HTTPStorage does,
// with attachments.Signer: upload, download (with the media type the
// response reports), delete, and ErrNotFound for a missing file.
func TestFilesHTTPStorage(t *testing.T) {
	fs := newFilesServer(t)
	signer := &attachments.Signer{URL: fs.URL + "/api/attachments/sign", Authorize: func(ctx context.Context, req *http.Request) error {
		req.Header.Set("Authorization", fs.token(t))
		return nil
	}}
	st := &attachments.HTTPStorage{Sign: signer.Sign}
	ctx := t.Context()
	content := []byte("a small png")
	a := attachments.Attachment{ID: photoID, Filename: "dot.png", MediaType: "image/png", Size: int64(len(content))}
	if err := st.Upload(ctx, a, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := st.Download(ctx, attachments.Attachment{ID: photoID}, &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), content) {
		t.Errorf("downloaded %q, want %q", got.Bytes(), content)
	}
	if err := st.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.Download(ctx, a, io.Discard); !errors.Is(err, attachments.ErrNotFound) {
		t.Errorf("download after delete: %v, want ErrNotFound", err)
	}
}
