package driver

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/gopowersync/powersync/internal/pserr"
	"github.com/gopowersync/powersync/internal/syncop"
	"github.com/gopowersync/powersync/schema"
)

// DriverName is the name the driver is registered under with database/sql.
const DriverName = "powersync"

// SchemaParam is the DSN parameter that names a schema registered with
// RegisterSchema: sql.Open("powersync", "app.db?_powersync_schema=app").
const SchemaParam = "_powersync_schema"

func init() {
	sql.Register(DriverName, &Driver{})
	syncop.Register(setSyncOperation)
	syncop.RegisterWaiters(writeWaiters)
}

// Driver is the "powersync" database/sql driver. Use it through sql.Open, or
// through NewConnector and sql.OpenDB to pass options.
type Driver struct{}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.DriverContext = (*Driver)(nil)
	_ driver.Connector     = (*Connector)(nil)
	_ io.Closer            = (*Connector)(nil) // DB.Close releases the connector's state
)

// Open opens a connection. database/sql calls it; prefer OpenConnector.
func (d *Driver) Open(dsn string) (driver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// OpenConnector parses dsn once for all the connections of a *sql.DB.
func (d *Driver) OpenConnector(dsn string) (driver.Connector, error) {
	return NewConnector(dsn)
}

// registry holds the schemas named by RegisterSchema.
var registry struct {
	mu      sync.Mutex // guards schemas
	schemas map[string]*schema.Schema
}

// RegisterSchema makes s available to DSNs that name it with the
// _powersync_schema parameter. Registering a name again replaces its schema
// for connectors opened afterwards.
func RegisterSchema(name string, s *schema.Schema) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.schemas == nil {
		registry.schemas = make(map[string]*schema.Schema)
	}
	registry.schemas[name] = s
}

func registeredSchema(name string) (*schema.Schema, bool) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	s, ok := registry.schemas[name]
	return s, ok
}

// Option configures a Connector.
type Option func(*Connector)

// WithSchema sets the schema applied when the database is opened. It takes
// precedence over a schema named in the DSN.
func WithSchema(s *schema.Schema) Option {
	return func(c *Connector) { c.schema = s }
}

// WithLogger sets the logger for the driver's own messages (schema changes,
// upgrades, and bookkeeping failures that do not fail the statement that
// caused them). The default discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *Connector) {
		if l != nil {
			c.logger = l
		}
	}
}

// Connector opens connections to one PowerSync database. It implements
// driver.Connector for sql.OpenDB.
type Connector struct {
	dsn    string // the DSN handed to modernc.org/sqlite
	path   string // key of the shared per-file state
	schema *schema.Schema
	logger *slog.Logger
	file   *fileState
	setWAL bool // switch the file to WAL journaling (the DSN chose no journal mode)
	// readOnly is set by mode=ro in the DSN: the file is opened read-only,
	// nothing is created, migrated or applied, and writes are refused.
	readOnly bool
}

// NewConnector returns a connector for dsn, which has the form modernc.org/sqlite
// accepts (a path or a file: URI, with its query parameters) plus the optional
// _powersync_schema parameter. Unless the DSN sets them, connections use WAL
// journaling, a 5 s busy timeout and BEGIN IMMEDIATE for write transactions.
// With mode=ro the file is opened read-only, as a plain path too (see
// "Read-only databases" in the package documentation).
func NewConnector(dsn string, opts ...Option) (*Connector, error) {
	c := &Connector{logger: slog.New(slog.DiscardHandler)}
	name, query, _ := strings.Cut(dsn, "?")
	params, err := url.ParseQuery(query)
	if err != nil {
		return nil, pserr.Errorf("powersync: parse DSN: %w", err)
	}
	if sn := params.Get(SchemaParam); sn != "" {
		s, ok := registeredSchema(sn)
		if !ok {
			return nil, fmt.Errorf("powersync: DSN names schema %q, which is not registered (see RegisterSchema)", sn)
		}
		c.schema = s
	}
	params.Del(SchemaParam)
	c.readOnly = params.Get("mode") == "ro"
	c.setWAL = !hasPragma(params, "journal_mode") && !c.readOnly
	addDefaultParams(params)
	open := name
	if c.readOnly && !strings.HasPrefix(name, "file:") {
		// modernc.org/sqlite hands SQLite's own parameters (mode) to SQLite
		// only in a file: URI.
		open = "file:" + uriPath(name)
	}
	c.dsn = open + "?" + params.Encode()
	for _, o := range opts {
		o(c)
	}
	c.path = fileKey(name, params)
	if c.path == "" {
		c.file = newFileState() // a private database: its state is the connector's own
	}
	return c, nil
}

// hasPragma reports whether the DSN sets the given pragma itself.
func hasPragma(p url.Values, pragma string) bool {
	for _, v := range p["_pragma"] {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(v)), pragma) {
			return true
		}
	}
	return false
}

// addDefaultParams adds the driver's connection defaults the DSN does not set.
// WAL is not among them: it changes the file, so it is switched on only once
// the file's layout is known to be usable (see fileState.prepare).
func addDefaultParams(p url.Values) {
	has := func(pragma string) bool { return hasPragma(p, pragma) }
	if !has("busy_timeout") {
		p.Add("_pragma", "busy_timeout(5000)")
	}
	if !has("temp_store") {
		// Statement journals of writes through views stay in memory.
		p.Add("_pragma", "temp_store(memory)")
	}
	if !has("cache_size") {
		p.Add("_pragma", "cache_size(-16384)") // 16 MiB
	}
	if !has("wal_autocheckpoint") {
		// The sync client's own threshold (internal/synccore), so that a
		// write during a sync does not checkpoint the sync's WAL.
		p.Add("_pragma", "wal_autocheckpoint(10000)")
	}
	if p.Get("_txlock") == "" {
		p.Set("_txlock", "immediate")
	}
}

// fileKey names the database file for sharing state between connections; an
// in-memory database gets no key, so nothing is shared.
func fileKey(name string, p url.Values) string {
	path := strings.TrimPrefix(name, "file:")
	if path == "" || strings.HasPrefix(path, ":memory:") || p.Get("mode") == "memory" || p.Get("vfs") != "" {
		return ""
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path
}

// Driver returns the "powersync" driver.
func (c *Connector) Driver() driver.Driver { return &Driver{} }

// Connect opens a connection. The first connection of a file creates or
// upgrades the internal tables and applies the schema.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	fs := c.fileState()
	st := &connState{file: fs, readOnlyDB: c.readOnly, log: c.logger}
	s, err := acquireSlot(st)
	if err != nil {
		return nil, err
	}
	raw, err := s.drv.Open(c.dsn)
	if err != nil {
		releaseSlot(s)
		return nil, pserr.Errorf("powersync: open %s: %w", c.dsn, err)
	}
	pc, err := newConn(raw, s, st)
	if err != nil {
		raw.Close()
		releaseSlot(s)
		return nil, err
	}
	if err := fs.prepare(ctx, pc, c); err != nil {
		pc.Close()
		return nil, err
	}
	return pc, nil
}

// Close releases what the connector holds in the state shared by the
// connections to its file. database/sql calls it from DB.Close once every
// connection of the pool is closed; the connector may be used again
// afterwards, and then checks the file's layout and applies its schema anew.
func (c *Connector) Close() error {
	fs := c.file
	if fs == nil {
		files.mu.Lock()
		fs = files.m[c.path]
		files.mu.Unlock()
	}
	if fs != nil {
		fs.mu.Lock()
		delete(fs.prepared, c)
		fs.mu.Unlock()
	}
	return nil
}

// fileState returns the state shared by all connections to this connector's
// file, creating it on first use.
func (c *Connector) fileState() *fileState {
	if c.file != nil {
		return c.file
	}
	files.mu.Lock()
	defer files.mu.Unlock()
	fs, ok := files.m[c.path]
	if !ok {
		fs = newFileState()
		files.m[c.path] = fs
	}
	return fs
}

// files maps absolute paths to the state their connections share. Entries
// live as long as the process: they hold a hub and a few strings.
var files = struct {
	mu sync.Mutex // guards m
	m  map[string]*fileState
}{m: make(map[string]*fileState)}

// fileState is shared by every connection to one database file in this
// process, whichever *sql.DB opened it.
type fileState struct {
	hub   *Hub
	wlock writeLock // serialises the file's writers in this process

	mu       sync.Mutex // guards the fields below
	client   string
	schema   *schema.Schema
	prepared map[*Connector]bool // open connectors whose schema was applied (Close removes them)
}

func newFileState() *fileState {
	return &fileState{hub: newHub(), wlock: newWriteLock(), prepared: make(map[*Connector]bool)}
}

func (f *fileState) clientID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.client
}

func (f *fileState) currentSchema() *schema.Schema {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.schema
}

// prepare runs once per connector: it migrates the internal tables, applies the
// connector's schema and loads the client id.
func (f *fileState) prepare(ctx context.Context, pc *conn, c *Connector) error {
	f.mu.Lock()
	done := f.prepared[c]
	f.mu.Unlock()
	if done {
		return nil
	}
	if !c.readOnly {
		// The journal mode switch, the migration and the schema run under
		// the write lock, and the first connections of a pool prepare one
		// after the other.
		if err := f.wlock.acquire(ctx); err != nil {
			return err
		}
		pc.st.lock = lockSetup
		defer pc.dropLock()
		f.mu.Lock()
		done = f.prepared[c]
		f.mu.Unlock()
		if done {
			return nil
		}
	}
	db := sql.OpenDB(singleConn{pc})
	defer db.Close()
	db.SetMaxOpenConns(1)
	// Refuse an unusable file before anything writes to it.
	version, err := layoutVersion(ctx, db)
	if err != nil {
		return pserr.Errorf("powersync: open: %w", err)
	}
	if err := checkLayout(version); err != nil {
		return err
	}
	if c.readOnly {
		return f.prepareReadOnly(ctx, db, c, version)
	}
	if c.setWAL {
		if _, err := db.ExecContext(ctx, `PRAGMA journal_mode=WAL`); err != nil {
			return pserr.Errorf("powersync: open: enable WAL: %w", err)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return pserr.Errorf("powersync: open: %w", err)
	}
	defer tx.Rollback()
	if err := migrate(ctx, tx); err != nil {
		return err
	}
	if c.schema != nil {
		if err := applySchema(ctx, tx, c.schema, c.logger); err != nil {
			return err
		}
	}
	var id string
	if err := tx.QueryRowContext(ctx, `SELECT ifnull((SELECT value FROM ps_kv WHERE key = 'client_id'), '')`).Scan(&id); err != nil {
		return pserr.Errorf("powersync: read client id: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return pserr.Errorf("powersync: open: %w", err)
	}
	f.mu.Lock()
	f.client = id
	if c.schema != nil {
		f.schema = c.schema
	}
	f.prepared[c] = true
	f.mu.Unlock()
	return nil
}

// prepareReadOnly is prepare for a connector with mode=ro: the file must
// already be a PowerSync database, and is used as it is (its views are the
// ones its last writer applied; the connector's schema is not applied).
func (f *fileState) prepareReadOnly(ctx context.Context, db *sql.DB, c *Connector, version int) error {
	if version == 0 {
		return fmt.Errorf("%w: opened read-only (mode=ro), the file has no PowerSync tables; open it read-write once to create them", ErrLayout)
	}
	var id string
	if err := db.QueryRowContext(ctx, `SELECT ifnull((SELECT value FROM ps_kv WHERE key = 'client_id'), '')`).Scan(&id); err != nil {
		return pserr.Errorf("powersync: read client id: %w", err)
	}
	f.mu.Lock()
	if f.client == "" {
		f.client = id
	}
	f.prepared[c] = true
	f.mu.Unlock()
	return nil
}

// uriPath escapes a file path for a SQLite "file:" URI.
func uriPath(path string) string {
	p := filepath.ToSlash(path)
	if filepath.VolumeName(path) != "" && !strings.HasPrefix(p, "/") {
		p = "/" + p // file:/C:/dir/app.db
	}
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// singleConn hands one already-open connection to a private *sql.DB, so that
// setup code can use database/sql on it. Closing that *sql.DB leaves the
// connection open.
type singleConn struct{ c *conn }

func (s singleConn) Connect(context.Context) (driver.Conn, error) { return noClose{s.c}, nil }
func (s singleConn) Driver() driver.Driver                        { return &Driver{} }

// noClose is a connection whose Close does nothing; it forwards the rest.
type noClose struct{ *conn }

func (noClose) Close() error { return nil }

// UpdateSchema replaces the schema of the database behind db, as the official
// SDKs' updateSchema does: views, triggers and indexes are recreated as needed,
// no data is lost, and rows of a table that leaves the schema are kept aside
// (in ps_untyped) and come back when the table returns.
func UpdateSchema(ctx context.Context, db *sql.DB, s *schema.Schema) error {
	return withConn(ctx, db, func(pc *conn) error {
		sdb := sql.OpenDB(singleConn{pc})
		defer sdb.Close()
		tx, err := sdb.BeginTx(ctx, nil)
		if err != nil {
			return pserr.Errorf("powersync: update schema: %w", err)
		}
		defer tx.Rollback()
		if err := migrate(ctx, tx); err != nil {
			return err
		}
		if err := applySchema(ctx, tx, s, slog.New(slog.DiscardHandler)); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return pserr.Errorf("powersync: update schema: %w", err)
		}
		pc.st.file.mu.Lock()
		pc.st.file.schema = s
		pc.st.file.mu.Unlock()
		return nil
	})
}

// CurrentSchema returns the schema most recently applied to the database
// behind db by this process, or nil when none was.
func CurrentSchema(ctx context.Context, db *sql.DB) (*schema.Schema, error) {
	var s *schema.Schema
	err := withConn(ctx, db, func(pc *conn) error {
		s = pc.st.file.currentSchema()
		return nil
	})
	return s, err
}
