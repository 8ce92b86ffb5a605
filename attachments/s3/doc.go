// Package s3 stores PowerSync attachments in an S3-compatible bucket: AWS
// S3, MinIO, Cloudflare R2, Supabase Storage's S3 API, Backblaze B2,
// Wasabi, Google Cloud Storage's XML API and the like. A [*Storage] is an
// attachments.RemoteStorage and an attachments.HashStorage:
//
//	client, err := minio.New("s3.amazonaws.com", &minio.Options{
//		Creds:  credentials.NewStaticV4(keyID, secret, ""),
//		Secure: true,
//		Region: "eu-west-1",
//	})
//	...
//	q, err := attachments.Open(ctx, db, attachments.Options{
//		Remote: s3.New(client, "my-bucket", "attachments/"),
//		Watch:  `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
//	})
//
// The object of an attachment is named by the prefix and the attachment's
// id. Its content type is the attachment's media type, and its SHA-256 is
// stored in the object's user metadata (x-amz-meta-sha256), so that an
// upload of content the bucket already holds is skipped (see
// attachments.HashStorage).
//
// Storage credentials on a device are a risk: a device holding them can
// read and overwrite every file of the bucket. Give devices keys limited to
// the prefix, or keep the keys on the backend and use
// attachments.HTTPStorage with URLs the backend signs.
//
// # Why minio-go
//
// The package is built on github.com/minio/minio-go/v7 rather than the AWS
// SDK (github.com/aws/aws-sdk-go-v2/service/s3):
//
//   - it is one module with few dependencies, where the AWS SDK brings a
//     dozen modules (config, credentials, smithy-go, internal packages);
//     this nested module keeps even those away from users of the core
//     packages;
//   - it is written for S3-compatible servers as much as for AWS: path-style
//     or virtual-host buckets by option, and no request checksum defaults
//     that some S3-compatible services refuse, which the AWS SDK has had
//     to be configured around since its 2025 integrity-protection change;
//   - PutObject streams an io.Reader of known size in one request up to the
//     part size and in parts beyond, with one part buffer per upload, so
//     memory is bounded by [Storage.PartSize] times the queue's
//     concurrency.
//
// Nothing of minio-go's API leaks beyond New's argument: a program already
// on the AWS SDK can write its own attachments.RemoteStorage in a few dozen
// lines.
package s3
