// The official Node SDK (@powersync/node) syncing from a pstest server, driven by the Go
// test TestNodeSDKAgreement. It must sit next to a node_modules with @powersync/node and
// better-sqlite3 (the test copies it into a temp dir with a node_modules symlink).
//
//   usage: node node_client.mjs URL TOKEN DB_DIR [RETRY_DELAY_MS]
//
// Prints one JSON object per line on stdout:
//   {"event":"synced","rows":{...}}     after the first complete sync
//   {"event":"rows","rows":{...}}       answer to "wait N"
//   {"event":"uploaded"}                answer to "insert ..." once the upload queue is empty
//   {"event":"error","message":"..."}   then exits 1
// rows = {table: {id: data JSON text}} from every ps_data__* table and ps_untyped.
// Commands on stdin, one per line:
//   wait N                      wait until a complete checkpoint (not only one priority of it)
//                               with op id >= N is applied, print rows
//   insert TABLE ID JSON        insert a row through the view; the connector uploads it to URL/upload
//   exit                        disconnect, close, exit 0
import { mkdirSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { PowerSyncDatabase, Schema, Table, column, SyncStreamConnectionMethod } from '@powersync/node';

const [url, token, dir, retryDelay] = process.argv.slice(2);
if (!url || !token || !dir) {
  console.error('usage: node node_client.mjs URL TOKEN DB_DIR');
  process.exit(2);
}
const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const fail = (err) => {
  out({ event: 'error', message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
};
// Never hang the Go test: give up after a minute.
const deadline = setTimeout(() => fail('node client: timed out'), 60_000);
deadline.unref();

mkdirSync(dir, { recursive: true });
for (const s of ['', '-wal', '-shm']) rmSync(`${dir}/node-client.db${s}`, { force: true });

const schema = new Schema({
  todos: new Table({ title: column.text, done: column.integer, n: column.integer }),
  lists: new Table({ name: column.text })
});
const db = new PowerSyncDatabase({ schema, database: { dbFilename: 'node-client.db', dbLocation: dir } });

const connector = {
  fetchCredentials: async () => ({ endpoint: url, token }),
  uploadData: async (database) => {
    const batch = await database.getCrudBatch(100);
    if (!batch) return;
    const res = await fetch(`${url}/upload`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Token ${token}` },
      body: JSON.stringify({ batch: batch.crud.map((e) => e.toJSON()) })
    });
    if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    await batch.complete();
  }
};

async function rows() {
  const result = {};
  const tables = await db.getAll(
    "select name from sqlite_master where type = 'table' and name like 'ps_data__%' order by name"
  );
  for (const { name } of tables) {
    const table = name.slice('ps_data__'.length);
    for (const r of await db.getAll(`select id, data from "${name}" order by id`)) {
      (result[table] ??= {})[r.id] = r.data;
    }
  }
  for (const r of await db.getAll('select type, id, data from ps_untyped order by type, id')) {
    (result[r.type] ??= {})[r.id] = r.data;
  }
  return result;
}

// The op id of the last complete checkpoint the SDK applied. A full
// checkpoint_complete sets last_applied_op of every bucket to the checkpoint's
// op id; a partial_checkpoint_complete only those of its priority (so the
// largest last_applied_op can belong to a checkpoint whose lower-priority
// buckets are not applied yet). The smallest is the complete checkpoint's.
async function completeCheckpointOp() {
  if (!db.currentStatus.hasSynced) return -1n;
  const { op } = await db.get(
    "select coalesce(min(last_applied_op), -1) as op from ps_buckets where name != '$local'"
  );
  return BigInt(op);
}

async function until(pred) {
  while (!(await pred())) await new Promise((r) => setTimeout(r, 20));
}

try {
  await db.init();
  const options = { connectionMethod: SyncStreamConnectionMethod.HTTP };
  if (retryDelay) options.retryDelayMs = Number(retryDelay);
  await db.connect(connector, options);
  await db.waitForFirstSync();
  out({ event: 'synced', rows: await rows() });
} catch (e) {
  fail(e);
}

const rl = createInterface({ input: process.stdin });
for await (const line of rl) {
  const [cmd, ...args] = line.trim().split(' ');
  try {
    if (cmd === 'wait') {
      const target = BigInt(args[0]);
      await until(async () => (await completeCheckpointOp()) >= target);
      out({ event: 'rows', rows: await rows() });
    } else if (cmd === 'insert') {
      const [table, id, ...json] = args;
      const data = JSON.parse(json.join(' '));
      const cols = Object.keys(data);
      await db.execute(
        `insert into ${table} (id, ${cols.join(', ')}) values (?, ${cols.map(() => '?').join(', ')})`,
        [id, ...cols.map((c) => data[c])]
      );
      await until(async () => (await db.getUploadQueueStats()).count === 0);
      out({ event: 'uploaded' });
    } else if (cmd === 'exit') {
      break;
    } else if (cmd) {
      fail(`unknown command ${line}`);
    }
  } catch (e) {
    fail(e);
  }
}
await db.disconnect();
await db.close();
process.exit(0);
