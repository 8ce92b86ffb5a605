package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/schema"
)

// Photos: with -photos, todos get a photo_id column and an attachments
// queue keeps the photos in step between the clients (package
// attachments). The storage is a directory the clients share, standing in
// for a bucket, or a backend that signs upload and download URLs.
//
//	photo ID FILE   attach FILE to a todo; it is uploaded in the background
//	photos          the photos and their states (another client sees them
//	                arrive: queued_download, then synced)
//
// The service and the backend must sync and accept todos.photo_id; the
// embedded service and pstest do, and so do examples/backend (which, with
// -attachments-dir, is also the URL storage) and the e2e tests' Postgres
// tables and sync config.

// photoHelp is added to the command summary when photos are on.
const photoHelp = `
  photo ID FILE          attach FILE to a todo (uploaded in the background)
  photos                 the photos and their states`

// photoSchema returns the todo schema with todos.photo_id
// (todoschema.WithPhotos) and the attachments table.
func photoSchema() *schema.Schema {
	return schema.New(append(todoschema.WithPhotos().Tables, attachments.Table(""))...)
}

// photoStorage is the remote storage -photos names: a backend URL
// (http:// or https://) whose POST /api/attachments/sign signs requests
// (examples/backend with -attachments-dir), sent with the app's token by
// authorize, or a directory.
func photoStorage(where string, authorize func(context.Context, *http.Request) error) attachments.RemoteStorage {
	if strings.HasPrefix(where, "http://") || strings.HasPrefix(where, "https://") {
		signer := &attachments.Signer{URL: strings.TrimRight(where, "/") + "/api/attachments/sign", Authorize: authorize}
		return &attachments.HTTPStorage{Sign: signer.Sign}
	}
	return attachments.DirRemote{Dir: where}
}

// openPhotos starts the attachments queue of a.db.
func (a *app) openPhotos(ctx context.Context) (*attachments.Queue, error) {
	return attachments.Open(ctx, a.db, attachments.Options{
		Remote:        photoStorage(a.cfg.photos, a.svc.authorize),
		Watch:         `SELECT photo_id FROM todos WHERE photo_id IS NOT NULL`,
		RetryDelay:    time.Second,
		MaxRetryDelay: 30 * time.Second,
	})
}

// photo attaches the file at path to the todo prefix names.
func (a *app) photo(ctx context.Context, prefix, path string) error {
	if a.photos == nil {
		return errors.New("photos are off: start with -photos DIR")
	}
	id, err := a.find(ctx, "todos", prefix)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("no todo %q", prefix)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	a.markLocal(id)
	name := filepath.Base(path)
	att, err := a.photos.Save(ctx, f, attachments.File{Filename: name, MediaType: mime.TypeByExtension(filepath.Ext(name))},
		func(tx *sql.Tx, att attachments.Attachment) error {
			_, err := tx.ExecContext(ctx, `UPDATE todos SET photo_id = ? WHERE id = ?`, att.ID, id)
			return err
		})
	if err != nil {
		return err
	}
	a.con.printf("photo %s (%s) attached to %s, uploading", short(att.ID), formatSize(att.Size), short(id))
	return nil
}

// listPhotos prints the photos of the todos and their states.
func (a *app) listPhotos(ctx context.Context) error {
	if a.photos == nil {
		return errors.New("photos are off: start with -photos DIR")
	}
	rows, err := a.db.QueryContext(ctx, `SELECT id, description, photo_id FROM todos WHERE photo_id IS NOT NULL ORDER BY description`)
	if err != nil {
		return err
	}
	type todoPhoto struct{ todo, desc, photo string }
	var list []todoPhoto
	for rows.Next() {
		var p todoPhoto
		if err := rows.Scan(&p.todo, &p.desc, &p.photo); err != nil {
			rows.Close()
			return err
		}
		list = append(list, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(list) == 0 {
		a.con.printf("no photos")
	}
	progress := map[string]attachments.Transfer{}
	for _, t := range a.photos.Transfers() {
		progress[t.ID] = t
	}
	for _, p := range list {
		att, found, err := a.photos.Get(ctx, p.photo)
		if err != nil {
			return err
		}
		state := "not known yet"
		if found {
			state = fmt.Sprintf("%s, %s", att.State, formatSize(att.Size))
			if t, ok := progress[att.ID]; ok {
				state += fmt.Sprintf(", %s %s so far", t.Op, formatSize(t.Bytes))
			}
			if att.LastError != "" && att.State != attachments.Synced {
				state += fmt.Sprintf(", %d failed attempts: %s", att.Attempts, att.LastError)
			}
		}
		a.con.printf("  %s %q: photo %s %s", short(p.todo), p.desc, short(p.photo), state)
	}
	return nil
}

// waitPhotos waits until no photo is queued: uploads done, and the photos
// of the todos synced so far downloaded.
func (a *app) waitPhotos(ctx context.Context) error {
	if err := a.photos.WaitIdle(ctx); err != nil {
		return err
	}
	a.con.printf("photos: none queued")
	return nil
}

func formatSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/1024)
}
