-- The tables of a PowerSync schema as queries see them (the views over the
-- JSON data tables). For type-checking tools such as sqlc; not for execution.

CREATE TABLE lists (
  id TEXT PRIMARY KEY,
  created_at TEXT,
  name TEXT,
  owner_id TEXT
);

CREATE TABLE todos (
  id TEXT PRIMARY KEY,
  list_id TEXT,
  created_at TEXT,
  completed_at TEXT,
  description TEXT,
  created_by TEXT,
  completed_by TEXT,
  completed INTEGER
);
