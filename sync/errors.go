package sync

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gopowersync/powersync/internal/synccore"
)

// ErrClosed is returned by the methods of a [Syncer] after [Syncer.Close].
var ErrClosed = errors.New("powersync: syncer closed")

// ErrNoCredentials is the download error recorded when the [Connector]'s
// FetchCredentials returns no credentials and no error (the user is signed
// out). The syncer keeps retrying after the retry delay.
var ErrNoCredentials = errors.New("powersync: connector returned no credentials")

// ErrTokenExpired is the download error recorded when the service ends the
// sync stream because the token expired (it sends token_expires_in 0; the
// 1.25 service does so for about a minute before it answers 401). The
// syncer fetches new credentials and reconnects after the retry delay; a
// connector that keeps returning expired tokens keeps this error in the
// status.
var ErrTokenExpired = errors.New("powersync: the service reports the token expired")

// ErrIncompleteUpload is the upload error recorded when the connector's
// UploadData returned without completing the oldest queued entry. The upload
// loop waits for the retry delay before calling UploadData again, so a
// connector that forgets to call Complete does not cause a hot loop.
var ErrIncompleteUpload = errors.New("powersync: UploadData returned without completing the oldest upload queue entry")

// ErrProtocol is wrapped by the download error when the service sent
// something the client cannot accept: a sync line that is not valid JSON or
// BSON, a line that breaks the protocol's rules (a checkpoint_complete
// without a checkpoint, op ids that do not increase, row data that is not
// JSON), or a frame of the stream that cannot be read (a BSON length out
// of range, a line over [WithMaxLineSize]). The line's transaction is
// rolled back, so the database keeps what it had; the syncer closes the
// connection and reconnects after the retry delay.
var ErrProtocol = synccore.ErrProtocol

// HTTPError is the error for a non-success response from the PowerSync
// Service (or, for [HTTPConnector], from the app's backend). The request's
// token is never part of it.
type HTTPError struct {
	// Op names the request, e.g. "POST /sync/stream".
	Op string
	// StatusCode is the HTTP status code.
	StatusCode int
	// Code is the service's error code such as "PSYNC_S2106", when the
	// response carried one.
	Code string
	// Message is the service's description or a prefix of the response body.
	Message string
}

// Error implements error.
func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("powersync: %s: HTTP %d %s", e.Op, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Unauthorized reports whether the response said the credentials were
// rejected (HTTP 401).
func (e *HTTPError) Unauthorized() bool { return e.StatusCode == http.StatusUnauthorized }

// Is makes errors.Is(err, [ErrTokenExpired]) true for the service's
// "JWT has expired" refusal (401 with PSYNC_S2103), so that an expired
// token is one error whichever way the service reports it.
func (e *HTTPError) Is(target error) bool {
	return target == ErrTokenExpired && e.StatusCode == http.StatusUnauthorized && e.Code == "PSYNC_S2103"
}

// PermanentError marks an upload failure that retrying can never fix, for
// example a backend validation error. Return it (possibly wrapped) from
// [Connector.UploadData]: the upload loop then sets the named entries aside in
// the rejected-entries table (see [RejectedCrud]) and goes on with the rest of
// the queue instead of retrying forever. Create one with [Permanent].
type PermanentError struct {
	// Entries are the upload queue entries to set aside. When empty, the
	// oldest entry of the queue is set aside.
	Entries []CrudEntry
	// Err is the backend's reason; it is stored with the entries.
	Err error
}

// Permanent returns a [*PermanentError] for err naming the entries to set aside.
func Permanent(err error, entries ...CrudEntry) error {
	return &PermanentError{Entries: entries, Err: err}
}

// Error implements error.
func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "powersync: permanent upload error"
	}
	return "powersync: permanent upload error: " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *PermanentError) Unwrap() error { return e.Err }
