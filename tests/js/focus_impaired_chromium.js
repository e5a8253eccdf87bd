// Browsers through `chorus focus` on an impaired link (issue #12): two web-client pages (web/call/, focus mode) reach
// the focus only through `chorus bench impair`, a UDP relay with random loss and delay in both directions. The focus
// binds 198.18.0.1 and advertises 198.18.0.2 (--public-ip), where the relay listens on the focus's port; so every
// media packet crosses the relay. Checks, for each page and each impairment:
//   - both pages connect and decode each other's video and audio;
//   - over a window on one layer (25 s in the loss case), the subscriber decodes >= 90 % of the frames its
//     publisher encoded on the layer the focus forwards, and >= 95 % for both directions together (loss case;
//     see CASES.loss);
//   - losses were recovered: subscribers NACKed, the focus answered NACKs from its buffer and NACKed publishers,
//     publishers retransmitted;
//   - RTX (RFC 4588), on by default: the pages accept the focus's rtx/apt offer, the focus's retransmissions
//     reached them as RTX (inbound-rtp retransmittedPacketsReceived, the focus's rtx_sent), and the publishers'
//     RTX was unwrapped upstream (rtx_unwrapped); with `chorus focus --no-rtx` (CHORUS_FOCUS_ARGS;
//     focus_impaired_loss-nortx_chromium) no RTX flows either way;
// Impairments (argument 3, default "loss"): "loss" = 5 % random loss each way; "loss-up" / "loss-down" = 5 % one
// way only; "rtt" = 75 ms each way (150 ms RTT, checked in the publishers' RTCP) with 1 % loss; "none" = the relay
// without impairment (the baseline). The window's stats are polled fresh in both pages at once, so its two ends line up.
// Usage (inside tests/netns/run.sh): node focus_impaired_chromium.js /path/to/chorus /path/to/web [loss|rtt|cap|cap-rtt|pause]
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, api, sleep, openFocusPage, spawnJson, createRoomWithFocus } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#impaired:localhost';
const PAGES = ['alice', 'bob'];
const FOCUS_IP = '198.18.0.1';
const RELAY_IP = '198.18.0.2';
// RTX both ways unless `chorus focus --no-rtx` (in $CHORUS_FOCUS_ARGS); checked in the loss case.
const RTX = !(process.env.CHORUS_FOCUS_ARGS || '').split(' ').includes('--no-rtx');
const CASES = {
  // The issue asks >= 95 % of the frames sent decoded. Until 2026-12-06 one run in ~5 fell to ~88 % together:
  // a 3.3 s freeze, a packet the focus had given up NACKing upstream (or whose late repair it dropped) until
  // Chromium's own keyframe request after 3 s without a decodable frame. The focus now forwards such a late
  // repair, asks for a keyframe when it gives up, and (session 16) NACKs upstream ten times, not three
  // (docs/congestion-control.md). In session 17 two CI rehearsals on the idle VM still gave 94.5 % and 92.7 %
  // together (local runs 94.0-97.0 %), so CI asserted only 90 %. Session 18: the focus resends a repair that
  // was lost too one subscriber RTT after the last copy, no longer at least 50 ms later (the frame had been
  // played out by then): 14 runs of 15 s on the idle VM, 94.4-99.0 % together (mean 97.0 %, one below 95 %,
  // when both directions froze 0.2 s at once). The window is now 25 s, which narrows the spread, and CI
  // asserts the issue's 95 % together and 90 % for each direction.
  loss: { args: ['--up-loss', '0.05', '--down-loss', '0.05'], window_s: 25, min_decoded: 0.90, aim_decoded: 0.95,
    min_together: 0.95, expect_nacks: true },
  'loss-up': { args: ['--up-loss', '0.05'], window_s: 15, min_decoded: 0.95, expect_nacks: true },
  'loss-down': { args: ['--down-loss', '0.05'], window_s: 15, min_decoded: 0.95, expect_nacks: true },
  none: { args: [], window_s: 15, min_decoded: 0.95, expect_nacks: false },
  rtt: { args: ['--up-delay-ms', '75', '--down-delay-ms', '75', '--up-loss', '0.01', '--down-loss', '0.01'],
    window_s: 10, min_decoded: null, expect_nacks: false, min_rtt_s: 0.14 },
  // Each page behind its own link (--per-client); alice watches bob in a big tile (the full layer), then her
  // downlink is capped at 300 kbit/s: within 5 s the focus must send her a layer that fits and she keeps
  // decoding (no stall > 1 s over the next 10 s); cap lifted -> the full layer again within 15 s.
  cap: { args: ['--per-client'], cap_kbps: 300, expect_nacks: false },
  // The same with 150 ms round trip.
  'cap-rtt': { args: ['--per-client', '--up-delay-ms', '75', '--down-delay-ms', '75'], cap_kbps: 300, expect_nacks: false },
  // alice's downlink capped below bob's lowest layer plus his audio: within 10 s the focus pauses bob's video for
  // her and tells her so in her metadata (the tile shows "video paused"), while his audio keeps flowing; cap
  // lifted -> his video resumes and the mark goes within 15 s.
  pause: { args: ['--per-client'], pause_kbps: 100, expect_nacks: false },
};

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 230000);
  const [chorus, webRoot, caseName = 'loss'] = process.argv.slice(2);
  const cfg = CASES[caseName];
  if (!cfg) { console.log('unknown case ' + caseName); process.exit(2); }
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  // The relay's address, beside the focus's on the namespace's NIC.
  try {
    execFileSync('ip', ['addr', 'add', `${RELAY_IP}/24`, 'dev', 't0'], { stdio: 'ignore' });
  } catch {
    console.log('SKIP: cannot add the relay address (not inside tests/netns/run.sh?)');
    process.exit(77);
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-impaired-'));
  const hs = await startHs(chorus, { users: ['focus', ...PAGES], extra: ['--web', webRoot] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  let focus = null;
  let relay = null;
  const pages = {};
  try {
    const { roomId, token, invited } = await createRoomWithFocus(hs, 'impaired', FOCUS);
    check(invited, 'room created, focus invited');
    focus = spawnJson(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--bind', FOCUS_IP, '--public-ip', RELAY_IP, '--udp-port', '0', '--no-ice-tcp', '--json', '--stats-interval', '1',
      ...(process.env.CHORUS_FOCUS_ARGS || '').split(' ').filter((a) => a)],
    path.join(logDir, 'focus.err'));
    const ready = await attempt('the focus to be ready', () => focus.last('ready'), 20000);
    if (!check(!!ready && ready.udp_port > 0 && JSON.stringify(ready.addresses) === JSON.stringify([RELAY_IP]),
      `the focus advertises only the relay's address ${JSON.stringify(ready && ready.addresses)}`)) throw new Error('no focus');
    relay = spawnJson(chorus, ['bench', 'impair', '--listen', `${RELAY_IP}:${ready.udp_port}`,
      '--target', `${FOCUS_IP}:${ready.udp_port}`, '--seed', '12', '--stats-interval', '1', ...cfg.args],
    path.join(logDir, 'relay.err'));
    const relayReady = await attempt('the relay to listen', () => relay.last('ready'), 10000);
    if (!check(!!relayReady, `relay ${caseName}: ${JSON.stringify(relayReady)}`)) throw new Error('no relay');
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    check(!!joined, 'the focus joins');

    const t0 = Date.now();
    for (const [i, u] of PAGES.entries()) {
      const { page, connected } = await openFocusPage(ctx, hs, u, { room: ROOM, focus: FOCUS, create: i === 0 });
      pages[u] = page;
      check(connected, `${u}: connected to the focus through the relay`);
    }
    const tile = (u, other) => pages[u].evaluate((o) => (window.chorusFocus.tiles || []).find((x) => x.user_id === o) || null, `@${other}:localhost`);
    const sees = async (u, other) => { const t = await tile(u, other); return !!t && t.framesDecoded >= 10 && t.audioSamplesReceived > 0; };
    await attempt('both pages to decode each other', async () => (await sees('alice', 'bob')) && (await sees('bob', 'alice')), 60000);
    check(await sees('alice', 'bob'), `alice decodes bob's video and audio (${((Date.now() - t0) / 1000).toFixed(1)} s after the first page opened)`);
    check(await sees('bob', 'alice'), 'bob decodes alice\'s video and audio');

    // Frames decoded vs frames encoded on the forwarded layer, over a window where that layer did not change.
    // Fresh stats (the page polls them once a second), both pages at once, so both ends of a window line up.
    const snap = (u) => pages[u].evaluate(async () => { await window.chorusFocus.pollStats(); return window.chorusFocus.snapshot(); });
    const snapBoth = (a, b) => Promise.all([snap(a), snap(b)]);
    const inboundVideo = (s, from) => (s.remoteTracks || []).filter((r) => r.kind === 'video' && r.user_id === `@${from}:localhost`)
      .sort((a, b) => b.framesDecoded - a.framesDecoded)[0] || null;
    const layerOf = (s, width) => (s.outbound || []).find((o) => o.rid && o.frameWidth === width) || null;
    const measure = async (sub, pub) => {
      for (let tries = 0; tries < 3; tries++) {
        const [s0, p0] = await snapBoth(sub, pub);
        const in0 = inboundVideo(s0, pub);
        const l0 = in0 && layerOf(p0, in0.frameWidth);
        await sleep(cfg.window_s * 1000);
        const [s1, p1] = await snapBoth(sub, pub);
        const in1 = inboundVideo(s1, pub);
        const l1 = in1 && layerOf(p1, in1.frameWidth);
        if (!in0 || !in1 || !l0 || !l1 || l0.rid !== l1.rid || in0.frameWidth !== in1.frameWidth) {
          console.log(`     (${sub} <- ${pub}: layer changed or unknown during the window, again: ` +
            `${in0 && in0.frameWidth} -> ${in1 && in1.frameWidth}, rid ${l0 && l0.rid} -> ${l1 && l1.rid})`);
          continue;
        }
        return { rid: l1.rid, width: in1.frameWidth, encoded: l1.framesEncoded - l0.framesEncoded,
          decoded: in1.framesDecoded - in0.framesDecoded, lost: in1.packetsLost - in0.packetsLost,
          nacks: in1.nackCount - in0.nackCount, freezes: in1.freezeCount - in0.freezeCount,
          freeze_s: in1.totalFreezesDuration - in0.totalFreezesDuration, plis: in1.pliCount - in0.pliCount,
          received: in1.framesReceived - in0.framesReceived, dropped: in1.framesDropped - in0.framesDropped,
          keyframes: in1.keyFramesDecoded - in0.keyFramesDecoded,
          rtx_received: (in1.retransmittedPacketsReceived || 0) - (in0.retransmittedPacketsReceived || 0),
          retransmitted: l1.retransmittedPacketsSent - l0.retransmittedPacketsSent };
      }
      return null;
    };
    async function capped(capKbps) {
      const bobDevice = (await tile('alice', 'bob') || {}).device_id;
      await pages.alice.evaluate((d) => window.chorusFocus.spotlight('@bob:localhost', d), bobDevice);
      const full = await attempt('alice to get bob\'s full layer in a big tile', async () => {
        const t = await tile('alice', 'bob');
        return t && t.frameWidth >= 640 ? t.frameWidth : null;
      }, 30000);
      if (!check(!!full, `alice receives bob's full layer in a spotlight tile (${full} px)`)) return;
      const downlinkOf = (user) => ((focus.last('stats') || {}).participants || []).find((p) => p.user_id === user)?.downlink || null;
      // Only a full layer well above the cap makes the cap bite (publishers ramp their top layer up slowly).
      const big = await attempt('bob\'s full layer to exceed the cap', async () => {
        const d = downlinkOf('@alice:localhost');
        return d && d.allocated_kbps >= 1.5 * capKbps ? d : null;
      }, 40000);
      check(!!big, `what the focus sends alice is well above the cap before it (${big && big.allocated_kbps} kbit/s >= ${1.5 * capKbps})`);
      const before = downlinkOf('@alice:localhost');
      check(!!before && before.feedbacks > 0, `the focus reads alice's transport-cc feedback (${JSON.stringify(before)})`);
      const bobSends = (await snap('bob')).outbound.filter((o) => o.rid);
      const bobAtFocus = ((focus.last('stats') || {}).participants || []).find((p) => p.user_id === '@bob:localhost');
      console.log(`     (bob sends: ${bobSends.map((o) => `${o.rid} ${o.frameWidth}x${o.frameHeight} target ${Math.round(o.targetBitrate / 1000)} kbit/s`).join(', ')}; ` +
        `the focus measures ${JSON.stringify(bobAtFocus && bobAtFocus.published_kbps)} kbit/s)`);
      // Poll alice's view of bob every 250 ms (fresh stats).
      const samples = [];
      const poll = async () => {
        const s = await snap('alice');
        const v = inboundVideo(s, 'bob');
        const dl = downlinkOf('@alice:localhost') || {};
        samples.push({ t: Date.now(), frames: v ? v.framesDecoded : 0, width: v ? v.frameWidth : 0, bytes: v ? v.bytesReceived : 0,
          target: dl.target_kbps, allocated: dl.allocated_kbps, acked: dl.acked_kbps });
      };
      relay.proc.stdin.write(JSON.stringify({ down: { rate_kbps: capKbps } }) + '\n');
      const capAt = Date.now();
      while (Date.now() - capAt < 15000) { await poll(); await sleep(250); }
      const after = downlinkOf('@alice:localhost');
      console.log('     (after the cap, s: width px / focus target / allocated / acked kbit/s: ' + samples.filter((x, i) => i % 4 === 0)
        .map((x) => `${((x.t - capAt) / 1000).toFixed(1)}: ${x.width}/${x.target}/${x.allocated}/${x.acked}`).join(', ') + ')');
      const lower = samples.find((x) => x.width > 0 && x.width < full);
      console.log(`     (alice first decodes a lower layer ${lower ? ((lower.t - capAt) / 1000).toFixed(2) + ' s' : 'never'} after the cap)`);
      const at5 = samples.filter((x) => x.t - capAt >= 5000);
      const widthAt5 = at5.length ? at5[0].width : 0;
      // No stall longer than 1 s from 5 s on: the longest time framesDecoded did not move.
      let stall = 0, lastMove = at5.length ? at5[0].t : 0, lastFrames = at5.length ? at5[0].frames : 0;
      for (const x of at5) {
        if (x.frames > lastFrames) { lastMove = x.t; lastFrames = x.frames; }
        stall = Math.max(stall, x.t - lastMove);
      }
      const tail = at5.length > 1 ? at5[at5.length - 1] : null;
      const videoKbps = tail ? (8 * (tail.bytes - at5[0].bytes) / (tail.t - at5[0].t)) : 0;
      const framesInWindow = tail ? tail.frames - at5[0].frames : 0;
      check(widthAt5 > 0 && widthAt5 < full,
        `capped at ${capKbps} kbit/s: 5 s later alice gets a lower layer (${widthAt5} px, was ${full} px); ` +
        `widths over 15 s: ${[...new Set(samples.map((x) => x.width))].join(' ')}`);
      check(!!after && after.allocated_kbps <= capKbps && after.target_kbps <= capKbps * 1.5,
        `the focus's estimate for alice came down (target ${after && after.target_kbps} kbit/s, allocated ${after && after.allocated_kbps}, ` +
        `delay-based ${after && after.delay_based_kbps}, loss-based ${after && after.loss_based_kbps}, lost ${after && after.packets_lost})`);
      check(framesInWindow >= 50 && stall <= 1000,
        `alice keeps decoding: ${framesInWindow} frames from 5 s to 15 s, longest stall ${stall} ms (<= 1000), video ${videoKbps.toFixed(0)} kbit/s`);
      const rst = await new Promise((resolve) => { relay.proc.stdin.write('{"stats":true}\n'); setTimeout(() => resolve(relay.last('stats')), 500); });
      console.log(`     (relay per client: ${JSON.stringify(rst && rst.per_client)})`);
      relay.proc.stdin.write(JSON.stringify({ down: { rate_kbps: 0 } }) + '\n');
      const liftAt = Date.now();
      let prevFrames = -1;
      const back = await attempt('the full layer again', async () => {  // decoding, not a stale last frame
        const t = await tile('alice', 'bob');
        const moving = !!t && prevFrames >= 0 && t.framesDecoded > prevFrames;
        prevFrames = t ? t.framesDecoded : -1;
        return moving && t.frameWidth >= full ? t.frameWidth : null;
      }, 15000);
      check(!!back, `cap lifted: alice is back on bob's full layer (${full} px) after ${((Date.now() - liftAt) / 1000).toFixed(1)} s (<= 15 s); ` +
        `focus: ${JSON.stringify(downlinkOf('@alice:localhost'))}`);
      const fst = focus.last('stats') || {};
      console.log(`     (focus: layer changes ${fst.downlink_layer_changes}, pauses ${fst.downlink_pauses}, probes ${fst.probe_clusters} / ${fst.probe_packets} packets)`);
    }
    async function pausedBelow(capKbps) {
      const downlinkOf = (user) => ((focus.last('stats') || {}).participants || []).find((p) => p.user_id === user)?.downlink || null;
      const fed = await attempt('the focus to read alice\'s transport-cc feedback', async () => {
        const d = downlinkOf('@alice:localhost');
        return d && d.feedbacks > 0 ? d : null;
      }, 20000);
      check(!!fed, `the focus reads alice's transport-cc feedback (${JSON.stringify(fed)})`);
      const before = await tile('alice', 'bob');
      check(!!before && !before.video_paused, 'before the cap bob\'s video is not marked paused for alice');
      relay.proc.stdin.write(JSON.stringify({ down: { rate_kbps: capKbps } }) + '\n');
      const capAt = Date.now();
      const paused = await attempt('bob\'s video to be paused for alice', async () => {
        const t = await tile('alice', 'bob');
        return t && t.video_paused && t.video_muted ? t : null;
      }, 20000);
      const pausedAfter = (Date.now() - capAt) / 1000;
      check(!!paused, `capped at ${capKbps} kbit/s: alice is told bob's video is paused (after ${pausedAfter.toFixed(1)} s; ` +
        `focus: ${JSON.stringify(downlinkOf('@alice:localhost'))})`);
      // While paused: her audio from bob keeps coming; video frames stop (at most a few in flight).
      const a0 = await tile('alice', 'bob');
      await sleep(4000);
      const a1 = await tile('alice', 'bob');
      const audio = a0 && a1 ? a1.audioSamplesReceived - a0.audioSamplesReceived : 0;
      const frames = a0 && a1 ? a1.framesDecoded - a0.framesDecoded : -1;
      check(!!a1 && a1.video_paused && audio > 4 * 48000 * 0.5,
        `paused: bob's audio keeps flowing to alice (${audio} samples in 4 s), video frames decoded ${frames}`);
      const fst = focus.last('stats') || {};
      check((fst.downlink_pauses || 0) > 0, `the focus counted the pause (downlink_pauses ${fst.downlink_pauses}, ` +
        `paused drops ${fst.downlink_paused_drops})`);
      relay.proc.stdin.write(JSON.stringify({ down: { rate_kbps: 0 } }) + '\n');
      const liftAt = Date.now();
      let prevFrames = -1;
      const back = await attempt('bob\'s video back for alice', async () => {
        const t = await tile('alice', 'bob');
        const moving = !!t && prevFrames >= 0 && t.framesDecoded > prevFrames;
        prevFrames = t ? t.framesDecoded : -1;
        return moving && !t.video_paused && !t.video_muted ? t : null;
      }, 15000);
      check(!!back, `cap lifted: bob's video resumes for alice and the mark is gone after ${((Date.now() - liftAt) / 1000).toFixed(1)} s ` +
        `(<= 15 s; ${back && back.frameWidth} px)`);
    }
    if (cfg.cap_kbps) await capped(cfg.cap_kbps);
    if (cfg.pause_kbps) await pausedBelow(cfg.pause_kbps);
    const shaped = cfg.cap_kbps || cfg.pause_kbps;
    // Both directions over the same window (each retries on its own if its layer changed).
    const results = shaped ? [] : await Promise.all([measure('bob', 'alice'), measure('alice', 'bob')]);
    for (const [i, [sub, pub]] of (shaped ? [] : [['bob', 'alice'], ['alice', 'bob']]).entries()) {
      const r = results[i];
      if (!check(!!r, `${sub} <- ${pub}: a ${cfg.window_s} s window on one layer`)) continue;
      const ratio = r.encoded > 0 ? r.decoded / r.encoded : 0;
      // min_decoded null: the ratio is reported, not asserted (the issue asks only that the 150 ms case connects).
      check(r.encoded > 5 * cfg.window_s && (cfg.min_decoded === null || ratio >= cfg.min_decoded),
        `${sub} decodes ${r.decoded} of the ${r.encoded} frames ${pub} encoded on layer ${r.rid} (${r.width} px) ` +
        `in ${cfg.window_s} s: ${(100 * ratio).toFixed(1)} %` +
        (cfg.min_decoded === null ? ' (reported only); ' : ` (>= ${100 * cfg.min_decoded} %); `) +
        `packets lost after recovery ${r.lost}, NACKs sent ${r.nacks}, ${pub} retransmitted ${r.retransmitted}, ` +
        `frames received ${r.received} / dropped ${r.dropped}, keyframes ${r.keyframes}, PLIs ${r.plis}, ` +
        `freezes ${r.freezes} (${r.freeze_s.toFixed(2)} s), RTX packets received ${r.rtx_received}`);
      if (cfg.aim_decoded) {
        console.log(`     (aim ${100 * cfg.aim_decoded} % decoded: ${ratio >= cfg.aim_decoded ? 'met' : 'NOT met'} for ${sub} <- ${pub})`);
      }
      if (cfg.expect_nacks) {
        check(r.nacks > 0 && r.retransmitted > 0, `${caseName}: ${sub} NACKed (${r.nacks}) and ${pub} retransmitted (${r.retransmitted})`);
      }
    }
    if (cfg.aim_decoded && results.every(Boolean)) {
      const decoded = results.reduce((a, r) => a + r.decoded, 0);
      const encoded = results.reduce((a, r) => a + r.encoded, 0);
      const together = encoded > 0 ? decoded / encoded : 0;
      const what = `both directions together: ${decoded} of ${encoded} frames decoded, ${(100 * together).toFixed(1)} %`;
      if (cfg.min_together) check(together >= cfg.min_together, `${what} (>= ${100 * cfg.min_together} %)`);
      console.log(`     (${what}; aim ${100 * cfg.aim_decoded} %: ${together >= cfg.aim_decoded ? 'met' : 'NOT met'})`);
    }
    if (cfg.min_rtt_s) {
      // The round trip the publishers measure from the focus's receiver reports (RFC 3550 LSR/DLSR).
      for (const u of PAGES) {
        const rtts = ((await snap(u)).outbound || []).map((o) => o.rr && o.rr.roundTripTime).filter((x) => x > 0);
        check(rtts.length > 0 && Math.min(...rtts) >= cfg.min_rtt_s,
          `${u}: round trip to the focus through the relay >= ${cfg.min_rtt_s * 1000} ms (${rtts.map((x) => (x * 1000).toFixed(0)).join(', ')} ms)`);
      }
    }
    const fst = focus.last('stats') || {};
    const router = fst.router || fst;
    console.log(`     (focus: nacks_answered ${router.nacks_answered}, nacks_missed ${router.nacks_missed}, ` +
      `upstream_nacks_sent ${router.upstream_nacks_sent}, upstream_recovered ${router.upstream_recovered}, ` +
      `upstream_given_up ${router.upstream_given_up}, nacks_over_budget ${router.nacks_over_budget}, ` +
      `nacks_before_switch ${router.nacks_before_switch}, ` +
      `forwarded ${router.forwarded_packets || router.forwarded}; RTX: sent ${router.rtx_sent}, received ${router.rtx_received}, ` +
      `unwrapped ${router.rtx_unwrapped}, padding dropped ${router.rtx_padding_dropped}, ` +
      `redundant dropped ${router.rtx_redundant_dropped}, malformed ${router.rtx_malformed})`);
    if (cfg.expect_nacks) {
      check(router.nacks_answered > 0 && router.upstream_nacks_sent > 0,
        `the focus answered subscribers' NACKs from its buffer (${router.nacks_answered}) and NACKed publishers (${router.upstream_nacks_sent})`);
      const rtxIn = results.filter(Boolean).reduce((a, r) => a + r.rtx_received, 0);
      if (RTX) {
        // Chromium accepts the rtx/apt the focus offers: then the focus's retransmissions go on the RTX SSRCs
        // and the pages count them as retransmitted; and Chromium publishers repair on RTX, which the focus
        // unwraps.
        check(router.rtx_sent > 0 && router.rtx_sent === router.nacks_answered && rtxIn > 0,
          `the focus's retransmissions went as RTX (${router.rtx_sent} of ${router.nacks_answered} answered) and the pages received RTX (${rtxIn} in the windows)`);
        check(router.rtx_unwrapped > 0, `publishers' RTX was unwrapped upstream (${router.rtx_unwrapped} of ${router.rtx_received} received)`);
      } else {
        // chorus focus --no-rtx: retransmissions on the media SSRCs, no RTX either way.
        check(router.rtx_sent === 0 && router.rtx_received === 0,
          `no RTX with --no-rtx (sent ${router.rtx_sent}, received ${router.rtx_received})`);
      }
    }
    const rst = relay.last('stats') || {};
    const up = rst.up || {};
    const down = rst.down || {};
    check(up.lost > 0 || down.lost > 0 || down.queue_drops > 0 || (!cfg.args.includes('--up-loss') && !shaped),
      `the relay impaired the link: up ${up.delivered} delivered / ${up.lost} lost, down ${down.delivered} / ${down.lost}`);
  } catch (e) {
    check(false, 'exception: ' + e.message);
  }
  if (failures.length) {
    for (const f of ['focus.err', 'relay.err']) {
      const p = path.join(logDir, f);
      if (!fs.existsSync(p)) continue;
      const t = fs.readFileSync(p, 'utf8').split('\n').filter(Boolean);
      console.log(`--- ${f} (last 25 of ${t.length} lines)\n` + t.slice(-25).join('\n'));
    }
    if (focus) console.log('--- focus stats: ' + JSON.stringify(focus.last('stats')));
    if (relay) console.log('--- relay stats: ' + JSON.stringify(relay.last('stats')));
  }
  for (const p of [focus, relay]) if (p) { try { p.proc.kill('SIGTERM'); } catch {} }
  await closeChromium();
  hs.stop();
  clearTimeout(overall);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(failures.length ? `RESULT: FAIL (${failures.length})` : 'RESULT: PASS');
  process.exit(failures.length ? 1 : 0);
})();
