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

// Resolves {ctx, close}; close() also removes the profile directory.
async function launchChromium(chromium, executablePath) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-chr-'));
  const ctx = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_ARGS });
  const close = async () => {
    try { await ctx.close(); } catch {}
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { ctx, close };
}

module.exports = { startHs, sleep, waitFor, launchChromium };
