// Shared helpers for the chorus hs real-client tests: start `chorus hs` (port 0) and find its port.
'use strict';
const { spawn, execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

// Starts `chorus hs` on 127.0.0.1:0 with a fresh data dir. Resolves {url, port, proc, dir, stop}.
function startHs(chorusBin, { users = [], extra = [] } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-hs-js-'));
  for (const u of users) {
    execFileSync(chorusBin, ['hs', 'register', '--data', dir, '--user', u, '--password', 'pw'], { stdio: 'ignore' });
  }
  const proc = spawn(chorusBin, ['hs', '--listen', '127.0.0.1:0', '--data', dir, '--no-rate-limit', ...extra],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = () => {
    try { proc.kill('SIGTERM'); } catch {}
    try { fs.rmSync(dir, { recursive: true, force: true }); } catch {}
  };
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} });
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('chorus hs did not start')), 10000);
    proc.stdout.on('data', (d) => {
      buf += d.toString();
      const m = buf.match(/listening on (http:\/\/127\.0\.0\.1:(\d+))/);
      if (m) { clearTimeout(timer); resolve({ url: m[1], port: Number(m[2]), proc, dir, stop }); }
    });
    proc.on('exit', (code) => reject(new Error('chorus hs exited with ' + code)));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await fn();
    if (v) return v;
    await sleep(50);
  }
  throw new Error('timed out waiting for ' + what);
}

// Headless Debian Chromium with fake camera and microphone. Inside `unshare -n` only lo exists: let WebRTC gather
// 127.0.0.1 and skip mDNS obfuscation of host candidates (interop-matrix-js-sdk.md §3).
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'];

// A browser as a person runs it: fake camera and microphone, nothing else changed (no loopback, no mDNS flags).
const CHROMIUM_PLAIN_ARGS = CHROMIUM_ARGS.filter((a) =>
  a !== '--allow-loopback-in-peer-connection' && !a.startsWith('--disable-features=WebRtcHideLocalIpsWithMdns'));

// Resolves {ctx, close}; close() also removes the profile directory. `plain`: CHROMIUM_PLAIN_ARGS.
// `fakeDevice`: options of the fake camera and microphone (e.g. "fps=10"; Chromium's default camera is 20 fps).
// `contextPerPage`: each ctx.newPage() in a browser context of its own, as each person has a browser of their own.
// Pages of one context share its HTTP connection pool: six per host, so six pages' /sync long-polls would hold
// every connection and each page's other requests (join, state, to-device) would wait for a long-poll to end.
async function launchChromium(chromium, executablePath, { plain = false, fakeDevice = '', contextPerPage = false } = {}) {
  const args = (plain ? CHROMIUM_PLAIN_ARGS : CHROMIUM_ARGS).map((a) =>
    (fakeDevice && a === '--use-fake-device-for-media-stream' ? `${a}=${fakeDevice}` : a));
  if (contextPerPage) {
    const browser = await chromium.launch({ executablePath, headless: true, args });
    const ctx = { newPage: async () => (await browser.newContext()).newPage() };
    return { ctx, close: async () => { try { await browser.close(); } catch {} } };
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-chr-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args });
  const close = async () => {
    try { await ctx.close(); } catch {}
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { ctx, close };
}

// playwright-core (and the SDK bundle, if asked) from tests/js/node_modules and Debian's Chromium, or exit 77
// (CTest: skipped) when scripts/setup has not installed them.
// `olm`: also @matrix-org/olm (the global Olm of the SDK's legacy crypto).
function browserDeps({ sdk = true, olm = false } = {}) {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
    if (sdk) require.resolve('matrix-js-sdk/dist/browser-matrix.js');
    if (olm) require.resolve('@matrix-org/olm/olm.wasm');
  } catch (e) {
    console.log('SKIP: playwright-core / matrix-js-sdk / @matrix-org/olm not installed (run scripts/setup)');
    process.exit(77);
  }
  const executable = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executable)) { console.log('SKIP: no ' + executable); process.exit(77); }
  return { chromium, executable };
}

// Serves client.html (one SDK client per page), the SDK bundle and, when installed, @matrix-org/olm's olm.js and
// olm.wasm (for login(..., {e2e: true})) on 127.0.0.1:0. Resolves {url, close}.
function serveSdkPage() {
  const http = require('http');
  const bundle = require.resolve('matrix-js-sdk/dist/browser-matrix.js');
  const olm = (f) => { try { return require.resolve('@matrix-org/olm/' + f); } catch { return null; } };
  const files = { '/': path.join(__dirname, 'client.html'), '/browser-matrix.js': bundle, '/olm.js': olm('olm.js'), '/olm.wasm': olm('olm.wasm') };
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
  const web = http.createServer((q, r) => {
    const f = files[q.url.split('?')[0]];
    if (!f) { r.statusCode = 404; return r.end(); }
    r.setHeader('content-type', types[path.extname(f)]);
    fs.createReadStream(f).pipe(r);
  });
  return new Promise((resolve) => web.listen(0, '127.0.0.1', () =>
    resolve({ url: `http://127.0.0.1:${web.address().port}/`, close: () => web.close() })));
}

// One client-server API call: {status, body}. `p` is the path after /_matrix/client/v3.
async function api(hs, method, p, token, body) {
  const r = await fetch(hs.url + '/_matrix/client/v3' + p, { method,
    headers: Object.assign({ 'content-type': 'application/json' }, token ? { Authorization: 'Bearer ' + token } : {}),
    body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

// One `chorus call --json` process (320x240 at 15 fps, stats every 0.5 s) in `room`: its JSON lines, ready(),
// the last stats' peers() / peer(userId), summary() once it has left, command(), stop() (SIGTERM, resolves at exit).
function startChorusCall(chorus, hsUrl, user, room, extra = []) {
  const readline = require('readline');
  const args = ['call', '--homeserver', hsUrl, '--user', user, '--password', 'pw', '--room', room, '--json',
    '--width', '320', '--height', '240', '--fps', '15', '--stats-interval', '0.5', ...extra];
  const proc = spawn(chorus, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  let err = '';
  proc.stderr.on('data', (d) => { err += d.toString(); if (err.length > 20000) err = err.slice(-10000); });
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  const events = (kind) => lines.filter((l) => l.event === kind);
  const peers = () => { const s = events('stats'); return s.length ? s[s.length - 1].peers : []; };
  return {
    user, proc, lines, exited, stderr: () => err, events, peers,
    ready: () => events('ready')[0],
    peer: (userId) => peers().find((p) => p.user_id === userId) || null,
    summary: () => events('summary')[0] || null,
    command: (c) => proc.stdin.write(c + '\n'),
    stop: () => { try { proc.kill('SIGTERM'); } catch {} return exited; },
  };
}

// A web-client page (web/call/, served by `chorus hs --web`) signed in as `user` (password "pw") in focus mode with
// `focus` named in the URL; `create` adds ?create=1. Resolves the page once it is connected to the focus (ICE +
// DTLS), or null after `ms`. Page errors are printed.
async function openFocusPage(ctx, hs, user, { room, focus, create = false, extraQuery = '', ms = 40000 }) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`PAGEERROR ${user}: ${e}`));
  const q = `room=${encodeURIComponent(room)}&focus=${encodeURIComponent(focus)}` + (create ? '&create=1' : '') + extraQuery;
  await page.goto(`${hs.url}/call/?${q}`);
  await page.fill('#user', user);
  await page.fill('#password', 'pw');
  await page.click('button[type=submit]');
  let connected = false;
  try {
    connected = await waitFor(`${user} connected`, () => page.evaluate(() => !!window.chorusFocus && window.chorusFocus.connected), ms);
  } catch {}
  return { page, connected: !!connected };
}

// A child process whose stdout is JSON lines (chorus focus/call/bench --json); stderr goes to logFile. Killed
// when the test exits. last(ev): the newest line with that "event".
function spawnJson(cmd, args, logFile) {
  const { spawn: spawnChild } = require('child_process');
  const readline = require('readline');
  const proc = spawnChild(cmd, args, { stdio: ['pipe', 'pipe', fs.openSync(logFile, 'w')] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  return { proc, lines, logFile, last: (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; } };
}

// alice (password "pw") creates a public room with the alias `alias` and invites `focus`. Resolves
// {roomId, token, invited} (token: alice's access token).
async function createRoomWithFocus(hs, alias, focus) {
  const alice = await api(hs, 'POST', '/login', null,
    { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' });
  const token = alice.body.access_token;
  const created = await api(hs, 'POST', '/createRoom', token, { preset: 'public_chat', room_alias_name: alias });
  const roomId = created.body.room_id;
  const inv = await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, token, { user_id: focus });
  return { roomId, token, invited: !!roomId && inv.status === 200 };
}

module.exports = { spawnJson, createRoomWithFocus, startHs, sleep, waitFor, launchChromium, browserDeps, serveSdkPage, api, startChorusCall, openFocusPage };
