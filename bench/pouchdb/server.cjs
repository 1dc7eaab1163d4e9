// Runs pouchdb-server (its own CLI, same arguments) as a child of replicate.mjs, and makes sure
// it never outlives its parent: it exits when its stdin (a pipe from the parent) closes -- then
// also removing the bench's temp dirs, in case the parent was killed -- and after
// POUCHDB_BENCH_MAX_S seconds at the latest.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

function parentGone() {
  const prefix = path.join(os.tmpdir(), 'pouchdb-bench-');
  for (const d of (process.env.POUCHDB_BENCH_CLEANUP || '').split(path.delimiter)) {
    if (d && d.startsWith(prefix)) {
      try { fs.rmSync(d, { recursive: true, force: true }); } catch (e) { /* ignore */ }
    }
  }
  process.exit(0);
}
process.stdin.on('end', parentGone);
process.stdin.on('error', parentGone);
process.stdin.resume();
const maxS = Number(process.env.POUCHDB_BENCH_MAX_S || 0);
if (maxS > 0) setTimeout(() => process.exit(3), maxS * 1000).unref();
process.on('SIGTERM', () => process.exit(0));
require('pouchdb-server/lib/index.js');
