package attachments

import "context"

// SetSaveHook replaces the hook called between the steps of Save.
func SetSaveHook(f func(ctx context.Context, step string) error) { saveHook = f }

// SetUploadHook replaces the hook called after an upload, before its row
// is updated.
func SetUploadHook(f func(ctx context.Context, a Attachment) error) { uploadHook = f }
