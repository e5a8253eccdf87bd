// Interop: two matrix-js-sdk 28.1.0 GroupCall clients in headless Chromium plus two `chorus call` processes in
// one full-mesh call on `chorus hs`. User ids are chosen so chorus is caller to everyone (@aaron) and callee of
// everyone (@zed). Checks media both ways on every pair, mute in both directions, the seq edge cases (chorus never
// sends a gap; chorus handles to-device messages reordered by a proxy), and leave/terminate from either side.
// Usage (inside tests/netns/run.sh): node chorus_interop_chromium.js /path/to/chorus
'use strict';
const http = require('http');
const path = require('path');
const { startHs, sleep, waitFor, launchChromium, browserDeps, serveSdkPage, startChorusCall: startChorus } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps();

const MIN_VIDEO_FRAMES = 30;

// A proxy in front of the homeserver that holds every incremental /sync request for a moment (so to-device
// messages pile up into batches) and reverses the order of the to-device events in each reply, so the chorus
// behind it must put the SDK's messages back in seq order.
function startReorderingProxy(target) {
  const t = new URL(target);
  let reordered = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      if (req.url.includes('/sync') && req.url.includes('since=')) await sleep(400);
      const up = http.request({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: req.headers },
        (r) => {
          const body = [];
          r.on('data', (c) => body.push(c));
          r.on('end', () => {
            let out = Buffer.concat(body);
            if (req.url.includes('/sync') && r.statusCode === 200) {
              try {
                const j = JSON.parse(out.toString());
                const ev = j.to_device && j.to_device.events;
                if (ev && ev.length > 1) { ev.reverse(); reordered += ev.length; }
                out = Buffer.from(JSON.stringify(j));
              } catch {}
            }
            const headers = { ...r.headers, 'content-length': out.length };
            res.writeHead(r.statusCode, headers);
            res.end(out);
          });
        });
      up.on('error', () => { res.statusCode = 502; res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ url: `http://127.0.0.1:${server.address().port}`, close: () => server.close(), count: () => reordered })));
}

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 240000);
  const chorus = process.argv[2] || path.join(__dirname, '../../build/default/apps/chorus/chorus');
  const users = ['aaron', 'bob', 'carol', 'zed'];
  const hs = await startHs(chorus, { users });
  const proxy = await startReorderingProxy(hs.url);
  const web = await serveSdkPage();
  const pageUrl = web.url;
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  const C = {};
  const cleanup = async () => {
    for (const c of Object.values(C)) { try { c.proc.kill('SIGKILL'); } catch {} }
    await closeChromium();
    web.close(); proxy.close(); hs.stop();
  };
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); };
  const uid = (u) => `@${u}:localhost`;
  try {
    const P = {};
    for (const w of ['bob', 'carol']) {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => console.log(`[${w}] PAGEERROR ${e}`));
      await p.goto(pageUrl);
      await p.evaluate(([h, u]) => login(h, u), [hs.url, w]);
      P[w] = p;
    }
    // Members may end the call too (by default only the creator may write org.matrix.msc3401.call).
    const { roomId } = await P.bob.evaluate(() => createRoomAndCall({
      power_level_content_override: { events: { 'org.matrix.msc3401.call': 0, 'org.matrix.msc3401.call.member': 0 } } }));
    check(!!(await P.carol.evaluate((r) => joinRoomAndFindCall(r), roomId)), 'carol (SDK) finds the call');
    C.aaron = startChorus(chorus, hs.url, 'aaron', roomId);
    C.zed = startChorus(chorus, proxy.url, 'zed', roomId);  // behind the reordering proxy
    await waitFor('chorus processes ready', () => C.aaron.ready() && C.zed.ready(), 20000);
    for (const w of ['bob', 'carol']) await P[w].evaluate(() => enter());

    // Every pair, both directions.
    const browserOk = (r) => r.calls.length === 3 && r.calls.every((c) => c.in_video?.framesDecoded > 0 && c.in_audio?.samples > 0);
    const chorusOk = (c) => ['bob', 'carol', c.user === 'aaron' ? 'zed' : 'aaron'].every((o) => {
      const p = c.peer(uid(o));
      return p && p.state === 'connected' && p.audio_frames_decoded > 0 && p.video_frames_decoded >= MIN_VIDEO_FRAMES;
    });
    let reps = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 90000) {
      reps = await Promise.all(['bob', 'carol'].map((w) => P[w].evaluate(() => mediaReport())));
      if (reps.every(browserOk) && chorusOk(C.aaron) && chorusOk(C.zed)) break;
      await sleep(1000);
    }
    reps.forEach((r, i) => console.log(['bob', 'carol'][i], JSON.stringify(r.calls.map((c) => ({ opp: c.opponent, dir: c.direction, st: c.state, v: c.in_video?.framesDecoded, a: c.in_audio?.samples })))));
    for (const c of [C.aaron, C.zed]) console.log(c.user, JSON.stringify(c.peers().map((p) => ({ u: p.user_id, st: p.state, a: p.audio_frames_decoded, v: p.video_frames_decoded }))));
    check(reps.every(browserOk), 'SDK clients decode audio and video from everyone (incl. both chorus)');
    check(chorusOk(C.aaron), 'chorus @aaron (caller of all) decodes audio and video from everyone');
    check(chorusOk(C.zed), 'chorus @zed (callee of all, behind a reordering proxy) decodes audio and video from everyone');
    const dirs = reps.map((r) => Object.fromEntries(r.calls.map((c) => [c.opponent, c.direction])));
    check(dirs.every((d) => d[uid('aaron')] === 'inbound' && d[uid('zed')] === 'outbound'),
      'chorus is caller (to @bob, @carol) and callee (from @bob, @carol)');
    check(proxy.count() > 0, `the proxy reordered ${proxy.count()} to-device events for chorus @zed`);

    // Mute, both directions.
    await P.bob.evaluate(() => mute(true));
    let seen = false;
    try {
      seen = await waitFor('chorus sees bob muted', () => C.aaron.peer(uid('bob'))?.audio_muted === true && C.zed.peer(uid('bob'))?.audio_muted === true, 10000);
    } catch {}
    check(!!seen, 'a mute in the browser appears in chorus\'s view');
    C.zed.command('mute-audio');
    let seen2 = false;
    try {
      seen2 = await waitFor('SDK sees zed muted', async () => (await P.carol.evaluate((u) => remoteAudioMuted(u), uid('zed'))) === true &&
        (await P.bob.evaluate((u) => remoteAudioMuted(u), uid('zed'))) === true, 10000);
    } catch {}
    // js-sdk holds every message after a missing seq forever: a late message getting through proves no gap.
    check(!!seen2, 'a mute in chorus appears in the SDK (and proves chorus sent no seq gap)');

    // Leave from chorus: the SDK clients drop @aaron.
    await C.aaron.stop();
    for (const w of ['bob', 'carol']) {
      let gone = false;
      try {
        gone = await waitFor(`${w} drops aaron`, async () => {
          const r = await P[w].evaluate(() => mediaReport());
          return !r.participants.includes(uid('aaron')) && !r.calls.some((c) => c.opponent === uid('aaron'));
        }, 10000);
      } catch {}
      check(!!gone, `${w} (SDK) drops chorus @aaron after it leaves`);
    }
    // Leave from the SDK: chorus @zed ends its leg to @carol.
    await P.carol.evaluate(() => leave());
    let dropped = false;
    try { dropped = await waitFor('zed drops carol', () => C.zed.events('leg').some((l) => l.user_id === uid('carol') && l.state === 'ended'), 10000); } catch {}
    check(!!dropped, 'chorus @zed drops @carol after she leaves (SDK)');

    // Terminate from chorus: @zed ends the call; the SDK's group call ends.
    C.zed.command('terminate');
    let bobEnded = false;
    try { bobEnded = await waitFor('bob sees the end', async () => (await P.bob.evaluate(() => gcState())) === 'ended', 10000); } catch {}
    check(!!bobEnded, 'terminate from chorus: the SDK\'s group call ends');
    await C.zed.exited;
    const sig = (C.zed.events('summary')[0] || {}).signalling || {};
    console.log('zed signalling counters', JSON.stringify(sig));
    check(sig.seq_held > 0 && sig.seq_gaps_skipped === 0,
      `chorus @zed put ${sig.seq_held} early SDK messages back in order, skipping none`);

    // Terminate from the SDK: a new room and call by @bob (SDK), joined by chorus @aaron, ended by @bob.
    const { roomId: room2 } = await P.bob.evaluate(() => createRoomAndCall());
    C.aaron2 = startChorus(chorus, hs.url, 'aaron', room2);
    await waitFor('aaron2 ready', () => C.aaron2.ready(), 20000);
    await P.bob.evaluate(() => enter());
    let up = false;
    try { up = await waitFor('aaron2 <-> bob media', () => { const p = C.aaron2.peer(uid('bob')); return p && p.video_frames_decoded > 0; }, 30000); } catch {}
    check(!!up, 'chorus joins the SDK\'s new call and media flows');
    await P.bob.evaluate(() => terminate());
    let ended = false;
    try {
      ended = await waitFor('aaron2 sees the call end', () => C.aaron2.events('call').some((e) => e.call_id === null && e.entered === false), 10000);
    } catch {}
    check(!!ended, 'terminate from the SDK: chorus sees the call end and leaves it');
    await C.aaron2.stop();
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  for (const c of Object.values(C)) if (c.stderr().includes('AddressSanitizer')) failures.push(c.user + ': sanitizer report');
  await cleanup();
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : 'RESULT: PASS SDK <-> chorus interop');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
