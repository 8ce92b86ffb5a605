package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"

	"github.com/gopowersync/powersync/attachments"
)

// DefaultPartSize is the part size of uploads when Storage.PartSize is 0:
// files up to it go in one request, larger files in parts of it, and each
// upload in progress holds at most one part in memory.
const DefaultPartSize = 8 << 20

// hashKey is the user metadata key of the content's hex SHA-256.
const hashKey = "Sha256"

// Storage keeps attachments in one bucket of an S3-compatible service.
type Storage struct {
	// Client is the S3 client (required).
	Client *minio.Client
	// Bucket is the bucket's name (required); it must exist.
	Bucket string
	// Prefix is put before each attachment id to name its object, e.g.
	// "attachments/".
	Prefix string
	// PartSize is the size of the parts of large uploads; 0 means
	// DefaultPartSize. S3 wants at least 5 MiB.
	PartSize uint64
}

// New returns a Storage for bucket, naming objects prefix + id.
func New(client *minio.Client, bucket, prefix string) *Storage {
	return &Storage{Client: client, Bucket: bucket, Prefix: prefix}
}

func (s *Storage) key(a attachments.Attachment) string { return s.Prefix + a.ID }

// Upload implements attachments.RemoteStorage.
func (s *Storage) Upload(ctx context.Context, a attachments.Attachment, r io.Reader) error {
	part := s.PartSize
	if part == 0 {
		part = DefaultPartSize
	}
	// The payload goes unsigned, as minio-go sends it over TLS: over plain
	// HTTP it would otherwise use aws-chunked signing, which not every
	// S3-compatible server decodes.
	opts := minio.PutObjectOptions{ContentType: a.MediaType, PartSize: part, DisableContentSha256: true}
	if a.Hash != "" {
		opts.UserMetadata = map[string]string{hashKey: a.Hash}
	}
	if opts.ContentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	if a.Size == 0 {
		r = bytes.NewReader(nil)
	}
	if _, err := s.Client.PutObject(ctx, s.Bucket, s.key(a), r, a.Size, opts); err != nil {
		return fmt.Errorf("s3: upload %s: %w", a.ID, err)
	}
	return nil
}

// Download implements attachments.RemoteStorage.
func (s *Storage) Download(ctx context.Context, a attachments.Attachment, w io.Writer) error {
	obj, err := s.Client.GetObject(ctx, s.Bucket, s.key(a), minio.GetObjectOptions{})
	if err != nil {
		return s.wrap("download", a, err)
	}
	defer obj.Close()
	if _, err := io.Copy(w, obj); err != nil {
		return s.wrap("download", a, err)
	}
	return nil
}

// Delete implements attachments.RemoteStorage.
func (s *Storage) Delete(ctx context.Context, a attachments.Attachment) error {
	err := s.Client.RemoveObject(ctx, s.Bucket, s.key(a), minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return s.wrap("delete", a, err)
	}
	return nil
}

// RemoteHash implements attachments.HashStorage: the SHA-256 stored with
// the object by Upload, or "" for an object stored otherwise.
func (s *Storage) RemoteHash(ctx context.Context, a attachments.Attachment) (string, error) {
	info, err := s.Client.StatObject(ctx, s.Bucket, s.key(a), minio.StatObjectOptions{})
	if err != nil {
		return "", s.wrap("stat", a, err)
	}
	return info.UserMetadata[hashKey], nil
}

func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey"
}

// wrap names the operation and makes a missing object match
// attachments.ErrNotFound.
func (s *Storage) wrap(op string, a attachments.Attachment, err error) error {
	if notFound(err) {
		return fmt.Errorf("s3: %s %s: %w (%w)", op, a.ID, attachments.ErrNotFound, err)
	}
	return fmt.Errorf("s3: %s %s: %w", op, a.ID, err)
}

var _ attachments.HashStorage = (*Storage)(nil)
