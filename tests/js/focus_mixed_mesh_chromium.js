// Mixed call (issue #14, docs/focus.md "Mixed calls"): one call with
//   - a matrix-js-sdk 28.1.0 GroupCall in headless Chromium (client.html) that knows no foci: full mesh only,
//   - two `chorus call --focus` bots,
//   - one web-client page (web/call/, focus mode),
// and one `chorus focus`. The focus users meet each other through the focus and each holds one mesh leg with the
// SDK client, so every pair decodes both ways. User ids make chorus both caller (@bot -> @meg) and callee
// (@meg -> @zed) of the SDK; the web client is its caller as @alice (default) and its callee as @zoe (3rd argument).
// Prints, per client kind, what it decoded from each other kind (video frames / audio).
// With `cap` (5th argument) every focus user runs with a mesh peer cap of 0 (--max-mesh-peers 0, ?maxMeshPeers=0):
// the focus users still decode each other, the SDK client is declined (its invites get m.call.reject with
// reason mesh_peer_limit, nobody calls it) and decodes nobody; each focus user counts it.
// Usage (inside tests/netns/run.sh): node focus_mixed_mesh_chromium.js /path/to/chorus /path/to/repo/web [alice|zoe] [cap]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, sleep, api, serveSdkPage } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps();

const FOCUS = '@focus:localhost';
const ROOM = '#mixed:localhost';
// The web client's user: @alice calls the SDK's @meg, @zoe is called by it (the lower user id calls).
const WEB = process.argv[4] || 'alice';
const WEB_CALLS = WEB < 'meg';
const CAP = process.argv[5] === 'cap';
// Pairs that decode each other: all, or (cap) only the focus users.
const expectPair = (a, b) => !CAP || (a !== 'meg' && b !== 'meg');
const KIND = { [WEB]: 'web client (focus)', bot: 'chorus call --focus', zed: 'chorus call --focus', meg: 'js-sdk 28.1.0 (mesh only)' };
const BOTS = ['bot', 'zed'];
const ALL = [WEB, 'bot', 'zed', 'meg'];
const mxid = (u) => `@${u}:localhost`;
const MIN_FRAMES = 10;

function spawnJson(cmd, args, logFile) {
  const err = fs.openSync(logFile, 'w');
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', err] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
  return { proc, lines, exited,
    last: (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; } };
}

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); dumpAndExit(1); }, 230000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-mixed-'));
  const hs = await startHs(chorus, { users: ['focus', ...ALL], extra: ['--web', webRoot] });
  const sdkPage = await serveSdkPage();
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  let focus = null;
  const bots = {};
  const pages = {};
  let dumped = false;
  async function dump() {
    if (dumped) return;
    dumped = true;
    try {
      if (pages.web) console.log(`--- ${WEB}: ` + JSON.stringify(await pages.web.evaluate(() => {
        const x = window.chorusFocus && window.chorusFocus.snapshot();
        return x && { connected: x.connected, tiles: x.tiles, mesh: x.mesh, wire: window.chorusFocus.wire.filter((w) => w.dir.includes('mesh')).slice(-40) };
      })));
    } catch (e) { console.log(`--- ${WEB}: ` + e.message); }
    try {
      if (pages.meg) {
        console.log('--- meg: ' + JSON.stringify(await pages.meg.evaluate(() => mediaReport())));
        console.log('--- meg log: ' + JSON.stringify(await pages.meg.evaluate(() => window.log.slice(-40))));
      }
    } catch (e) { console.log('--- meg: ' + e.message); }
    if (focus) console.log('--- focus last stats: ' + JSON.stringify(focus.last('stats')));
    for (const [u, b] of Object.entries(bots)) console.log(`--- ${u} last stats: ` + JSON.stringify(b.last('stats')));
    for (const f of fs.readdirSync(logDir)) {
      const t = fs.readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean);
      console.log(`--- ${f} (last 30 of ${t.length} lines)\n` + t.slice(-30).join('\n'));
    }
  }
  async function dumpAndExit(code) {
    try { await dump(); } catch {}
    process.exit(code);
  }

  try {
    const owner = await api(hs, 'POST', '/login', null,
      { type: 'm.login.password', identifier: { type: 'm.id.user', user: WEB }, password: 'pw' });
    const created = await api(hs, 'POST', '/createRoom', owner.body.access_token, { preset: 'public_chat', room_alias_name: 'mixed' });
    const roomId = created.body.room_id;
    check(!!roomId, 'room created');
    const inv = await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, owner.body.access_token, { user_id: FOCUS });
    check(inv.status === 200, 'focus invited');
    focus = spawnJson(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1'], path.join(logDir, 'focus.err'));
    check(!!(await attempt('the focus to be ready', () => focus.last('ready'), 15000)), 'chorus focus is ready');
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, owner.body.access_token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    if (!check(!!joined, 'the focus accepts the room invite')) throw new Error('no focus');

    // The web client creates the call, in focus mode.
    const page = await ctx.newPage();
    pages.web = page;
    page.on('pageerror', (e) => console.log(`PAGEERROR ${WEB}: ${e}`));
    await page.goto(`${hs.url}/call/?room=${encodeURIComponent(ROOM)}&focus=${encodeURIComponent(FOCUS)}&create=1` + (CAP ? '&maxMeshPeers=0' : ''));
    await page.fill('#user', WEB);
    await page.fill('#password', 'pw');
    await page.click('button[type=submit]');
    check(!!(await attempt('the web client in the call', () => page.evaluate(() =>
      !!window.chorusFocus && window.chorusFocus.mode === 'focus' && window.chorusFocus.connected), 40000)),
    `${WEB} (web client): connected to the focus`);

    for (const b of BOTS) {
      bots[b] = spawnJson(chorus, ['--log-level', 'info', 'call', '--homeserver', hs.url, '--user', b, '--password', 'pw',
        '--room', ROOM, '--json', '--focus', FOCUS, '--width', '320', '--height', '240', '--fps', '15',
        '--stats-interval', '1', '--no-commands', ...(CAP ? ['--max-mesh-peers', '0'] : [])], path.join(logDir, `${b}.err`));
    }
    check(!!(await attempt('bots ready', () => BOTS.every((b) => bots[b].last('ready')), 20000)), 'both chorus bots are in');

    // The SDK client knows no foci: it joins the call in full mesh.
    const meg = await ctx.newPage();
    pages.meg = meg;
    meg.on('pageerror', (e) => console.log(`PAGEERROR meg: ${e}`));
    await meg.goto(sdkPage.url);
    await meg.evaluate(([h, u]) => login(h, u), [hs.url, 'meg']);
    check(!!(await meg.evaluate((r) => joinRoomAndFindCall(r), roomId)), 'meg (js-sdk 28.1.0) finds the call');
    await meg.evaluate(() => enter());

    // What `obs` decoded from `other`: {video, audio} (video frames; audio: decoded frames for the bots,
    // samples for browsers).
    const decoded = async (obs, other) => {
      if (BOTS.includes(obs)) {
        const s = bots[obs].last('stats');
        const p = s && (s.peers || []).find((x) => x.user_id === mxid(other));
        return { video: (p && p.video_frames_decoded) || 0, audio: (p && p.audio_frames_decoded) || 0, via: p && p.via };
      }
      if (obs === WEB) {
        return pages.web.evaluate((o) => {
          const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === o);
          return { video: (t && t.framesDecoded) || 0, audio: (t && t.audioSamplesReceived) || 0, via: t && (t.via || 'focus') };
        }, mxid(other));
      }
      const r = await pages.meg.evaluate(() => mediaReport());
      const c = r.calls.find((x) => x.opponent === mxid(other));
      return { video: (c && c.in_video && c.in_video.framesDecoded) || 0, audio: (c && c.in_audio && c.in_audio.samples) || 0,
        via: c && `mesh, ${c.direction}` };
    };
    const sees = async (obs, other) => {
      const d = await decoded(obs, other);
      return d.video >= MIN_FRAMES && d.audio > 0;
    };
    const t0 = Date.now();
    const everyone = await attempt('every pair to decode both ways', async () => {
      for (const o of ALL) for (const x of ALL) if (o !== x && expectPair(o, x) && !(await sees(o, x))) return false;
      return true;
    }, 120000);
    if (everyone) console.log(`     (every ${CAP ? 'focus-user ' : ''}pair decoding both ways ${((Date.now() - t0) / 1000).toFixed(1)} s after the SDK client entered)`);
    await sleep(10000);  // ten more seconds of media for the table (cap: the SDK's retry loop runs meanwhile)

    console.log('     decoded (observer <- publisher: video frames / audio: chorus = frames, browsers = samples; path):');
    for (const o of ALL) {
      const row = [];
      for (const x of ALL) {
        if (o === x) continue;
        const d = await decoded(o, x);
        row.push(`${KIND[x]} ${x}: ${d.video}/${d.audio} (${d.via || '-'})`);
        if (expectPair(o, x)) {
          check(d.video >= MIN_FRAMES && d.audio > 0, `${o} (${KIND[o]}) decodes video and audio of ${x} (${KIND[x]}): ${d.video} video frames, audio ${d.audio}, via ${d.via}`);
        } else {
          check(d.video === 0, `${o} (${KIND[o]}) gets no video of ${x} (${KIND[x]}): the mesh peer cap is 0 (${d.video} frames)`);
        }
      }
      console.log(`     ${KIND[o]} ${o} <- ${row.join('; ')}`);
    }

    if (CAP) {
      // Declined, with a reason, and counted; the focus legs are unharmed.
      for (const b of BOTS) {
        const f = (bots[b].last('stats') || {}).focus || {};
        check(Array.isArray(f.mesh_peers) && f.mesh_peers.length === 0 && f.max_mesh_peers === 0 && f.state === 'connected',
          `${b}: no mesh peer (cap ${f.max_mesh_peers}), focus leg ${f.state}`);
      }
      const snap = await pages.web.evaluate(() => ({ mesh: window.chorusFocus.snapshot().mesh,
        rejects: window.chorusFocus.wire.filter((w) => w.dir === 'out-mesh' && w.type === 'm.call.reject').map((w) => w.content.reason) }));
      check(snap.mesh.legs.length === 0 && snap.mesh.counters.invites_rejected_cap >= 1 && snap.rejects.every((r) => r === 'mesh_peer_limit') && snap.rejects.length >= 1,
        `${WEB} (web client): the SDK's invites rejected with reason mesh_peer_limit (${snap.rejects.length}, counted ${snap.mesh.counters.invites_rejected_cap})`);
      for (const b of BOTS) bots[b].proc.kill('SIGTERM');
      for (const b of BOTS) await bots[b].exited;
      for (const b of BOTS) {
        const sig = (bots[b].last('summary') || {}).signalling || {};
        console.log(`     ${b} summary counters: mesh_peer_legs ${sig.mesh_peer_legs}, mesh_peers_over_cap ${sig.mesh_peers_over_cap}`);
        check(sig.mesh_peer_legs === 0 && sig.mesh_peers_over_cap >= 1,
          `${b}: ${b === 'bot' ? 'did not call the SDK client' : 'rejected the SDK client\'s invites'}, counted mesh_peers_over_cap ${sig.mesh_peers_over_cap}`);
      }
      throw Object.assign(new Error('cap done'), { done: true });
    }
    // The mesh legs are where they should be: each focus user holds exactly one (with meg), the SDK three.
    for (const b of BOTS) {
      const f = (bots[b].last('stats') || {}).focus || {};
      check(JSON.stringify(f.mesh_peers) === JSON.stringify([`${mxid('meg')}/${(await pages.meg.evaluate(() => client.getDeviceId()))}`]),
        `${b}: one mesh peer, the SDK client (${JSON.stringify(f.mesh_peers)}), next to the focus leg (${f.state})`);
    }
    const am = await pages.web.evaluate(() => window.chorusFocus.snapshot().mesh);
    check(am && am.legs.length === 1 && am.legs[0].user_id === mxid('meg') && am.legs[0].outgoing === WEB_CALLS,
      `${WEB} (web client): one mesh leg with the SDK client, ${WEB_CALLS ? 'placed by us' : 'placed by the SDK'} (${JSON.stringify(am && am.legs)})`);
    const mr = await pages.meg.evaluate(() => mediaReport());
    const dirs = Object.fromEntries(mr.calls.map((c) => [c.opponent, c.direction]));
    check(mr.calls.length === 3 && dirs[mxid(WEB)] === (WEB_CALLS ? 'inbound' : 'outbound') && dirs[mxid('bot')] === 'inbound' &&
      dirs[mxid('zed')] === 'outbound', `meg (SDK): three mesh calls, from bot, to zed, ${WEB_CALLS ? 'from' : 'to'} ${WEB} (${JSON.stringify(dirs)})`);
    const fst = focus.last('stats');
    console.log('     focus stats: ' + JSON.stringify(fst && { participants: fst.participants, conferences: fst.conferences }));

    // The SDK client leaves: every focus user drops its mesh leg, the focus legs stay.
    await pages.meg.evaluate(() => leave());
    const dropped = await attempt('mesh legs to meg dropped', async () => {
      const a = await pages.web.evaluate(() => window.chorusFocus.snapshot().mesh.legs.length);
      return a === 0 && BOTS.every((b) => { const f = (bots[b].last('stats') || {}).focus || {}; return Array.isArray(f.mesh_peers) && f.mesh_peers.length === 0 && f.state === 'connected'; });
    }, 15000);
    check(!!dropped, `meg leaves: ${WEB} and both bots drop their mesh leg and stay connected to the focus`);
    for (const b of BOTS) bots[b].proc.kill('SIGTERM');
    for (const b of BOTS) await bots[b].exited;
    for (const b of BOTS) {
      const s = bots[b].last('summary') || {};
      const sig = s.signalling || {};
      console.log(`     ${b} summary counters: mesh_peer_legs ${sig.mesh_peer_legs}, mesh_peers_over_cap ${sig.mesh_peers_over_cap}, mesh_invites_in_focus_mode ${sig.mesh_invites_in_focus_mode}`);
      check(sig.mesh_peer_legs >= 1 && sig.mesh_peers_over_cap === 0, `${b}: mesh legs counted in the summary, none over the cap`);
    }
  } catch (e) {
    if (!e.done) {
      console.error(e);
      failures.push('exception: ' + e.message);
    }
  }
  if (failures.length) await dump();
  for (const b of Object.values(bots)) try { b.proc.kill('SIGTERM'); } catch {}
  if (focus) try { focus.proc.kill('SIGTERM'); } catch {}
  await closeChromium();
  sdkPage.close();
  await sleep(500);
  hs.stop();
  if (process.env.CHORUS_KEEP_TEST_DIR || failures.length) console.log(`     (logs kept in ${logDir})`);
  else fs.rmSync(logDir, { recursive: true, force: true });
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : CAP
    ? 'RESULT: PASS with a mesh peer cap of 0 the mesh-only client is declined with a reason and the focus users still meet'
    : 'RESULT: PASS a mesh-only js-sdk client and focus users decode each other both ways');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
