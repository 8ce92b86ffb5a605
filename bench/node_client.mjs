// The official Node SDK (@powersync/node) doing one initial sync from any service, for
// bench/run: the same client and timed span as the oracle's node/client.mjs, with the URL
// and token as arguments so that it can sync from pstest (which checks JWTs and sends
// subkeys like the PowerSync Service) as well as from the oracle's fake_service.py.
//   usage: node node_client.mjs URL TOKEN DB_DIR
// bench/run copies this file next to the oracle cache's node_modules and runs it from there.
// Timed span: db.connect() .. waitForFirstSync() resolved.
import { mkdirSync, rmSync } from 'node:fs';
import { PowerSyncDatabase, Schema, Table, column, SyncStreamConnectionMethod } from '@powersync/node';

const [url, token, dir] = process.argv.slice(2);
if (!url || !token || !dir) {
  console.error('usage: node node_client.mjs URL TOKEN DB_DIR');
  process.exit(2);
}
mkdirSync(dir, { recursive: true });
for (const s of ['', '-wal', '-shm']) rmSync(`${dir}/node-client.db${s}`, { force: true });

// The 5-column table of the benchmark streams (benchSchema in cases.go).
const schema = new Schema({
  items: new Table({ name: column.text, qty: column.integer, price: column.real, sku: column.text, note: column.text })
});
const db = new PowerSyncDatabase({ schema, database: { dbFilename: 'node-client.db', dbLocation: dir } });
await db.init();
const [{ v }] = await db.getAll('select powersync_rs_version() as v');

const connector = {
  fetchCredentials: async () => ({ endpoint: url, token }),
  uploadData: async () => {}
};
const t0 = performance.now();
await db.connect(connector, { connectionMethod: SyncStreamConnectionMethod.HTTP });
await db.waitForFirstSync();
const t1 = performance.now();
const { c } = await db.get('select count(*) as c from items');
await db.disconnect();
await db.close();
console.log(JSON.stringify({ case: 'node_sdk_initial_sync', core: v, n: c, seconds: +((t1 - t0) / 1000).toFixed(3),
  rows_per_s: Math.round(c / ((t1 - t0) / 1000)) }));
