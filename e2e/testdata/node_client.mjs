// The official Node SDK (@powersync/node) syncing from the real PowerSync
// Service, for TestNodeSDKAgreement. It must sit next to a node_modules with
// @powersync/node and better-sqlite3 (the test links the oracle's).
//
//   usage: node node_client.mjs URL TOKEN DB_DIR MARKER
//
// Connects, waits for the first complete sync and for a list named MARKER,
// disconnects, closes the database (DB_DIR/node.db) and prints "done".
import { PowerSyncDatabase, Schema, Table, column, SyncStreamConnectionMethod } from '@powersync/node';

const [url, token, dir, marker] = process.argv.slice(2);
if (!url || !token || !dir || !marker) {
  console.error('usage: node node_client.mjs URL TOKEN DB_DIR MARKER');
  process.exit(2);
}
const deadline = setTimeout(() => { console.error('node client: timed out'); process.exit(1); }, 90_000);
deadline.unref();

const schema = new Schema({
  lists: new Table({ created_at: column.text, name: column.text, owner_id: column.text }),
  todos: new Table({
    list_id: column.text, created_at: column.text, completed_at: column.text, description: column.text,
    created_by: column.text, completed_by: column.text, completed: column.integer
  }),
  typed: new Table({
    t_uuid: column.text, t_ts: column.text, t_bool: column.integer, t_num: column.text, t_int: column.integer,
    t_float: column.real, t_text: column.text, t_json: column.text, t_date: column.text
  })
});
const db = new PowerSyncDatabase({ schema, database: { dbFilename: 'node.db', dbLocation: dir } });
try {
  await db.init();
  await db.connect(
    { fetchCredentials: async () => ({ endpoint: url, token }), uploadData: async () => {} },
    { connectionMethod: SyncStreamConnectionMethod.HTTP }
  );
  await db.waitForFirstSync();
  for (;;) {
    const { n } = await db.get('select count(*) as n from lists where name = ?', [marker]);
    if (n === 1) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await db.disconnect();
  await db.close();
  console.log('done');
  process.exit(0);
} catch (e) {
  console.error(String(e && e.stack ? e.stack : e));
  process.exit(1);
}
