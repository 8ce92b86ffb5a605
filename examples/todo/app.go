package main

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/gopowersync/powersync/attachments"
	"github.com/gopowersync/powersync/driver"
	"github.com/gopowersync/powersync/examples/internal/todoschema"
	"github.com/gopowersync/powersync/hooks"
	pssync "github.com/gopowersync/powersync/sync"
	"github.com/gopowersync/powersync/sync/pstest"
)

// config is the app's command line.
type config struct {
	dbPath     string        // local database file; "" = a temporary one
	endpoint   string        // PowerSync Service URL; with backend: a real service
	token      string        // a fixed token for the real service
	tokenCmd   string        // a shell command printing a token, run for every new token
	backend    string        // backend base URL (uploads, tokens)
	user       string        // user id
	once       bool          // run stdin's commands after the first sync, wait for the uploads, exit
	archived   int           // embedded service: archived todos to seed
	retryDelay time.Duration // before reconnecting or retrying an upload
	photos     string        // photo storage (photos.go): a shared directory or a signing backend's URL; "" = no photos
}

// embedded reports whether the app runs its own in-process service.
func (c config) embedded() bool { return c.endpoint == "" && c.backend == "" }

// app is one run of the todo app.
type app struct {
	cfg    config
	db     *sql.DB
	svc    *service
	syncer *pssync.Syncer
	con    *console
	photos *attachments.Queue // nil without -photos

	mu    sync.Mutex      // guards local
	local map[string]bool // ids written by commands; the live view skips their next change
}

// run runs the app: it starts or connects to the service, syncs, and runs
// the commands read from in until "quit" or the end of in, printing to out
// and errOut.
func run(ctx context.Context, cfg config, in io.Reader, out, errOut io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &app{cfg: cfg, con: &console{w: out, errw: errOut, tty: isTerminal(out)}, local: map[string]bool{}}

	var err error
	if cfg.embedded() {
		a.svc, err = startEmbedded(cfg.user, cfg.archived)
	} else {
		a.svc, err = connectRemote(cfg)
	}
	if err != nil {
		return err
	}
	defer a.svc.close()

	path := cfg.dbPath
	if path == "" {
		dir, err := os.MkdirTemp("", "powersync-todo")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		path = filepath.Join(dir, "todo.db")
	}
	sch := todoschema.Schema()
	if cfg.photos != "" {
		sch = photoSchema()
	}
	c, err := driver.NewConnector(path, driver.WithSchema(sch))
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	a.db = sql.OpenDB(c)
	defer a.db.Close()
	if err := a.db.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}

	opts := []pssync.Option{}
	if cfg.retryDelay > 0 {
		opts = append(opts, pssync.WithRetryDelay(cfg.retryDelay))
	}
	if a.syncer, err = pssync.New(a.db, a.svc.connector, opts...); err != nil {
		return err
	}
	defer a.syncer.Close()
	if cfg.photos != "" {
		if a.photos, err = a.openPhotos(ctx); err != nil {
			return err
		}
		defer a.photos.Close()
	}
	if !a.svc.uploads {
		a.con.errorf("no -backend: local changes stay in the upload queue")
	}
	a.con.printf("syncing %s with %s", path, a.svc.where)
	if err := a.syncer.Connect(ctx); err != nil {
		return err
	}

	// Background work: the sync status and, once synced, live changes. It
	// stops when run returns.
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	synced := make(chan struct{})
	wg.Go(func() { a.showStatus(ctx, synced) })
	if !cfg.once {
		wg.Go(func() {
			select {
			case <-synced:
				a.showLive(ctx)
			case <-ctx.Done():
			}
		})
	}

	if cfg.once {
		return a.runOnce(ctx, in, synced)
	}
	return a.interactive(ctx, in)
}

// lines sends the lines of in to the returned channel until in ends or
// ctx ends. A read that blocks cannot be interrupted; the goroutine then
// ends when the read returns (for standard input, at the latest when the
// process exits).
func lines(ctx context.Context, in io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			select {
			case ch <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// interactive runs commands as they are typed, while syncing.
func (a *app) interactive(ctx context.Context, in io.Reader) error {
	if a.con.tty || isTerminal(in) {
		a.con.printf(`type "help" for the commands`)
	}
	input := lines(ctx, in)
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-input:
			if !ok {
				return nil
			}
			quit, err := a.command(ctx, line)
			if err != nil {
				a.con.errorf("error: %v", err)
			}
			if quit {
				return nil
			}
		}
	}
}

// runOnce waits for the first sync, runs every command of in, waits until
// the changes are uploaded and synced back, lists the data and returns.
// The first failing command ends it with its error.
func (a *app) runOnce(ctx context.Context, in io.Reader, synced <-chan struct{}) error {
	select {
	case <-synced:
	case <-ctx.Done():
		return ctx.Err()
	}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		quit, err := a.command(ctx, sc.Text())
		if err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSpace(sc.Text()), err)
		}
		if quit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if err := a.wait(ctx); err != nil {
		return err
	}
	return a.list(ctx, "")
}

// help is the command summary.
const help = `commands:
  ls [LIST]              the lists and their todos (all todos of LIST)
  add LIST TEXT          add a todo to LIST (created if missing)
  done ID | undo ID      complete a todo, or reopen it (ID: its first characters,
                         or the todo's whole text)
  rm ID                  delete a todo, or a list with its todos (ID or name)
  status                 the sync status and the upload queue
  wait                   wait until local changes are uploaded and synced back
  server ls              the embedded service's data
  server add LIST TEXT   add a todo on the embedded service, as another user would
  quit`

// command runs one command line. quit reports whether the app should end.
func (a *app) command(ctx context.Context, line string) (quit bool, err error) {
	f := strings.Fields(line)
	if len(f) == 0 || strings.HasPrefix(f[0], "#") {
		return false, nil
	}
	arg := func(n int) string { // the rest of the line from field n
		rest := line
		for range n {
			rest = strings.TrimSpace(rest)
			rest = rest[strings.IndexAny(rest+" ", " \t"):]
		}
		return strings.TrimSpace(rest)
	}
	switch f[0] {
	case "help", "?":
		if a.photos != nil {
			a.con.printf("%s%s", help, photoHelp)
		} else {
			a.con.printf("%s", help)
		}
	case "quit", "exit", "q":
		return true, nil
	case "ls", "lists":
		return false, a.list(ctx, arg(1))
	case "add":
		if len(f) < 3 {
			return false, errors.New("usage: add LIST TEXT")
		}
		return false, a.add(ctx, f[1], arg(2))
	case "done", "undo":
		if len(f) < 2 {
			return false, fmt.Errorf("usage: %s ID", f[0])
		}
		return false, a.complete(ctx, arg(1), f[0] == "done")
	case "rm":
		if len(f) < 2 {
			return false, errors.New("usage: rm ID")
		}
		return false, a.remove(ctx, arg(1))
	case "status":
		return false, a.status(ctx)
	case "wait":
		return false, a.wait(ctx)
	case "server":
		return false, a.server(ctx, f[1:], arg(3))
	case "photo":
		if len(f) < 3 {
			return false, errors.New("usage: photo ID FILE")
		}
		return false, a.photo(ctx, f[1], arg(2))
	case "photos":
		return false, a.listPhotos(ctx)
	default:
		return false, fmt.Errorf("unknown command %q (try help)", f[0])
	}
	return false, nil
}

// now is the current time as the ISO 8601 text the tables hold.
func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// short is the part of an id the app shows.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// markLocal records ids about to be written by a command.
func (a *app) markLocal(ids ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, id := range ids {
		a.local[id] = true
	}
}

// takeLocal reports whether id was written by a command, and forgets it.
func (a *app) takeLocal(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok := a.local[id]
	delete(a.local, id)
	return ok
}

// add adds a todo to the list named list, creating the list if needed, in
// one transaction.
func (a *app) add(ctx context.Context, list, text string) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var listID string
	err = tx.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ? COLLATE NOCASE ORDER BY created_at LIMIT 1`, list).Scan(&listID)
	if errors.Is(err, sql.ErrNoRows) {
		listID = uuid.NewString()
		a.markLocal(listID)
		if _, err := tx.ExecContext(ctx, `INSERT INTO lists (id, created_at, name, owner_id) VALUES (?, ?, ?, ?)`,
			listID, now(), list, a.cfg.user); err != nil {
			return err
		}
		a.con.printf("new list %s %s", short(listID), list)
	} else if err != nil {
		return err
	}
	id := uuid.NewString()
	a.markLocal(id)
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO todos (id, list_id, created_at, description, created_by, completed) VALUES (?, ?, ?, ?, ?, 0)`,
		id, listID, now(), text, a.cfg.user); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.con.printf("added %s %q", short(id), text)
	return nil
}

// find resolves a reference to a row of table ("todos" or "lists"): the
// first characters of its id or, failing that, its description or name.
// It returns "" if no row matches.
func (a *app) find(ctx context.Context, table, ref string) (string, error) {
	id, err := a.findWhere(ctx, table, `substr(id, 1, length(?1)) = ?1`, ref)
	if id != "" || err != nil {
		return id, err
	}
	col := "description"
	if table == "lists" {
		col = "name"
	}
	return a.findWhere(ctx, table, col+` = ?1`, ref)
}

// findWhere returns the id of the one row of table matching cond (with
// parameter ref), "" if none, and an error if more than one.
func (a *app) findWhere(ctx context.Context, table, cond, ref string) (string, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT id FROM `+table+` WHERE `+cond+` LIMIT 2`, ref)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	switch len(ids) {
	case 0:
		return "", nil
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("%q names more than one row; give more characters of the id", ref)
}

// complete marks a todo completed (or not).
func (a *app) complete(ctx context.Context, prefix string, done bool) error {
	id, err := a.find(ctx, "todos", prefix)
	if err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("no todo %q", prefix)
	}
	a.markLocal(id)
	var desc string
	if done {
		err = a.db.QueryRowContext(ctx,
			`UPDATE todos SET completed = 1, completed_at = ?, completed_by = ? WHERE id = ? RETURNING description`,
			now(), a.cfg.user, id).Scan(&desc)
	} else {
		err = a.db.QueryRowContext(ctx,
			`UPDATE todos SET completed = 0, completed_at = NULL, completed_by = NULL WHERE id = ? RETURNING description`,
			id).Scan(&desc)
	}
	if err != nil {
		return err
	}
	if done {
		a.con.printf("done %s %q", short(id), desc)
	} else {
		a.con.printf("reopened %s %q", short(id), desc)
	}
	return nil
}

// remove deletes a todo, or a list and its todos.
func (a *app) remove(ctx context.Context, prefix string) error {
	id, err := a.find(ctx, "todos", prefix)
	if err != nil {
		return err
	}
	if id != "" {
		a.markLocal(id)
		var desc string
		if err := a.db.QueryRowContext(ctx, `DELETE FROM todos WHERE id = ? RETURNING description`, id).Scan(&desc); err != nil {
			return err
		}
		a.con.printf("removed %s %q", short(id), desc)
		return nil
	}
	if id, err = a.find(ctx, "lists", prefix); err != nil {
		return err
	}
	if id == "" {
		return fmt.Errorf("no todo or list %q", prefix)
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT id FROM todos WHERE list_id = ?`, id)
	if err != nil {
		return err
	}
	var todos []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return err
		}
		todos = append(todos, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	a.markLocal(append(todos, id)...)
	if _, err := tx.ExecContext(ctx, `DELETE FROM todos WHERE list_id = ?`, id); err != nil {
		return err
	}
	var name string
	if err := tx.QueryRowContext(ctx, `DELETE FROM lists WHERE id = ? RETURNING name`, id).Scan(&name); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	a.con.printf("removed list %s %s and %s", short(id), name, count(len(todos), "todo"))
	return nil
}

// status prints the sync status and the upload queue.
func (a *app) status(ctx context.Context) error {
	n, size, err := pssync.UploadQueueStats(ctx, a.db)
	if err != nil {
		return err
	}
	rejected, err := pssync.RejectedCrud(ctx, a.db)
	if err != nil {
		return err
	}
	a.con.printf("status: %s", a.syncer.Status())
	a.con.printf("upload queue: %d changes, %d bytes; set aside by the backend: %d", n, size, len(rejected))
	for _, r := range rejected {
		a.con.printf("  set aside: %s %s %s: %s", r.Entry.Op, r.Entry.Table, short(r.Entry.ID), r.Reason)
	}
	return nil
}

// wait waits until every local change is uploaded and a checkpoint that
// contains them (as the service has them) is applied to the local database:
// Syncer.Flush.
func (a *app) wait(ctx context.Context) error {
	if !a.svc.uploads {
		return errors.New("nothing to wait for: no backend to upload to")
	}
	if err := a.syncer.Flush(ctx); err != nil {
		return err
	}
	a.con.printf("synced: local changes uploaded and synced back")
	if a.photos != nil {
		return a.waitPhotos(ctx)
	}
	return nil
}

// listView is a list with its todos, for printing.
type listView struct {
	id, name string
	todos    []todoView
}

// todoView is a todo, for printing.
type todoView struct {
	id, description string
	completed       bool
}

// maxShown is the number of todos above which ls shows only the counts of
// a list, unless the list is named.
const maxShown = 20

// printLists prints lists; only lists named only when only is not empty.
func (a *app) printLists(prefix string, lists []listView, only string) error {
	found := false
	for _, l := range lists {
		if only != "" && !strings.EqualFold(l.name, only) {
			continue
		}
		found = true
		open := 0
		for _, t := range l.todos {
			if !t.completed {
				open++
			}
		}
		if len(l.todos) > maxShown && only == "" {
			a.con.printf("%s%s %s (%s, %d open; ls %s shows them)", prefix, short(l.id), l.name, count(len(l.todos), "todo"), open, l.name)
			continue
		}
		a.con.printf("%s%s %s (%s, %d open)", prefix, short(l.id), l.name, count(len(l.todos), "todo"), open)
		for _, t := range l.todos {
			mark := " "
			if t.completed {
				mark = "x"
			}
			a.con.printf("%s  [%s] %s %s", prefix, mark, short(t.id), t.description)
		}
	}
	if only != "" && !found {
		return fmt.Errorf("no list %q", only)
	}
	if len(lists) == 0 {
		a.con.printf("%s(no lists)", prefix)
	}
	return nil
}

// list prints the local lists and todos.
func (a *app) list(ctx context.Context, only string) error {
	tx, err := a.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var lists []listView
	index := map[string]int{}
	rows, err := tx.QueryContext(ctx, `SELECT id, coalesce(name, '') FROM lists ORDER BY created_at, name, id`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var l listView
		if err := rows.Scan(&l.id, &l.name); err != nil {
			rows.Close()
			return err
		}
		index[l.id] = len(lists)
		lists = append(lists, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.QueryContext(ctx,
		`SELECT id, coalesce(list_id, ''), coalesce(description, ''), coalesce(completed, 0) FROM todos ORDER BY created_at, id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var t todoView
		var listID string
		if err := rows.Scan(&t.id, &listID, &t.description, &t.completed); err != nil {
			return err
		}
		if i, ok := index[listID]; ok {
			lists[i].todos = append(lists[i].todos, t)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return a.printLists("", lists, only)
}

// server shows or changes the embedded service's data.
func (a *app) server(ctx context.Context, args []string, text string) error {
	srv := a.svc.srv
	if srv == nil {
		return errors.New("server commands need the embedded service")
	}
	if len(args) == 0 {
		args = []string{"ls"}
	}
	switch args[0] {
	case "ls":
		lists := serverLists(srv)
		if len(args) > 1 {
			return a.printLists("server: ", lists, args[1])
		}
		return a.printLists("server: ", lists, "")
	case "add":
		if len(args) < 3 {
			return errors.New("usage: server add LIST TEXT")
		}
		var listID string
		for id, row := range srv.Rows("lists") {
			if strings.EqualFold(str(row["name"]), args[1]) {
				listID = id
			}
		}
		if listID == "" {
			return fmt.Errorf("the service has no list %q", args[1])
		}
		id := uuid.NewString()
		err := srv.SetRow("todos", id, map[string]any{
			"list_id": listID, "description": text, "completed": 0, "created_by": "someone-else", "created_at": now(),
		})
		if err != nil {
			return err
		}
		a.con.printf("server: added %s %q", short(id), text)
		return nil
	}
	return fmt.Errorf("unknown server command %q", args[0])
}

// serverLists returns the embedded service's lists and todos, ordered as
// ls orders the local ones.
func serverLists(srv *pstest.Server) []listView {
	rows := srv.Rows("lists")
	ids := sortedIDs(rows)
	lists := make([]listView, len(ids))
	index := map[string]int{}
	for i, id := range ids {
		lists[i] = listView{id: id, name: str(rows[id]["name"])}
		index[id] = i
	}
	todos := srv.Rows("todos")
	for _, id := range sortedIDs(todos) {
		row := todos[id]
		if i, ok := index[str(row["list_id"])]; ok {
			lists[i].todos = append(lists[i].todos, todoView{
				id: id, description: str(row["description"]), completed: str(row["completed"]) == "1" || row["completed"] == true,
			})
		}
	}
	return lists
}

// sortedIDs returns the ids of rows ordered by created_at, then id.
func sortedIDs(rows map[string]map[string]any) []string {
	ids := make([]string, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y string) int {
		if c := strings.Compare(str(rows[x]["created_at"]), str(rows[y]["created_at"])); c != 0 {
			return c
		}
		return strings.Compare(x, y)
	})
	return ids
}

// count says "1 todo", "2 todos".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// str formats a row value.
func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// showStatus prints the sync status: the progress of the first download
// (as a bar on a terminal), then connection changes and errors. It closes
// synced after the first complete sync.
func (a *app) showStatus(ctx context.Context, synced chan<- struct{}) {
	first := true
	connected := false
	var lastErr string
	for st := range a.syncer.Statuses(ctx) {
		if first && st.Downloading && st.DownloadProgress != nil {
			a.con.progress(st.DownloadProgress.Overall())
		}
		if first && st.HasSynced && !st.Downloading {
			first = false
			a.con.clearProgress()
			var lists, todos int
			a.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM lists), (SELECT count(*) FROM todos)`).Scan(&lists, &todos)
			a.con.printf("synced: %s, %s", count(lists, "list"), count(todos, "todo"))
			close(synced)
		}
		if !a.cfg.once && st.Connected != connected {
			connected = st.Connected
			if connected {
				a.con.printf("sync: online")
			} else if !first {
				a.con.printf("sync: offline, changes stay local until the connection returns")
			}
		}
		if e := st.AnyError(); e != nil && e.Error() != lastErr {
			lastErr = e.Error()
			a.con.errorf("sync: %v", e)
		} else if e == nil {
			lastErr = ""
		}
	}
}

// showLive prints the changes to lists and todos as they are committed,
// except those made by this app's own commands: in practice, the changes
// arriving from the service.
func (a *app) showLive(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		a.watchChanges(ctx, `SELECT id, name FROM lists`, func(res *hooks.Result) {
			for _, r := range res.Added {
				if !a.takeLocal(str(r["id"])) {
					a.con.printf("live: new list %s %s", short(str(r["id"])), str(r["name"]))
				}
			}
			for _, r := range res.Removed {
				if !a.takeLocal(str(r["id"])) {
					a.con.printf("live: list %s removed", str(r["name"]))
				}
			}
		})
	})
	a.watchChanges(ctx, `SELECT id, description, completed FROM todos`, func(res *hooks.Result) {
		for _, r := range res.Added {
			if !a.takeLocal(str(r["id"])) {
				a.con.printf("live: added %s %q", short(str(r["id"])), str(r["description"]))
			}
		}
		for _, u := range res.Updated {
			id := str(u.New["id"])
			if a.takeLocal(id) {
				continue
			}
			switch was, is := str(u.Old["completed"]), str(u.New["completed"]); {
			case was != "1" && is == "1":
				a.con.printf("live: done %s %q", short(id), str(u.New["description"]))
			case was == "1" && is != "1":
				a.con.printf("live: reopened %s %q", short(id), str(u.New["description"]))
			default:
				a.con.printf("live: changed %s %q", short(id), str(u.New["description"]))
			}
		}
		for _, r := range res.Removed {
			if !a.takeLocal(str(r["id"])) {
				a.con.printf("live: removed %s %q", short(str(r["id"])), str(r["description"]))
			}
		}
	})
}

// watchChanges watches query in hooks.ModeDiff and calls show with each
// change after the first result (the rows already there), until ctx ends or
// a run fails.
func (a *app) watchChanges(ctx context.Context, query string, show func(*hooks.Result)) {
	w := hooks.Watcher{Mode: hooks.ModeDiff}
	first := true
	for res, err := range w.Watch(ctx, a.db, query) {
		if err != nil {
			if ctx.Err() == nil {
				a.con.errorf("live: %v", err)
			}
			return
		}
		if first {
			first = false
			continue
		}
		show(res)
	}
}
