// One call, every client (issue #14): through one `chorus focus`,
//   - two `chorus call --focus` bots (native, GStreamer webrtcbin),
//   - two web-client pages (web/call/, focus mode, simulcast),
//   - two minimal MSC3898 browser clients (focus_min_client.html: no SDK, keys remote tracks by msid track id)
//     that both announce the SAME stream and track ids ("collide-stream", "collide-audio", "collide-video"),
//     as a hostile or old client can.
// Every participant must decode audio and video of every other, and the minimal clients must see each other
// and everyone else under distinct track ids (no track overwrites another in their by-id maps), which needs the
// focus to forward colliding ids under ids it makes unique (docs/focus.md, "Stream and track ids").
// Prints, per client kind, the frames each participant decoded from each other one.
// Usage (inside tests/netns/run.sh): node focus_every_client_chromium.js /path/to/chorus /path/to/repo/web
'use strict';
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, sleep, api } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#every:localhost';
const KIND = { bot1: 'chorus call', bot2: 'chorus call', alice: 'web client', bob: 'web client',
  min1: 'minimal (colliding ids)', min2: 'minimal (colliding ids)' };
const BOTS = ['bot1', 'bot2'];
const PAGES = ['alice', 'bob'];
const MINS = ['min1', 'min2'];
const ALL = [...BOTS, ...PAGES, ...MINS];
const mxid = (u) => `@${u}:localhost`;
const MIN_FRAMES = 10;

function spawnJson(cmd, args, logFile) {
  const err = fs.openSync(logFile, 'w');
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', err] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  return { proc, lines, last: (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; } };
}

// Serves the minimal client page on 127.0.0.1 (a secure context for getUserMedia).
function serveMinClient() {
  const page = path.join(__dirname, 'focus_min_client.html');
  const srv = http.createServer((q, r) => {
    if (q.url.split('?')[0] !== '/') { r.statusCode = 404; return r.end(); }
    r.setHeader('content-type', 'text/html');
    fs.createReadStream(page).pipe(r);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () =>
    resolve({ url: `http://127.0.0.1:${srv.address().port}/`, close: () => srv.close() })));
}

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); dumpAndExit(1); }, 230000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-every-'));
  const hs = await startHs(chorus, { users: ['focus', ...ALL], extra: ['--web', webRoot] });
  const minServer = await serveMinClient();
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
    for (const u of [...PAGES, ...MINS]) {
      if (!pages[u]) continue;
      try {
        const s = PAGES.includes(u)
          ? await pages[u].evaluate(() => { const x = window.chorusFocus && window.chorusFocus.snapshot(); return x && { connected: x.connected, tiles: x.tiles, remoteTracks: x.remoteTracks, remoteMetadata: x.remoteMetadata }; })
          : await pages[u].evaluate(() => window.minClient.snapshot());
        console.log(`--- ${u}: ${JSON.stringify(s)}`);
      } catch (e) { console.log(`--- ${u}: ${e.message}`); }
    }
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
    const alice = await api(hs, 'POST', '/login', null,
      { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' });
    const created = await api(hs, 'POST', '/createRoom', alice.body.access_token, { preset: 'public_chat', room_alias_name: 'every' });
    const roomId = created.body.room_id;
    check(!!roomId, 'room created');
    const inv = await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, alice.body.access_token, { user_id: FOCUS });
    check(inv.status === 200, 'focus invited');
    focus = spawnJson(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1'], path.join(logDir, 'focus.err'));
    check(!!(await attempt('the focus to be ready', () => focus.last('ready'), 15000)), 'chorus focus is ready');
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, alice.body.access_token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    if (!check(!!joined, 'the focus accepts the room invite')) throw new Error('no focus');

    const newPage = async (u) => {
      const page = await ctx.newPage();
      pages[u] = page;
      page.on('pageerror', (e) => console.log(`PAGEERROR ${u}: ${e}`));
      return page;
    };
    // The web client: alice creates the call.
    const openWeb = async (u, create) => {
      const page = await newPage(u);
      const qs = `room=${encodeURIComponent(ROOM)}&focus=${encodeURIComponent(FOCUS)}` + (create ? '&create=1' : '');
      await page.goto(`${hs.url}/call/?${qs}`);
      await page.fill('#user', u);
      await page.fill('#password', 'pw');
      await page.click('button[type=submit]');
      const ok = await attempt(`${u} in the call`, () => page.evaluate(() =>
        !!window.chorusFocus && window.chorusFocus.mode === 'focus' && window.chorusFocus.connected), 40000);
      check(!!ok, `${u} (web client): connected to the focus`);
    };
    const openMin = async (u) => {
      const page = await newPage(u);
      const qs = new URLSearchParams({ hs: hs.url, user: u, password: 'pw', room: ROOM, focus: FOCUS, collide: '1' });
      await page.goto(`${minServer.url}?${qs}`);
      const ok = await attempt(`${u} connected`, () => page.evaluate(async () => {
        const s = await window.minClient.snapshot();
        return s.connected && s.dcState === 'open';
      }), 40000);
      const s = await page.evaluate(() => window.minClient.snapshot());
      check(!!ok, `${u} (minimal client): connected to the focus, data channel open (phase ${s.phase}${s.error ? ', ' + s.error : ''})`);
    };

    await openWeb('alice', true);
    for (const b of BOTS) {
      bots[b] = spawnJson(chorus, ['--log-level', 'info', 'call', '--homeserver', hs.url, '--user', b, '--password', 'pw',
        '--room', ROOM, '--json', '--focus', FOCUS, '--width', '320', '--height', '240', '--fps', '15',
        '--stats-interval', '1', '--no-commands'], path.join(logDir, `${b}.err`));
    }
    await openWeb('bob', false);
    for (const m of MINS) await openMin(m);

    // What each participant decoded from each other one: {video, audio} (frames; audio: decoded frames for the
    // bots, samples for browsers).
    const decoded = async (obs, other) => {
      if (BOTS.includes(obs)) {
        const s = bots[obs].last('stats');
        const p = s && (s.peers || []).find((x) => x.user_id === mxid(other));
        return { video: (p && p.video_frames_decoded) || 0, audio: (p && p.audio_frames_decoded) || 0,
          packets: (p && p.packets_received) || 0 };
      }
      if (PAGES.includes(obs)) {
        return pages[obs].evaluate((o) => {
          const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === o);
          return { video: (t && t.framesDecoded) || 0, audio: (t && t.audioSamplesReceived) || 0,
            packets: (t && t.audioPacketsReceived) || 0 };
        }, mxid(other));
      }
      const s = await pages[obs].evaluate(() => window.minClient.snapshot());
      const mine = s.tracks.filter((t) => t.user_id === mxid(other));
      const sum = (kind, f) => mine.filter((t) => t.kind === kind).reduce((a, t) => a + t[f], 0);
      return { video: sum('video', 'framesDecoded'), audio: sum('audio', 'audioSamples'),
        packets: sum('video', 'packets') + sum('audio', 'packets') };
    };
    const sees = async (obs, other) => {
      const d = await decoded(obs, other);
      return d.video >= MIN_FRAMES && d.audio > 0;
    };
    const t0 = Date.now();
    // Every 10 s while waiting, which pairs still decode nothing (observer <- publisher: video/audio): a
    // failure in CI then says how it got there.
    let lastProgress = Date.now();
    const everyone = await attempt('everyone to decode everyone', async () => {
      const missing = [];
      for (const o of ALL) {
        for (const x of ALL) {
          if (o === x) continue;
          const d = await decoded(o, x);
          if (!(d.video >= MIN_FRAMES && d.audio > 0)) missing.push(`${o}<-${x} ${d.video}/${d.audio} (${d.packets} pkts)`);
        }
      }
      if (missing.length && Date.now() - lastProgress >= 10000) {
        lastProgress = Date.now();
        console.log(`     (${((Date.now() - t0) / 1000).toFixed(0)} s: still waiting for ${missing.join(', ')})`);
      }
      return missing.length === 0;
    }, 120000);
    if (everyone) console.log(`     (everyone decoding everyone ${((Date.now() - t0) / 1000).toFixed(1)} s after the last client joined)`);
    await sleep(3000);  // a few more seconds of media for the table

    console.log('     decoded (observer <- publisher: video frames / audio: bot = frames, browser = samples):');
    for (const o of ALL) {
      const row = [];
      for (const x of ALL) {
        if (o === x) continue;
        const d = await decoded(o, x);
        row.push(`${x} ${d.video}/${d.audio}`);
        check(d.video >= MIN_FRAMES && d.audio > 0, `${o} (${KIND[o]}) decodes video and audio of ${x} (${KIND[x]}): ${d.video} video frames, audio ${d.audio}, ${d.packets} packets received`);
      }
      console.log(`     ${KIND[o]} ${o} <- ${row.join(', ')}`);
    }

    // The colliding minimal clients: each keys remote tracks by track id and still has one video and one audio
    // track per other participant, under ids that are unique and not its own.
    for (const m of MINS) {
      const s = await pages[m].evaluate(() => window.minClient.snapshot());
      const ids = s.tracks.map((t) => t.track_id);
      const own = Object.values(s.announced || {});
      check(s.collisions === 0, `${m}: no remote track overwrote another in its by-track-id map (${s.collisions} collisions)`);
      check(new Set(ids).size === ids.length && ids.every((i) => !own.includes(i)),
        `${m}: remote track ids unique and none equal to its own announced ids ${JSON.stringify(own)}: ${JSON.stringify(ids)}`);
      for (const x of ALL) {
        if (x === m) continue;
        const per = s.tracks.filter((t) => t.user_id === mxid(x));
        check(per.filter((t) => t.kind === 'video').length === 1 && per.filter((t) => t.kind === 'audio').length === 1,
          `${m}: exactly one audio and one video track of ${x} (${per.map((t) => t.kind + ':' + t.track_id).join(' ')})`);
      }
      const other = MINS.find((x) => x !== m);
      const streams = Object.entries(s.metadata).filter(([, v]) => v.user_id === mxid(other)).map(([k]) => k);
      console.log(`     (${m} sees ${other}, who announced collide-stream/collide-audio/collide-video, as stream ${streams.join(',')}, tracks ` +
        s.tracks.filter((t) => t.user_id === mxid(other)).map((t) => t.track_id).join(',') + ')');
    }
    const fst = focus.last('stats');
    check(!!fst && fst.ids_rewritten > 0, `the focus forwarded colliding ids under ids it made unique (ids_rewritten ${fst && fst.ids_rewritten})`);
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  if (failures.length) await dump();
  for (const b of Object.values(bots)) try { b.proc.kill('SIGTERM'); } catch {}
  if (focus) try { focus.proc.kill('SIGTERM'); } catch {}
  await closeChromium();
  minServer.close();
  await sleep(500);
  hs.stop();
  if (process.env.CHORUS_KEEP_TEST_DIR) console.log(`     (logs kept in ${logDir})`);
  else fs.rmSync(logDir, { recursive: true, force: true });
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : 'RESULT: PASS every client kind decodes every other through one focus');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
