// Staged memory probe of the WebSocket server (bench/ws/memory.sh): N connections, then
// connection_init on each, then one reportRaised subscription on each; the server's VmRSS after
// each stage. Connections open 100 at a time; the server closes one that sends no
// connection_init within 10 s, so the "open" figure is read right after the last one opened.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const a = {};
for (let i = 2; i < process.argv.length; i += 2) a[process.argv[i].slice(2)] = process.argv[i + 1];
const N = Number(a.n ?? 10000);
const tokens = readFileSync(a.tokens, 'utf8').trim().split('\n');
const SUB = 'subscription($r: String!) { reportRaised(regionCode: $r) { id category createdAt description } }';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const report = (label) => {
  const s = readFileSync(`/proc/${a.pid}/status`, 'utf8');
  const mb = (k) => (Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)[1]) / 1024).toFixed(1);
  console.log(`${label.padEnd(24)} RSS ${mb('VmRSS')} MB  HWM ${mb('VmHWM')} MB`);
};

report('idle');
const socks = [];
let acks = 0;
let next = 0;
async function opener() {
  while (next < N) {
    const k = next++;
    const proto = k % 2 ? 'graphql-ws' : 'graphql-transport-ws';
    await new Promise((done) => {
      const ws = new WebSocket(a.url, proto, { perMessageDeflate: false });
      Object.assign(ws, { proto, k });
      ws.on('open', () => { socks.push(ws); done(); });
      ws.on('error', (e) => { console.error('error', e.message); done(); });
      ws.on('message', (d) => {
        const s = d.toString();
        if (s.includes('connection_ack')) acks++;
        else if (s.includes('"ping"')) ws.send('{"type":"pong"}');
      });
      ws.on('close', (c, r) => { if (!ws.quiet) console.error('closed', c, r.toString()); });
    });
  }
}
await Promise.all(Array.from({ length: 100 }, opener));
await sleep(300);
report(`${socks.length} open`);
for (const ws of socks) {
  ws.send(JSON.stringify({ type: 'connection_init', payload: { Authorization: `Bearer ${tokens[ws.k % tokens.length]}` } }));
}
while (acks < socks.length) await sleep(200);
await sleep(4000);
report(`${acks} initialised`);
for (const ws of socks) {
  const type = ws.proto === 'graphql-transport-ws' ? 'subscribe' : 'start';
  ws.send(JSON.stringify({ id: '1', type, payload: { query: SUB, variables: { r: a.region ?? '450102' } } }));
}
await sleep(8000);
report(`${socks.length} subscribed`);
for (const ws of socks) { ws.quiet = true; ws.terminate(); }
await sleep(3000);
report('closed');
process.exit(0);
