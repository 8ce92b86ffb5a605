package attachments

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
)

// HTTPStorage is a [RemoteStorage] for files behind URLs that the app's
// backend signs: pre-signed URLs of S3, Google Cloud Storage or Azure
// Blob Storage, or the backend's own file endpoints. The device holds no
// storage credentials; it asks Sign for one request per operation and
// sends it with net/http, streaming the file in the body.
//
// A download reports the response's media type and file name
// (Content-Type, Content-Disposition) to the Queue, which records them for
// an attachment that lacks them (see [FileInfoWriter]).
//
// A response outside 2xx fails with an [*HTTPError]; 404 on a download
// wraps [ErrNotFound] (the file may not be uploaded yet: the download is
// retried), and 404 on a delete is success.
type HTTPStorage struct {
	// Sign returns the request for op on a (required). Its Method may be
	// empty: PUT for uploads, GET for downloads, DELETE for deletes. For a
	// delete, Sign may return a nil request with a nil error when the
	// backend deleted the file itself.
	Sign func(ctx context.Context, op Op, a Attachment) (*SignedRequest, error)
	// Client sends the requests; nil means http.DefaultClient. Bound the
	// time of a transfer with the context rather than Client.Timeout,
	// which also cuts off large files.
	Client *http.Client
}

// SignedRequest is a request prepared by the app's backend.
type SignedRequest struct {
	// Method is the HTTP method; empty means the operation's own (PUT to
	// upload, GET to download, DELETE to delete).
	Method string `json:"method,omitempty"`
	// URL is the signed URL the request goes to.
	URL string `json:"url"`
	// Header holds headers to send with the request.
	Header http.Header `json:"headers,omitempty"`
}

// HTTPError is the error of a request answered outside 2xx.
type HTTPError struct {
	// Op is the operation and ID the attachment it was for.
	Op Op
	ID string
	// StatusCode is the response's HTTP status.
	StatusCode int
	// Body is the start of the response body.
	Body string
	err  error // ErrNotFound for 404
}

// Error names the operation, the attachment and the response.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("attachments: %s %s: HTTP %d: %s", e.Op, e.ID, e.StatusCode, e.Body)
}

// Unwrap returns ErrNotFound for a 404 response.
func (e *HTTPError) Unwrap() error { return e.err }

func (s *HTTPStorage) client() *http.Client {
	if s.Client != nil {
		return s.Client
	}
	return http.DefaultClient
}

func (s *HTTPStorage) do(ctx context.Context, op Op, a Attachment, body io.Reader) (*http.Response, error) {
	if s.Sign == nil {
		return nil, errors.New("attachments: HTTPStorage.Sign is nil")
	}
	sr, err := s.Sign(ctx, op, a)
	if err != nil {
		return nil, fmt.Errorf("attachments: sign %s %s: %w", op, a.ID, err)
	}
	if sr == nil {
		if op == OpDelete {
			return nil, nil
		}
		return nil, fmt.Errorf("attachments: sign %s %s: no request", op, a.ID)
	}
	method := sr.Method
	if method == "" {
		method = [...]string{OpUpload: http.MethodPut, OpDownload: http.MethodGet, OpDelete: http.MethodDelete}[op]
	}
	req, err := http.NewRequestWithContext(ctx, method, sr.URL, body)
	if err != nil {
		return nil, fmt.Errorf("attachments: %s %s: %w", op, a.ID, err)
	}
	for k, vs := range sr.Header {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	if op == OpUpload {
		req.ContentLength = a.Size
		if a.Size == 0 {
			req.Body = http.NoBody
		}
		if req.Header.Get("Content-Type") == "" && a.MediaType != "" {
			req.Header.Set("Content-Type", a.MediaType)
		}
	}
	resp, err := s.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("attachments: %s %s: %w", op, a.ID, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		e := &HTTPError{Op: op, ID: a.ID, StatusCode: resp.StatusCode, Body: string(bytes.TrimSpace(b))}
		if resp.StatusCode == http.StatusNotFound {
			e.err = ErrNotFound
		}
		return nil, e
	}
	return resp, nil
}

// Upload implements [RemoteStorage].
func (s *HTTPStorage) Upload(ctx context.Context, a Attachment, r io.Reader) error {
	resp, err := s.do(ctx, OpUpload, a, io.NopCloser(r))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// Download implements [RemoteStorage].
func (s *HTTPStorage) Download(ctx context.Context, a Attachment, w io.Writer) error {
	resp, err := s.do(ctx, OpDownload, a, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if fw, ok := w.(FileInfoWriter); ok {
		fw.SetFileInfo(responseFileInfo(resp.Header))
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("attachments: download %s: %w", a.ID, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("attachments: download %s: %d of %d bytes", a.ID, n, resp.ContentLength)
	}
	return nil
}

// responseFileInfo returns the media type of a download's Content-Type
// (none for application/octet-stream, which says nothing) and the file
// name of its Content-Disposition, reduced to its base name.
func responseFileInfo(h http.Header) (mediaType, filename string) {
	if mt, params, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt != "application/octet-stream" {
		mediaType = mime.FormatMediaType(mt, params)
	}
	if _, params, err := mime.ParseMediaType(h.Get("Content-Disposition")); err == nil {
		if name := path.Base(strings.ReplaceAll(params["filename"], `\`, "/")); name != "." && name != "/" && name != ".." {
			filename = name
		}
	}
	return mediaType, filename
}

// Delete implements [RemoteStorage].
func (s *HTTPStorage) Delete(ctx context.Context, a Attachment) error {
	resp, err := s.do(ctx, OpDelete, a, nil)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil || resp == nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.Body.Close()
}

// Signer asks the app's backend for signed requests, for
// [HTTPStorage.Sign]. It posts
//
//	{"op": "upload", "id": "…", "filename": "…", "media_type": "…", "size": 123}
//
// to URL and expects a [SignedRequest] as JSON:
//
//	{"method": "PUT", "url": "https://…", "headers": {"Content-Type": ["image/jpeg"]}}
//
// An answer of 204 No Content to a delete means the backend deleted the
// file itself.
type Signer struct {
	// URL is the backend's signing endpoint (required).
	URL string
	// Client sends the requests; nil means http.DefaultClient.
	Client *http.Client
	// Authorize, if set, prepares each request, e.g. by adding the app's
	// session token.
	Authorize func(ctx context.Context, req *http.Request) error
}

// signRequest is the body Signer posts.
type signRequest struct {
	Op        string `json:"op"`
	ID        string `json:"id"`
	Filename  string `json:"filename,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// Sign asks the backend for the request of op on a.
func (s *Signer) Sign(ctx context.Context, op Op, a Attachment) (*SignedRequest, error) {
	body, err := json.Marshal(signRequest{Op: op.String(), ID: a.ID, Filename: a.Filename, MediaType: a.MediaType, Size: a.Size})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if s.Authorize != nil {
		if err := s.Authorize(ctx, req); err != nil {
			return nil, err
		}
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent && op == OpDelete {
		return nil, nil
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &HTTPError{Op: op, ID: a.ID, StatusCode: resp.StatusCode, Body: "signing: " + string(bytes.TrimSpace(b))}
	}
	var sr SignedRequest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&sr); err != nil {
		return nil, fmt.Errorf("signing answer: %w", err)
	}
	if sr.URL == "" {
		return nil, errors.New("signing answer has no url")
	}
	return &sr, nil
}

var _ RemoteStorage = (*HTTPStorage)(nil)
