// Load client of the WebSocket subscription benchmark (issue 6, "Benchmark"): opens N
// subscribers of `reportRaised(regionCode)` spread over worker processes, then files reports
// over HTTP at a fixed rate, each carrying its send time in `description`, and measures for every
// (event, subscriber) pair the delay from the mutation being sent to the event being received.
// Sampling the server's RSS/CPU from /proc is done here too, so every figure shares one clock.
//
// With one region every subscriber receives every event (the worst case). With `--regions`
// (spread mode) subscriber i watches region i mod K and event k is about a child of region
// k mod K, so an event is expected by the acknowledged subscribers of its region only.
//
// Run through bench/ws/run.sh, which starts the server, mints tokens and renders RESULTS.md.
// `node client.mjs --help` lists the options. Needs the `ws` package (installed by run.sh).

import { fork } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const HELP = `client.mjs --http URL --tokens FILE --mutator-token FILE --children FILE [options]
  --subs N             subscribers (10000)
  --procs P            worker processes holding the subscribers (1)
  --rate R             mutations per second (50)
  --duration S         seconds of mutations (30)
  --region CODE        regionCode of every subscription (450102)
  --regions A,B,...    spread mode, instead of --region: subscriber i watches region i mod K,
                       mutation k is about a child of region k mod K
  --proto P            transport | legacy | mixed (half each) (mixed)
  --connect-parallel C WebSocket handshakes in flight per worker (100)
  --drain S            at most this long to wait for late events after the last mutation (30)
  --server-pid PID     the server, for RSS and CPU from /proc
  --clk-tck N          kernel clock ticks per second (100)
  --subscribe 0        connect and init only, never subscribe (memory of bare connections)
  --out FILE           write the result as JSON
Token and children files: one per line, either "TOKEN" / "CHILD_ID" (one region only) or
"REGION TOKEN" / "REGION CHILD_ID" (the region a token may watch, the region a child's reports
are published to); subscriber i of region r uses the region's tokens round-robin.`;

// Latency histogram: 0.1 ms buckets up to 120 s; later deliveries land in the last bucket.
const BUCKET_MS = 0.1;
const BUCKETS = 1_200_000;
const SUBSCRIPTION =
  'subscription($r: String!) { reportRaised(regionCode: $r) { id category createdAt description } }';
const CREATE_REPORT = 'mutation($i: CreateReportInput!) { createReport(input: $i) { id } }';
const MARK = /wsbench seq=(\d+) t=([0-9.]+)/;

/** Wall-clock milliseconds with sub-millisecond resolution, comparable across processes. */
const nowMs = () => performance.timeOrigin + performance.now();

function args(argv) {
  const o = {
    subs: 10000, procs: 1, rate: 50, duration: 30, region: '450102', proto: 'mixed',
    connectParallel: 100, drain: 30, clkTck: 100,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') { console.log(HELP); process.exit(0); }
    if (a === '--worker') { o.worker = true; continue; }
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const v = argv[++i];
    if (v === undefined) throw new Error(`${a} needs a value`);
    o[k] = /^\d+(\.\d+)?$/.test(v) && k !== 'region' && k !== 'regions' ? Number(v) : v;
  }
  return o;
}

// ---------------------------------------------------------------- worker: holds subscribers

function worker() {
  let cfg;
  const hist = new Uint32Array(BUCKETS);
  let perSeq = new Uint32Array(0);
  const st = {
    opened: 0, acked: 0, failed: 0, closed: 0, delivered: 0, errors: 0, unmarked: 0,
    closeCodes: {}, firstError: null, sumMs: 0, maxMs: 0,
    // Acknowledged subscribers per region (index into cfg.regions): the expected deliveries
    // of an event are those of its region.
    ackedByRegion: [],
    // Events of another region than the subscriber's: the hub routed one to the wrong topic.
    misrouted: 0,
  };
  const sockets = [];

  function onMessage(ws, proto, ri, data) {
    const s = data.toString();
    if (s.includes('"next"') || s.includes('"data"')) {
      const t = nowMs();
      const m = MARK.exec(s);
      if (!m) {
        // An error instead of an event (e.g. "events were skipped because this subscription
        // fell behind"), or an event that is not ours.
        if (s.includes('"errors"')) { st.errors++; st.firstError ??= s.slice(0, 500); } else st.unmarked++;
        return;
      }
      const seq = Number(m[1]);
      // Not an expected delivery (the event is about another region): counted apart, untimed.
      if (seq % cfg.regions.length !== ri) { st.misrouted++; return; }
      const ms = Math.max(0, t - Number(m[2]));
      st.delivered++;
      st.sumMs += ms;
      if (ms > st.maxMs) st.maxMs = ms;
      hist[Math.min(BUCKETS - 1, Math.floor(ms / BUCKET_MS))]++;
      if (seq < perSeq.length) perSeq[seq]++;
      if (s.includes('"errors"')) {
        st.errors++;
        if (!st.firstError) st.firstError = s.slice(0, 500);
      }
      return;
    }
    if (s.includes('"connection_ack"')) {
      st.ackedByRegion[ri]++;
      if (cfg.noSubscribe) { st.acked++; return; }
      const type = proto === 'graphql-transport-ws' ? 'subscribe' : 'start';
      ws.send(JSON.stringify({ id: '1', type, payload: { query: SUBSCRIPTION, variables: { r: cfg.regions[ri] } } }));
      st.acked++;
      return;
    }
    if (s.includes('"ping"')) { ws.send('{"type":"pong"}'); return; }
    if (s.includes('"ka"') || s.includes('"pong"')) return;
    // error / connection_error / complete: remember the first one
    st.errors++;
    if (!st.firstError) st.firstError = s.slice(0, 500);
  }

  function open(i) {
    return new Promise((resolve) => {
      const proto = cfg.proto === 'legacy' || (cfg.proto === 'mixed' && i % 2 === 1)
        ? 'graphql-ws' : 'graphql-transport-ws';
      const ri = i % cfg.regions.length;
      const mine = cfg.tokens[ri];
      const token = mine[Math.floor(i / cfg.regions.length) % mine.length];
      const ws = new WebSocket(cfg.wsUrl, proto, { perMessageDeflate: false, handshakeTimeout: 30000 });
      let settled = false;
      const done = () => { if (!settled) { settled = true; resolve(); } };
      ws.on('open', () => {
        st.opened++;
        ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${token}` } }));
      });
      ws.on('message', (data) => { onMessage(ws, proto, ri, data); done(); });
      ws.on('error', (e) => {
        st.failed++;
        if (!st.firstError) st.firstError = `socket ${i}: ${e.message}`;
        done();
      });
      ws.on('close', (code, reason) => {
        st.closed++;
        st.closeCodes[code] = (st.closeCodes[code] || 0) + 1;
        if (code !== 1000 && code !== 1005 && !st.firstError) st.firstError = `closed ${code} ${reason}`;
        done();
      });
      sockets.push(ws);
    });
  }

  async function connectAll() {
    let next = cfg.from;
    const lanes = Array.from({ length: Math.min(cfg.connectParallel, cfg.to - cfg.from) }, async () => {
      while (next < cfg.to) await open(next++);
    });
    await Promise.all(lanes);
  }

  process.on('message', async (msg) => {
    if (msg.cmd === 'connect') {
      cfg = msg.cfg;
      perSeq = new Uint32Array(cfg.totalSeq);
      st.ackedByRegion = new Array(cfg.regions.length).fill(0);
      await connectAll();
      process.send({ cmd: 'connected', st });
    } else if (msg.cmd === 'progress') {
      process.send({ cmd: 'progress', st });
    } else if (msg.cmd === 'report') {
      // Send the histogram sparsely: only non-empty buckets.
      const buckets = [];
      for (let b = 0; b < BUCKETS; b++) if (hist[b]) buckets.push([b, hist[b]]);
      process.send({ cmd: 'report', st, buckets, perSeq: Array.from(perSeq), cpu: process.cpuUsage() });
    } else if (msg.cmd === 'close') {
      for (const ws of sockets) ws.terminate();
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------- coordinator

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  } catch { return null; }
}

function procMem(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k) => Number((new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s) || [])[1] || 0);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch { return null; }
}

function machineTicks() {
  const l = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = l[3] + (l[4] || 0);
  return { total: l.reduce((a, b) => a + b, 0), idle };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function metric(http, name) {
  try {
    const body = await (await fetch(`${http}/metrics`)).text();
    const m = new RegExp(`^${name} ([0-9.e+]+)$`, 'm').exec(body);
    return m ? Number(m[1]) : null;
  } catch { return null; }
}

function pct(buckets, total, q) {
  if (!total) return null;
  const want = Math.ceil(total * q);
  let seen = 0;
  for (const [b, n] of buckets) {
    seen += n;
    if (seen >= want) return (b + 1) * BUCKET_MS;
  }
  return null;
}

async function coordinator(o) {
  for (const k of ['http', 'tokens', 'mutatorToken', 'children']) {
    if (!o[k]) throw new Error(`--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())} is required`);
  }
  const lines = (f) => readFileSync(f, 'utf8').split('\n').map((x) => x.trim()).filter(Boolean);
  const regions = String(o.regions ?? o.region).split(',').map((x) => x.trim()).filter(Boolean);
  const K = regions.length;
  // "REGION VALUE" lines, or bare values when there is only one region: one list per region.
  const byRegion = (file, what) => {
    const out = regions.map(() => []);
    for (const l of lines(file)) {
      const f = l.split(/\s+/);
      if (f.length === 1 && K === 1) { out[0].push(f[0]); continue; }
      const ri = regions.indexOf(f[0]);
      if (f.length !== 2) throw new Error(`${file}: expected "REGION ${what}" lines, got ${l.slice(0, 40)}`);
      if (ri >= 0) out[ri].push(f[1]);
    }
    const empty = regions.filter((_, ri) => !out[ri].length);
    if (empty.length) throw new Error(`${file}: no ${what} for region(s) ${empty.slice(0, 10).join(', ')}`);
    return out;
  };
  const tokens = byRegion(o.tokens, 'TOKEN');
  const mutator = lines(o.mutatorToken)[0];
  const children = byRegion(o.children, 'CHILD_ID');
  const totalSeq = Math.round(o.rate * o.duration);
  const wsUrl = `${o.http.replace(/^http/, 'ws')}/graphql/ws`;
  const log = (...a) => console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a);
  const clk = o.clkTck;
  const server = o.serverPid ? Number(o.serverPid) : null;
  const result = {
    subs: o.subs, procs: o.procs, rate: o.rate, duration: o.duration, region: K === 1 ? regions[0] : null,
    proto: o.proto, tokens: tokens.reduce((a, t) => a + t.length, 0), expectedMutations: totalSeq,
    counties: K, regions,
  };

  // 1. Subscribers, split over worker processes.
  const workers = [];
  const per = Math.ceil(o.subs / o.procs);
  const memBefore = server && procMem(server);
  result.serverRssIdleMb = memBefore && memBefore.rssMb;
  const t0 = performance.now();
  const connected = [];
  for (let p = 0; p < o.procs; p++) {
    const from = p * per;
    const to = Math.min(o.subs, from + per);
    if (from >= to) break;
    const w = fork(new URL(import.meta.url).pathname, ['--worker'], { stdio: 'inherit' });
    workers.push(w);
    connected.push(new Promise((res) => w.on('message', (m) => { if (m.cmd === 'connected') res(m.st); })));
    w.send({
      cmd: 'connect',
      cfg: { wsUrl, tokens, regions, noSubscribe: o.subscribe === 0, proto: o.proto, from, to, connectParallel: o.connectParallel, totalSeq },
    });
  }
  log(`opening ${o.subs} subscribers in ${workers.length} process(es) to ${wsUrl}`
    + (K > 1 ? `, spread over ${K} regions` : ''));
  const conn = await Promise.all(connected);
  const acked = conn.reduce((a, s) => a + s.acked, 0);
  const ackedByRegion = regions.map((_, ri) => conn.reduce((a, s) => a + s.ackedByRegion[ri], 0));
  result.ackedPerCountyMin = Math.min(...ackedByRegion);
  result.ackedPerCountyMax = Math.max(...ackedByRegion);
  const failed = conn.reduce((a, s) => a + s.failed + (s.opened - s.acked), 0);
  result.connectSeconds = (performance.now() - t0) / 1000;
  result.acked = acked;
  log(`${acked} acknowledged, ${failed} failed/refused in ${result.connectSeconds.toFixed(1)} s`
    + (conn.find((s) => s.firstError) ? `; first problem: ${conn.find((s) => s.firstError).firstError}` : ''));

  // Subscribing has no acknowledgement: wait for the server to count them where it can tell
  // (`carehub_ws_subscribers`, when the gauge is maintained), else give it a fixed settle time.
  const want = acked;
  let live = null;
  for (let i = 0; i < 120; i++) {
    live = await metric(o.http, 'carehub_ws_subscribers');
    if (live !== null && live >= want) break;
    if (i >= 4 && !live) break; // the gauge is not maintained: fall back to settling
    await sleep(500);
  }
  result.serverSubscribers = live;
  if (live !== null && live >= want) log(`server reports ${live} live subscriptions`);
  else {
    const settle = 3000 + o.subs / 2;
    log(`server gauge carehub_ws_subscribers says ${live}; settling ${(settle / 1000).toFixed(1)} s instead`);
    await sleep(settle);
  }
  await sleep(1000);
  const memConnected = server && procMem(server);
  result.serverRssConnectedMb = memConnected && memConnected.rssMb;

  // 2. Mutations at a fixed rate (open loop: each is sent on schedule, whatever came back).
  let ok = 0, bad = 0, firstBad = null, inflight = 0, skipped = 0;
  const okSeq = new Uint8Array(totalSeq);
  const mutLat = [];
  const cpu0 = server && procStat(server);
  const mach0 = machineTicks();
  const wall0 = performance.now();
  const pending = [];
  log(`firing ${totalSeq} createReport at ${o.rate}/s for ${o.duration} s`);
  for (let k = 0; k < totalSeq; k++) {
    const due = wall0 + (k * 1000) / o.rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (inflight >= 512) { skipped++; continue; }
    inflight++;
    const sent = nowMs();
    const body = JSON.stringify({
      query: CREATE_REPORT,
      variables: {
        i: {
          // Round-robin over the regions, and over each region's children in turn.
          childId: children[k % K][Math.floor(k / K) % children[k % K].length], category: 'PSYCHOLOGICAL',
          discoveredAt: new Date().toISOString(), reportedTo: ['CIVIL_AFFAIRS'],
          description: `wsbench seq=${k} t=${sent.toFixed(3)}`,
        },
      },
    });
    pending.push(fetch(`${o.http}/graphql`, {
      method: 'POST', body,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${mutator}` },
    }).then(async (r) => {
      const j = await r.json();
      if (r.ok && !j.errors && j.data && j.data.createReport) { ok++; okSeq[k] = 1; }
      else { bad++; firstBad ??= JSON.stringify(j).slice(0, 400); }
    }).catch((e) => { bad++; firstBad ??= String(e); })
      .finally(() => { inflight--; mutLat.push(nowMs() - sent); }));
  }
  await Promise.all(pending);
  const wall1 = performance.now();
  const cpu1 = server && procStat(server);
  const mach1 = machineTicks();
  result.mutationsOk = ok;
  result.mutationsFailed = bad + skipped;
  result.firstMutationError = firstBad;
  result.mutationSeconds = (wall1 - wall0) / 1000;
  mutLat.sort((a, b) => a - b);
  result.mutationP50Ms = mutLat[Math.floor(mutLat.length * 0.5)] ?? null;
  result.mutationP99Ms = mutLat[Math.min(mutLat.length - 1, Math.floor(mutLat.length * 0.99))] ?? null;
  if (server && result.mutationSeconds > 0) result.serverCpuPct = ((cpu1 - cpu0) / clk) / result.mutationSeconds * 100;
  const mt = mach1.total - mach0.total;
  result.machineBusyPct = mt ? (1 - (mach1.idle - mach0.idle) / mt) * 100 : null;
  log(`mutations: ${ok} ok, ${bad + skipped} failed in ${result.mutationSeconds.toFixed(1)} s`
    + (firstBad ? `; first failure: ${firstBad}` : ''));

  // 3. Drain: wait until every expected delivery arrived or nothing new came for 3 s.
  // Each acknowledged mutation is expected by the acknowledged subscribers of its region.
  let expected = 0;
  for (let k = 0; k < totalSeq; k++) if (okSeq[k]) expected += ackedByRegion[k % K];
  result.expectedDeliveries = expected;
  result.subscribersPerEvent = ok ? expected / ok : null;
  const progress = () => Promise.all(workers.map((w) => new Promise((res) => {
    const h = (m) => { if (m.cmd === 'progress') { w.off('message', h); res(m.st.delivered); } };
    w.on('message', h);
    w.send({ cmd: 'progress' });
  }))).then((a) => a.reduce((x, y) => x + y, 0));
  let last = -1, stillSince = performance.now();
  const drainEnd = performance.now() + o.drain * 1000;
  while (performance.now() < drainEnd) {
    const d = await progress();
    if (d >= expected) break;
    if (d !== last) { last = d; stillSince = performance.now(); } else if (performance.now() - stillSince > 3000) break;
    await sleep(250);
  }
  result.drainSeconds = (performance.now() - wall1) / 1000;

  // 4. Collect and merge.
  const reports = await Promise.all(workers.map((w) => new Promise((res) => {
    const h = (m) => { if (m.cmd === 'report') { w.off('message', h); res(m); } };
    w.on('message', h);
    w.send({ cmd: 'report' });
  })));
  const merged = new Map();
  const perSeq = new Array(totalSeq).fill(0);
  let delivered = 0, errors = 0, unmarked = 0, closed = 0, maxMs = 0, sumMs = 0, firstError = null, clientCpuUs = 0;
  let misrouted = 0;
  const closeCodes = {};
  for (const r of reports) {
    for (const [b, n] of r.buckets) merged.set(b, (merged.get(b) || 0) + n);
    r.perSeq.forEach((n, i) => { perSeq[i] += n; });
    delivered += r.st.delivered; errors += r.st.errors; unmarked += r.st.unmarked; closed += r.st.closed;
    misrouted += r.st.misrouted;
    maxMs = Math.max(maxMs, r.st.maxMs); sumMs += r.st.sumMs;
    firstError ??= r.st.firstError;
    for (const [c, n] of Object.entries(r.st.closeCodes)) closeCodes[c] = (closeCodes[c] || 0) + n;
    clientCpuUs += r.cpu.user + r.cpu.system;
  }
  const buckets = [...merged.entries()].sort((a, b) => a[0] - b[0]);
  const memEnd = server && procMem(server);
  Object.assign(result, {
    delivered, deliveredPct: expected ? (delivered / expected) * 100 : null,
    eventsWithAllSubscribers: perSeq.filter((n, k) => okSeq[k] && n >= ackedByRegion[k % K]).length,
    eventsWithNone: perSeq.filter((n) => n === 0).length,
    deliveriesPerSec: result.mutationSeconds > 0 ? delivered / result.mutationSeconds : 0,
    p50Ms: pct(buckets, delivered, 0.5), p90Ms: pct(buckets, delivered, 0.9),
    p99Ms: pct(buckets, delivered, 0.99), maxMs, meanMs: delivered ? sumMs / delivered : null,
    eventErrors: errors, unmarked, misrouted, closedDuringRun: closed, closeCodes, firstError,
    serverRssEndMb: memEnd && memEnd.rssMb, serverRssPeakMb: memEnd && memEnd.hwmMb,
    clientWorkerCpuSeconds: clientCpuUs / 1e6,
  });
  for (const w of workers) w.send({ cmd: 'close' });
  const f = (x, d = 1) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  log(`delivered ${delivered} of ${expected} (${f(result.deliveredPct)} %), latency p50 ${f(result.p50Ms)} ms `
    + `p99 ${f(result.p99Ms)} ms max ${f(maxMs)} ms; server RSS peak ${f(result.serverRssPeakMb)} MB, `
    + `CPU ${f(result.serverCpuPct)} % of one core`);
  if (o.out) writeFileSync(o.out, JSON.stringify(result, null, 2));
  console.log(JSON.stringify(result));
}

const o = args(process.argv.slice(2));
if (o.worker) worker();
else coordinator(o).catch((e) => { console.error(e); process.exit(1); });
