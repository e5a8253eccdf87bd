// TURN to the focus from a browser: the web client (web/call/, served by `chorus hs`) in focus mode with ?relay=1
// (RTCPeerConnection iceTransportPolicy "relay": only coturn's relayed candidates) and one `chorus call --focus` bot,
// through `chorus focus` (ICE-lite: the page checks the focus's host candidates through coturn). coturn is started
// here on the namespace's NIC address and handed out by chorus hs's /voip/turnServer. Checks: the page and the bot
// decode each other; the page's selected candidate pair is relayed; the focus sends to the page at coturn's relayed
// address; coturn logged the allocation.
// Usage (inside tests/netns/run.sh): node focus_turn_chromium.js /path/to/chorus /path/to/repo/web
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn, execFileSync } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, api } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#turnweb:localhost';
const RELAY_PORTS = [49152, 49400];

function spawnJson(cmd, args, logFile) {
  const err = fs.openSync(logFile, 'w');
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', err] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  return { proc, lines, last: (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; } };
}

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 170000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  let turnserver = null;
  try { turnserver = execFileSync('sh', ['-c', 'command -v turnserver']).toString().trim(); } catch {}
  if (!turnserver) { console.log("SKIP: coturn's turnserver is not installed (scripts/setup installs it)"); process.exit(77); }
  const ip = Object.values(os.networkInterfaces()).flat().some((a) => a && a.address === '198.18.0.1') ? '198.18.0.1' : '127.0.0.1';
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-turn-web-'));
  const turnLog = path.join(logDir, 'turn.log');
  const turn = spawn(turnserver, ['-n', '--listening-ip', ip, '--relay-ip', ip, '--listening-port', '3478',
    '--min-port', String(RELAY_PORTS[0]), '--max-port', String(RELAY_PORTS[1]), '--lt-cred-mech', '--user', 'chorus:secret',
    '--realm', 'localhost', '--allow-loopback-peers', '--no-cli', '--no-tls', '--no-dtls',
    '--pidfile', path.join(logDir, 'turn.pid'), '--log-file', 'stdout', '--simple-log', '--verbose'],
  { stdio: ['ignore', fs.openSync(turnLog, 'w'), 'ignore'] });
  process.on('exit', () => { try { turn.kill('SIGKILL'); } catch {} });
  const hsConfig = path.join(logDir, 'hs.json');
  fs.writeFileSync(hsConfig, JSON.stringify({ turn: { uris: [`turn:${ip}:3478?transport=udp`], username: 'chorus', password: 'secret', ttl: 3600 } }));
  const focusConfig = path.join(logDir, 'focus.json');
  fs.writeFileSync(focusConfig, JSON.stringify({ allowed_servers: ['localhost'] }));

  const hs = await startHs(chorus, { users: ['focus', 'alice', 'bot1'], extra: ['--web', webRoot, '--config', hsConfig] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  let focus = null;
  let bot = null;
  let page = null;
  try {
    const alice = await api(hs, 'POST', '/login', null,
      { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' });
    const turnServer = await api(hs, 'GET', '/voip/turnServer', alice.body.access_token);
    check(turnServer.status === 200 && (turnServer.body.uris || []).length > 0, 'chorus hs hands out the coturn relay');
    const created = await api(hs, 'POST', '/createRoom', alice.body.access_token, { preset: 'public_chat', room_alias_name: 'turnweb' });
    const roomId = created.body.room_id;
    const inv = await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, alice.body.access_token, { user_id: FOCUS });
    check(!!roomId && inv.status === 200, 'room created, focus invited');
    focus = spawnJson(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1', '--config', focusConfig], path.join(logDir, 'focus.err'));
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, alice.body.access_token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    if (!check(!!joined, 'the focus joins ' + JSON.stringify(focus.last('ready')))) throw new Error('no focus');

    page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`PAGEERROR: ${e}`));
    const q = `room=${encodeURIComponent(ROOM)}&focus=${encodeURIComponent(FOCUS)}&create=1&relay=1`;
    await page.goto(`${hs.url}/call/?${q}`);
    await page.fill('#user', 'alice');
    await page.fill('#password', 'pw');
    await page.click('button[type=submit]');
    const inCall = await attempt('alice in the call', () => page.evaluate(() => !!window.chorusFocus && window.chorusFocus.mode === 'focus'), 30000);
    check(!!inCall, 'alice (?relay=1) joins in focus mode');
    const connected = await attempt('alice connected to the focus', () => page.evaluate(() => window.chorusFocus.connected), 40000);
    check(!!connected, 'alice: connected to the focus through the relay (ICE+DTLS)');

    bot = spawnJson(chorus, ['--log-level', 'info', 'call', '--homeserver', hs.url, '--user', 'bot1', '--password', 'pw',
      '--room', ROOM, '--json', '--focus', FOCUS, '--width', '320', '--height', '240', '--fps', '15',
      '--stats-interval', '1', '--no-commands'], path.join(logDir, 'bot1.err'));
    const pageSees = () => page.evaluate(() => {
      const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === '@bot1:localhost');
      return !!t && t.framesDecoded >= 10 && t.audioSamplesReceived > 0;
    });
    const botSees = () => {
      const s = bot.last('stats');
      const p = s && (s.peers || []).find((x) => x.user_id === '@alice:localhost');
      return !!p && p.video_frames_decoded >= 10 && p.audio_frames_decoded > 0;
    };
    await attempt('alice and bot1 to decode each other', async () => (await pageSees()) && botSees(), 60000);
    check(await pageSees(), 'alice (relay only) decodes bot1\'s video and audio');
    check(botSees(), 'bot1 decodes alice\'s video and audio');

    const pair = await page.evaluate(async () => {
      const stats = await window.chorusFocus.pc.getStats();
      let sel = null;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) sel = stats.get(s.selectedCandidatePairId); });
      if (!sel) return null;
      const l = stats.get(sel.localCandidateId), r = stats.get(sel.remoteCandidateId);
      return { local: l && `${l.candidateType} ${l.protocol} ${l.address}:${l.port}`, remote: r && `${r.candidateType} ${r.address}:${r.port}` };
    });
    check(!!pair && /^relay /.test(pair.local), `alice's selected pair is relayed (${JSON.stringify(pair)})`);
    const parts = (focus.last('stats') || {}).participants || [];
    const a = parts.find((p) => p.user_id === '@alice:localhost') || {};
    const m = /^(.*):(\d+)$/.exec(a.selected || '');
    check(!!m && m[1] === ip && Number(m[2]) >= RELAY_PORTS[0] && Number(m[2]) <= RELAY_PORTS[1],
      `the focus sends to alice at coturn's relayed address (${a.selected})`);
    const allocations = (fs.readFileSync(turnLog, 'utf8').match(/ALLOCATE processed, success/g) || []).length;
    check(allocations >= 1, `coturn logged ${allocations} successful allocation(s)`);
  } catch (e) {
    check(false, 'exception: ' + e.message);
  }
  if (failures.length) {
    for (const f of fs.readdirSync(logDir)) {
      if (!/\.(err|log)$/.test(f)) continue;
      const t = fs.readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean);
      console.log(`--- ${f} (last 25 of ${t.length} lines)\n` + t.slice(-25).join('\n'));
    }
    if (page) { try { console.log('--- page: ' + JSON.stringify(await page.evaluate(() => window.chorusFocus && window.chorusFocus.snapshot()))); } catch {} }
  }
  for (const p of [bot, focus]) { if (p) { try { p.proc.kill('SIGTERM'); } catch {} } }
  await closeChromium();
  try { turn.kill('SIGTERM'); } catch {}
  hs.stop();
  clearTimeout(overall);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(failures.length ? `RESULT: FAIL (${failures.length})` : 'RESULT: PASS');
  process.exit(failures.length ? 1 : 0);
})();
