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
async function launchChromium(chromium, executablePath, { plain = false } = {}) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-chr-'));
  const args = plain ? CHROMIUM_PLAIN_ARGS : CHROMIUM_ARGS;
  const ctx = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args });
  const close = async () => {
    try { await ctx.close(); } catch {}
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { ctx, close };
}

// playwright-core (and the SDK bundle, if asked) from tests/js/node_modules and Debian's Chromium, or exit 77
// (CTest: skipped) when scripts/setup has not installed them.
function browserDeps({ sdk = true } = {}) {
  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
    if (sdk) require.resolve('matrix-js-sdk/dist/browser-matrix.js');
  } catch (e) {
    console.log('SKIP: playwright-core / matrix-js-sdk not installed (run scripts/setup)');
    process.exit(77);
  }
  const executable = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(executable)) { console.log('SKIP: no ' + executable); process.exit(77); }
  return { chromium, executable };
}

// Serves client.html (one SDK client per page) and the SDK bundle on 127.0.0.1:0. Resolves {url, close}.
function serveSdkPage() {
  const http = require('http');
  const bundle = require.resolve('matrix-js-sdk/dist/browser-matrix.js');
  const web = http.createServer((q, r) => {
    const u = q.url.split('?')[0];
    const f = u === '/' ? path.join(__dirname, 'client.html') : u === '/browser-matrix.js' ? bundle : null;
    if (!f) { r.statusCode = 404; return r.end(); }
    r.setHeader('content-type', f.endsWith('.js') ? 'text/javascript' : 'text/html');
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

module.exports = { startHs, sleep, waitFor, launchChromium, browserDeps, serveSdkPage, api };
