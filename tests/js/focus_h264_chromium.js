// H.264 to `chorus call` through `chorus focus` (issue #12). One H.264 publisher and one `chorus call --focus`
// subscriber (webrtcbin; it sends VP8) in one call. The publisher is
//   page (default): a web-client page (web/call/) in headless Chromium that publishes H.264 only (?codec=h264), as a
//                   Chromium or Safari publisher that sends H.264 does;
//   bot:            `chorus call --focus --send-h264` (openh264enc).
// Checks:
//   - the publisher sends H.264 (page: outbound video codec video/H264; bot: its offer is H.264 only, see
//     MediaLoopback.H264BothWays);
//   - the subscriber decodes the publisher's video as H.264: its stats show h264_frames_decoded >= 30 for the
//     publisher and every video frame it decoded from the publisher was H.264; and its audio;
//   - the publisher decodes the subscriber (VP8 the other way; page mode).
// Usage (inside tests/netns/run.sh): node focus_h264_chromium.js /path/to/chorus /path/to/web [page|bot]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { startHs, waitFor, launchChromium, browserDeps, openFocusPage, createRoomWithFocus, spawnJson, sleep, api } = require('./hs_common');

const FOCUS = '@focus:localhost';
const ROOM = '#h264:localhost';
const MIN_FRAMES = 30;

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 170000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  const mode = process.argv[4] || 'page';
  let deps = null;
  if (mode === 'page') {
    deps = browserDeps({ sdk: false });
    if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
      console.log('SKIP: web/node_modules missing (run scripts/setup)');
      process.exit(77);
    }
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-h264-'));
  const hs = await startHs(chorus, { users: ['focus', 'alice', 'bot'], extra: mode === 'page' ? ['--web', webRoot] : [] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const chromium = deps ? await launchChromium(deps.chromium, deps.executable) : null;
  let focus = null;
  let bot = null;
  let pub = null;  // bot mode: the publishing `chorus call`
  let page = null;
  const callArgs = (user) => ['--log-level', 'info', 'call', '--homeserver', hs.url, '--user', user, '--password', 'pw',
    '--room', ROOM, '--json', '--focus', FOCUS, '--width', '320', '--height', '240', '--fps', '15',
    '--stats-interval', '1', '--no-commands'];
  try {
    const { roomId, token, invited } = await createRoomWithFocus(hs, 'h264', FOCUS);
    check(invited, 'room created, focus invited');
    focus = spawnJson(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1'], path.join(logDir, 'focus.err'));
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    if (!check(!!joined, 'the focus joins the room')) throw new Error('no focus');

    if (mode === 'page') {
      const opened = await openFocusPage(chromium.ctx, hs, 'alice', { room: ROOM, focus: FOCUS, create: true, extraQuery: '&codec=h264' });
      page = opened.page;
      check(opened.connected, 'alice (web client, H.264 only): connected to the focus');
    } else {
      pub = spawnJson(chorus, [...callArgs('alice'), '--create', '--send-h264'], path.join(logDir, 'alice.err'));
      check(!!await attempt('alice (chorus call --send-h264) to be in the call', () => pub.last('ready'), 20000),
        'alice (chorus call --send-h264) is in the call');
    }
    bot = spawnJson(chorus, callArgs('bot'), path.join(logDir, 'bot.err'));

    const peerIn = (proc, user) => {
      const s = proc.last('stats');
      return (s && (s.peers || []).find((p) => p.user_id === user)) || null;
    };
    const t0 = Date.now();
    await attempt('the bot to decode alice\'s H.264', () => {
      const p = peerIn(bot, '@alice:localhost');
      return !!p && p.h264_frames_decoded >= MIN_FRAMES && p.audio_frames_decoded > 0;
    }, 60000);
    const p = peerIn(bot, '@alice:localhost');
    console.log(`     (bot's stats for alice after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(p)})`);
    check(!!p && p.h264_frames_decoded >= MIN_FRAMES,
      `the bot decodes alice's video as H.264 (h264_frames_decoded ${p && p.h264_frames_decoded} >= ${MIN_FRAMES})`);
    check(!!p && p.h264_frames_decoded === p.video_frames_decoded,
      `every video frame the bot decoded from alice is H.264 (${p && p.h264_frames_decoded} of ${p && p.video_frames_decoded})`);
    check(!!p && p.audio_frames_decoded > 0, `the bot decodes alice's audio (${p && p.audio_frames_decoded} frames)`);

    if (page) {
      const snap = await page.evaluate(() => window.chorusFocus.snapshot());
      const sent = (snap.outbound || []).filter((o) => o.codec && o.framesEncoded > 0);
      console.log(`     (alice sends ${sent.map((o) => `${o.rid}:${o.codec} ${o.frameWidth}x${o.frameHeight} ${o.framesEncoded} frames`).join(', ')})`);
      check(sent.length > 0 && sent.every((o) => o.codec === 'video/H264'), 'alice publishes H.264 only (outbound video codec video/H264)');
      const sees = await attempt('alice to decode the bot', () => page.evaluate(() => {
        const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === '@bot:localhost');
        return !!t && t.framesDecoded >= 10 && t.audioSamplesReceived > 0;
      }), 30000);
      check(!!sees, 'alice decodes the bot\'s video (VP8) and audio');
    } else {
      const seen = await attempt('alice to decode the bot', () => {
        const q = peerIn(pub, '@bot:localhost');
        return !!q && q.video_frames_decoded >= 10 && q.audio_frames_decoded > 0;
      }, 30000);
      const q = peerIn(pub, '@bot:localhost');
      check(!!seen, `alice (--send-h264) decodes the bot's video and audio (${q && q.video_frames_decoded} video frames, ${q && q.h264_frames_decoded} of them H.264)`);
      check(!!q && q.h264_frames_decoded === 0, 'what alice decodes from the bot is not H.264 (the bot sends VP8)');
      // transport-cc: chorus call offers the extension; reported only (docs/endpoint.md: the focus's re-offers
      // leave it out of our send sections, so webrtcbin stops using it).
      const r = peerIn(pub, '@bot:localhost') || {};
      console.log(`     (alice's transport-cc feedback from the focus: ${r.twcc_recv_bps === undefined ? 'none' : r.twcc_recv_bps + ' b/s, loss ' + r.twcc_loss_pct + ' %'})`);
    }
  } catch (e) {
    check(false, 'exception: ' + e.message);
  }
  if (failures.length) {
    for (const f of fs.readdirSync(logDir)) {
      const t = fs.readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean);
      console.log(`--- ${f} (last 30 of ${t.length} lines)\n` + t.slice(-30).join('\n'));
    }
    if (bot) console.log('--- bot last stats: ' + JSON.stringify(bot.last('stats')));
    if (focus) console.log('--- focus last stats: ' + JSON.stringify(focus.last('stats')));
  }
  for (const proc of [bot, pub, focus]) if (proc) { try { proc.proc.kill('SIGTERM'); } catch {} }
  if (chromium) await chromium.close();
  await sleep(300);
  hs.stop();
  clearTimeout(overall);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(failures.length ? `RESULT: FAIL (${failures.length})` : 'RESULT: PASS');
  process.exit(failures.length ? 1 : 0);
})();
