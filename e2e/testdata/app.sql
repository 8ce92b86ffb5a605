-- The Postgres side of the end-to-end tests: the lists/todos tables of the
-- PowerSync demos (which examples/backend writes to; todos.photo_id is the
-- todo example's photo attachment), a table with one
-- column of each type the tests check, and an audit of every row change so
-- a test can count how often an upload was applied.
CREATE TABLE lists (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  name text NOT NULL,
  owner_id uuid
);
CREATE TABLE todos (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  created_at timestamptz NOT NULL DEFAULT now(),
  completed_at timestamptz,
  description text NOT NULL,
  completed boolean NOT NULL DEFAULT false,
  created_by uuid,
  completed_by uuid,
  list_id uuid NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
  photo_id text
);
CREATE TABLE typed (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  t_uuid uuid,
  t_ts timestamptz,
  t_bool boolean,
  t_num numeric,
  t_int bigint,
  t_float double precision,
  t_text text,
  t_json jsonb,
  t_date date
);
CREATE TABLE apply_log (
  seq bigserial PRIMARY KEY,
  tbl text NOT NULL,
  op text NOT NULL,
  row_id uuid NOT NULL,
  at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO apply_log(tbl, op, row_id) VALUES (TG_TABLE_NAME, TG_OP, OLD.id);
    RETURN OLD;
  END IF;
  INSERT INTO apply_log(tbl, op, row_id) VALUES (TG_TABLE_NAME, TG_OP, NEW.id);
  RETURN NEW;
END $$;
CREATE TRIGGER lists_log AFTER INSERT OR UPDATE OR DELETE ON lists FOR EACH ROW EXECUTE FUNCTION log_apply();
CREATE TRIGGER todos_log AFTER INSERT OR UPDATE OR DELETE ON todos FOR EACH ROW EXECUTE FUNCTION log_apply();
