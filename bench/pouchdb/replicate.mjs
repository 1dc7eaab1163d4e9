#!/usr/bin/env node
// CouchDB-protocol peer baseline for the watchapp sync benchmark.
//
// device A (PouchDB, local) --push--> pouchdb-server (child process, 127.0.0.1) --pull--> device B (fresh PouchDB)
//
// Progress goes to stderr; the LAST line of stdout is one JSON object with the figures.
// Only ever talks to 127.0.0.1. Aborts (exit 2) after --timeout seconds (default 600).
//
// Usage: node replicate.mjs [--count N] [--port P] [--docs FILE.jsonl]
//                           [--device-adapter leveldb|memory] [--server-adapter leveldb|memory]
//                           [--batch-size 100] [--batches-limit 10] [--timeout 600] [--keep]

import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, createReadStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname, delimiter } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const HOST = '127.0.0.1';

// ---------------------------------------------------------------- arguments
function usage(msg) {
  if (msg) process.stderr.write(`replicate.mjs: ${msg}\n`);
  process.stderr.write(
    'usage: node replicate.mjs [--count N] [--port P] [--docs FILE.jsonl]\n' +
    '         [--device-adapter leveldb|memory] [--server-adapter leveldb|memory]\n' +
    '         [--batch-size N] [--batches-limit N] [--timeout SECONDS] [--keep]\n');
  process.exit(msg ? 64 : 0);
}

function parseArgs(argv) {
  const o = {
    count: 100000, countGiven: false, port: 0, docs: null,
    deviceAdapter: 'leveldb', serverAdapter: 'leveldb',
    batchSize: 100, batchesLimit: 10, timeout: 600, keep: false,
  };
  const intArg = (name, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${name} needs an integer >= ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); }
    const next = () => (v !== undefined ? v : (i + 1 < argv.length ? argv[++i] : usage(`${a} needs a value`)));
    switch (a) {
      case '--count': o.count = intArg(a, next(), 1); o.countGiven = true; break;
      case '--port': o.port = intArg(a, next(), 0); break;
      case '--docs': o.docs = next(); break;
      case '--device-adapter': o.deviceAdapter = next(); break;
      case '--server-adapter': o.serverAdapter = next(); break;
      case '--batch-size': o.batchSize = intArg(a, next(), 1); break;
      case '--batches-limit': o.batchesLimit = intArg(a, next(), 1); break;
      case '--timeout': o.timeout = intArg(a, next(), 1); break;
      case '--keep': o.keep = true; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (o.port > 65535) usage('--port must be <= 65535');
  for (const [k, val] of [['--device-adapter', o.deviceAdapter], ['--server-adapter', o.serverAdapter]]) {
    if (val !== 'leveldb' && val !== 'memory') usage(`${k} must be leveldb or memory`);
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => process.stderr.write(`[pouchdb-bench] ${a.join(' ')}\n`);

// ---------------------------------------------------------------- documents
// Deterministic PRNG (mulberry32) so every run replicates the same documents.
function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0);
  };
}
const hex = (n, w) => n.toString(16).padStart(w, '0');
// uuidv7-like: 48-bit ms timestamp, version 7, variant 10, random rest; 36 chars.
function uuid7(ms, r) {
  const a = r(), b = r(), c = r();
  const ts = hex(ms, 12);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${hex(a & 0xfff, 3)}-` +
    `${hex(0x8000 | ((a >>> 12) & 0x3fff), 4)}-${hex(b, 8)}${hex(c & 0xffff, 4)}`;
}
function uuid4(r) {
  const a = r(), b = r(), c = r(), d = r();
  return `${hex(a, 8)}-${hex(b >>> 16, 4)}-4${hex(b & 0xfff, 3)}-` +
    `${hex(0x8000 | (c & 0x3fff), 4)}-${hex(c >>> 16, 4)}${hex(d, 8)}`;
}

function generateDocs(n) {
  const r = rng(20261126);
  const origin = uuid4(r), districtId = uuid4(r), groupId = uuid4(r), userId = uuid4(r);
  const residents = Array.from({ length: 50 }, () => uuid4(r));
  const base = Date.UTC(2026, 10, 26, 1, 2, 3, 456);
  const docs = new Array(n);
  for (let i = 0; i < n; i++) {
    docs[i] = {
      _id: uuid7(base + i, r),
      kind: 'visits',
      hlc: '0001764000000000-00000',
      origin,
      deleted: false,
      district_id: districtId,
      group_id: groupId,
      resident_id: residents[i % residents.length],
      user_id: userId,
      visited_at: '2026-11-26T01:02:03.456Z',
      outcome: 'met_well',
      concern_category: null,
      urgency: null,
      note: '',
    };
  }
  return docs;
}

// JSON lines; each doc needs "_id" (or "id", copied to "_id"). "_rev" is dropped so
// the docs are fresh inserts on device A. With --count, only the first N lines are used.
async function readDocs(file, limit) {
  const docs = [];
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let lineNo = 0;
  for await (const line of rl) {
    lineNo++;
    if (!line.trim()) continue;
    let d;
    try { d = JSON.parse(line); } catch (e) { throw new Error(`${file}:${lineNo}: bad JSON: ${e.message}`); }
    if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new Error(`${file}:${lineNo}: not an object`);
    if (d._id === undefined && d.id !== undefined) d._id = String(d.id);
    if (typeof d._id !== 'string' || !d._id) throw new Error(`${file}:${lineNo}: no _id/id`);
    delete d._rev;
    docs.push(d);
    if (limit && docs.length >= limit) { rl.close(); break; }
  }
  return docs;
}

// ---------------------------------------------------------------- server
function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getJSON(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = await res.json();
  if (!res.ok) throw new Error(`GET ${url}: ${res.status} ${JSON.stringify(body)}`);
  return body;
}

// ---------------------------------------------------------------- main
const state = { server: null, serverExited: null, dirs: [], dbs: [], replication: null, done: false };

async function cleanup() {
  if (state.replication) { try { state.replication.cancel(); } catch { /* ignore */ } }
  for (const db of state.dbs) { try { await db.close(); } catch { /* ignore */ } }
  state.dbs = [];
  if (state.server && state.server.exitCode === null && state.server.signalCode === null) {
    state.server.kill('SIGINT'); // pouchdb-server exits 0 on SIGINT
    const t = setTimeout(() => { try { state.server.kill('SIGKILL'); } catch { /* ignore */ } }, 3000);
    await state.serverExited;
    clearTimeout(t);
  }
  if (!opts.keep) {
    for (const d of state.dirs) { try { rmSync(d, { recursive: true, force: true }); } catch { /* ignore */ } }
  } else if (state.dirs.length) {
    log('kept temp dirs:', state.dirs.join(' '));
  }
  state.dirs = [];
}

async function fail(msg, code = 1) {
  if (state.done) return;
  state.done = true;
  log('ERROR:', msg);
  await cleanup();
  process.exit(code);
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { fail(`got ${sig}`, 130); });
}
process.on('unhandledRejection', (e) => { fail(`unhandled rejection: ${e && e.stack || e}`); });
const watchdog = setTimeout(() => { fail(`timed out after ${opts.timeout} s`, 2); }, opts.timeout * 1000);
watchdog.unref();

async function startServer(port, tmp, cleanupDirs) {
  // server.cjs = pouchdb-server's own CLI, plus exit when our stdin pipe closes (no orphan server).
  const args = [join(HERE, 'server.cjs'), '--host', HOST, '--port', String(port), '--dir', join(tmp, 'db'),
    '--config', join(tmp, 'config.json'), '--no-stdout-logs'];
  if (opts.serverAdapter === 'memory') args.push('--in-memory');
  // cwd = temp dir: pouchdb-server writes its log.txt (default log level "info") there.
  const child = spawn(process.execPath, args, {
    cwd: tmp,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', POUCHDB_BENCH_MAX_S: String(opts.timeout + 30),
      POUCHDB_BENCH_CLEANUP: cleanupDirs.join(delimiter),
    },
  });
  state.server = child;
  let output = '';
  const keep = (b) => { output = (output + b.toString()).slice(-4000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  state.serverExited = new Promise((r) => child.on('exit', (code, sig) => r({ code, sig })));
  state.serverExited.then(({ code, sig }) => {
    if (!state.done && !state.stopping) fail(`pouchdb-server exited early (code ${code}, signal ${sig}):\n${output}`);
  });
  const base = `http://${HOST}:${port}`;
  const deadline = Date.now() + 30000;
  for (;;) {
    if (/already in use/.test(output)) throw new Error(`port ${port} is already in use on ${HOST}`);
    try {
      const info = await getJSON(`${base}/`);
      if (!info || info['express-pouchdb'] !== 'Welcome!') throw new Error(`not pouchdb-server: ${JSON.stringify(info)}`);
      return { base, info };
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`pouchdb-server not ready on ${base} after 30 s: ${e.message}\n${output}`);
      await sleep(100);
    }
  }
}

function replicate(PouchDB, src, dst, label, total) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let lastLog = t0;
    const rep = PouchDB.replicate(src, dst, { batch_size: opts.batchSize, batches_limit: opts.batchesLimit });
    state.replication = rep;
    rep.on('change', (info) => {
      const now = performance.now();
      if (now - lastLog > 5000) {
        lastLog = now;
        log(`${label}: ${info.docs_written}/${total} docs written, ${((now - t0) / 1000).toFixed(1)} s`);
      }
    });
    rep.on('complete', (info) => {
      const secs = (performance.now() - t0) / 1000;
      state.replication = null;
      if (info.status && info.status !== 'complete') return reject(new Error(`${label}: status ${info.status}`));
      if (info.doc_write_failures) return reject(new Error(`${label}: ${info.doc_write_failures} write failures`));
      resolve({ secs, info });
    });
    rep.on('error', (e) => { state.replication = null; reject(e); });
  });
}

async function main() {
  const PouchDB = require('pouchdb');
  if (opts.deviceAdapter === 'memory') PouchDB.plugin(require('pouchdb-adapter-memory'));
  const pouchdbVersion = PouchDB.version;
  const serverPkg = require('pouchdb-server/package.json');
  const serverCorePkg = require(require.resolve('pouchdb-core/package.json', { paths: [dirname(require.resolve('pouchdb-server/package.json'))] }));

  // documents
  const tg = performance.now();
  let docs;
  if (opts.docs) {
    docs = await readDocs(opts.docs, opts.countGiven ? opts.count : 0);
    if (opts.countGiven && docs.length < opts.count) throw new Error(`${opts.docs} has only ${docs.length} docs, --count ${opts.count}`);
    if (!docs.length) throw new Error(`${opts.docs} has no docs`);
  } else {
    docs = generateDocs(opts.count);
  }
  const N = docs.length;
  if (new Set(docs.map((d) => d._id)).size !== N) throw new Error('duplicate _id in documents');
  log(`${N} docs ${opts.docs ? `from ${opts.docs}` : 'generated'} in ${((performance.now() - tg) / 1000).toFixed(2)} s`);

  // server
  const port = opts.port || await freePort();
  const serverTmp = mkdtempSync(join(tmpdir(), 'pouchdb-bench-server-'));
  state.dirs.push(serverTmp);
  const devTmp = mkdtempSync(join(tmpdir(), 'pouchdb-bench-device-'));
  state.dirs.push(devTmp);
  const { base, info: welcome } = await startServer(port, serverTmp, opts.keep ? [] : [serverTmp, devTmp]);
  log(`pouchdb-server ${serverPkg.version} (pouchdb-core ${serverCorePkg.version}, ${opts.serverAdapter}) ready on ${base}`);

  const remoteUrl = `${base}/bench`;
  const remote = new PouchDB(remoteUrl);
  state.dbs.push(remote);
  await remote.info(); // creates the database

  const mkLocal = (name) => (opts.deviceAdapter === 'memory'
    ? new PouchDB(`${devTmp}/${name}`, { adapter: 'memory' })
    : new PouchDB(join(devTmp, name)));

  // device A: bulk load (not part of the timed replication)
  const deviceA = mkLocal('deviceA');
  state.dbs.push(deviceA);
  const tl = performance.now();
  for (let i = 0; i < N; i += 1000) {
    const res = await deviceA.bulkDocs(docs.slice(i, i + 1000));
    const bad = res.filter((r) => r.error);
    if (bad.length) throw new Error(`bulk load: ${bad.length} errors, first: ${JSON.stringify(bad[0])}`);
  }
  const loadS = (performance.now() - tl) / 1000;
  docs = null;
  const infoA = await deviceA.info();
  if (infoA.doc_count !== N) throw new Error(`device A has ${infoA.doc_count} docs, expected ${N}`);
  log(`device A (${infoA.adapter}) loaded ${N} docs in ${loadS.toFixed(2)} s`);

  // push: device A -> server
  const push = await replicate(PouchDB, deviceA, remote, 'push', N);
  const remoteInfo = await remote.info();
  if (remoteInfo.doc_count !== N) throw new Error(`server has ${remoteInfo.doc_count} docs after push, expected ${N}`);
  log(`push: ${N} docs in ${push.secs.toFixed(2)} s (${(N / push.secs).toFixed(0)} docs/s)`);

  // pull: server -> fresh device B
  const deviceB = mkLocal('deviceB');
  state.dbs.push(deviceB);
  const pull = await replicate(PouchDB, remote, deviceB, 'pull', N);
  const infoB = await deviceB.info();
  if (infoB.doc_count !== N) throw new Error(`device B has ${infoB.doc_count} docs after pull, expected ${N}`);
  log(`pull: ${N} docs in ${pull.secs.toFixed(2)} s (${(N / pull.secs).toFixed(0)} docs/s)`);

  const adapterServer = opts.serverAdapter === 'memory'
    ? 'memory (pouchdb-adapter-memory/memdown, pouchdb-server --in-memory)'
    : 'leveldb (pouchdb-adapter-leveldb/leveldown, on-disk temp dir)';
  const adapterDevice = opts.deviceAdapter === 'memory'
    ? 'memory (pouchdb-adapter-memory/memdown)'
    : `${infoA.adapter} (leveldown, on-disk temp dir)`;

  const result = {
    count: N,
    push_s: +push.secs.toFixed(3),
    pull_s: +pull.secs.toFixed(3),
    push_rps: +(N / push.secs).toFixed(1),
    pull_rps: +(N / pull.secs).toFixed(1),
    adapter_device: adapterDevice,
    adapter_server: adapterServer,
    pouchdb_version: pouchdbVersion,
    pouchdb_server_version: serverPkg.version,
    server_pouchdb_core_version: serverCorePkg.version,
    server_welcome_version: welcome && welcome.version,
    load_s: +loadS.toFixed(3),
    batch_size: opts.batchSize,
    batches_limit: opts.batchesLimit,
    docs_source: opts.docs ? 'file' : 'generated',
    node_version: process.version,
  };

  state.done = true;
  state.stopping = true;
  await cleanup();
  clearTimeout(watchdog);
  await new Promise((r) => process.stdout.write(`${JSON.stringify(result)}\n`, r));
}

main().then(
  () => process.exit(0),
  (e) => fail(e && e.stack || String(e)),
);
