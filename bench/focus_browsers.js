// Benchmark (not a test): what the small call that most calls are costs `chorus focus`. Three (up to six) headless Chromium
// pages running the web client (web/call/, focus mode: fake camera 640x480 published as f/h/q simulcast + Opus)
// meet through one `chorus focus`; once everyone decodes everyone, the call is held for --hold seconds while the
// focus process's CPU time (/proc/<pid>/stat utime+stime, both threads) and RSS (VmRSS, sampled every second) are
// measured; then `chorus bench wakeups` runs beside the call at the focus's wake-up and datagram rates, the floor
// of that CPU figure on this machine (focus_cpu_vs_wakeup_floor). Prints a JSON object.
//
// Usage (inside a private network namespace):
//   tests/netns/run.sh node bench/focus_browsers.js build/default/apps/chorus/chorus web [hold_s] [participants] [impairment]
// Extra `chorus focus` flags from $CHORUS_FOCUS_ARGS (e.g. --no-downlink-cc, for comparison).
// bench/sfu_compare.js runs this and the same call through Janus (bench/janus_browsers.js) and prints the ratios.
// impairment (default none): "loss" = 5 % random loss each way, "rtt" = 75 ms each way (150 ms round trip) with
// 1 % loss, as in tests/js/focus_impaired_chromium.js: every page reaches the focus through `chorus bench impair`
// (a UDP relay on 198.18.0.2; the focus binds 198.18.0.1 and advertises only the relay).
// Per joiner (joins are one after another): from its data channel opening to the first remote frame and to
// > 10 frames (and audio) from everyone already in the call (`joins`; the first page has no one to see).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn, execFile, execFileSync } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, sleep, api } = require('../tests/js/hs_common');
const { openLoggedPage, measureJoin, procStatusKib, holdAndMeasure } = require('./browser_join');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#bench:localhost';
// Participants: argument 4 (default 3, at most 6).
const PAGES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].slice(0, Math.min(6, Math.max(2, Number(process.argv[5] || 3))));
const IMPAIRMENT = process.argv[6] || 'none';
const IMPAIRMENTS = {
  none: null,
  loss: ['--up-loss', '0.05', '--down-loss', '0.05'],
  rtt: ['--up-delay-ms', '75', '--down-delay-ms', '75', '--up-loss', '0.01', '--down-loss', '0.01'],
};
// $CHORUS_BENCH_CAMERA_FPS: the fake camera's frame rate (Chromium's default: 20). Six pages each encoding three
// layers and decoding five streams do not fit two vCPUs in real time at 20 fps; at a lower rate they may.
const CAMERA_FPS = Number(process.env.CHORUS_BENCH_CAMERA_FPS || 0);
const FOCUS_IP = '198.18.0.1';
const RELAY_IP = '198.18.0.2';

const procRssKib = (pid) => procStatusKib(pid, 'VmRSS');
// The focus's media thread is its main thread: each voluntary context switch is a wait that ended (a wake-up).
function procWakeups(pid) {
  const m = /\nvoluntary_ctxt_switches:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

(async () => {
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  const holdS = Number(process.argv[4] || 30);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-bench-'));
  const hs = await startHs(chorus, { users: ['focus', ...PAGES], extra: ['--web', webRoot] });
  const { ctx, close } = await launchChromium(chromium, CHROMIUM, { fakeDevice: CAMERA_FPS ? `fps=${CAMERA_FPS}` : '', contextPerPage: true });
  const login = await api(hs, 'POST', '/login', null,
    { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' });
  const token = login.body.access_token;
  const roomId = (await api(hs, 'POST', '/createRoom', token, { preset: 'public_chat', room_alias_name: 'bench' })).body.room_id;
  await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, token, { user_id: FOCUS });

  if (!(IMPAIRMENT in IMPAIRMENTS)) throw new Error(`unknown impairment ${IMPAIRMENT} (none, loss, rtt)`);
  const impaired = IMPAIRMENTS[IMPAIRMENT] !== null;
  if (impaired) execFileSync('ip', ['addr', 'add', `${RELAY_IP}/24`, 'dev', 't0'], { stdio: 'ignore' });
  const err = fs.openSync(path.join(logDir, 'focus.err'), 'w');
  // $CHORUS_BENCH_BIND: the focus's media address without impairment (default 127.0.0.1; bench/sfu_compare.js
  // gives 198.18.0.1, the address Janus, which skips loopback, uses in the same comparison).
  const where = impaired ? ['--bind', FOCUS_IP, '--public-ip', RELAY_IP, '--no-ice-tcp']
    : ['--bind', process.env.CHORUS_BENCH_BIND || '127.0.0.1'];
  const focus = spawn(chorus, ['focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw', ...where,
    '--udp-port', '0', '--json', '--stats-interval', '1', ...(process.env.CHORUS_FOCUS_ARGS || '').split(' ').filter(Boolean)],
  { stdio: ['ignore', 'pipe', err] });
  process.on('exit', () => { try { focus.kill('SIGKILL'); } catch {} });
  const lines = [];
  const focusLog = fs.createWriteStream(path.join(logDir, 'focus.jsonl'));  // every line, for a post-mortem
  readline.createInterface({ input: focus.stdout }).on('line', (l) => {
    focusLog.write(l + '\n');
    try { lines.push(JSON.parse(l)); } catch {}
  });
  const last = (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; };
  await waitFor('the focus to be ready', () => last('ready'), 15000);
  let relay = null;
  if (impaired) {
    const port = last('ready').udp_port;
    relay = spawn(chorus, ['bench', 'impair', '--listen', `${RELAY_IP}:${port}`, '--target', `${FOCUS_IP}:${port}`,
      '--seed', '12', ...IMPAIRMENTS[IMPAIRMENT]], { stdio: ['pipe', 'ignore', fs.openSync(path.join(logDir, 'relay.err'), 'w')] });
    process.on('exit', () => { try { relay.kill('SIGKILL'); } catch {} });
  }
  await sleep(300);
  const rssIdleKib = procRssKib(focus.pid);
  const anonIdleKib = procStatusKib(focus.pid, 'RssAnon');
  await waitFor('the focus to join', async () => {
    const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, token);
    return r.status === 200 && r.body.membership === 'join';
  }, 20000);

  const pages = {};
  const joins = {};
  for (const [i, user] of PAGES.entries()) {
    const page = await openLoggedPage(ctx, logDir, user);
    pages[user] = page;
    await page.goto(`${hs.url}/call/?room=${encodeURIComponent(ROOM)}&focus=${encodeURIComponent(FOCUS)}` + (i === 0 ? '&create=1' : ''));
    await page.fill('#user', user);
    await page.fill('#password', 'pw');
    await page.click('button[type=submit]');
    await waitFor(`${user} in the call`, () => page.evaluate(() => !!window.chorusFocus && window.chorusFocus.mode === 'focus' &&
      window.chorusFocus.connected), 60000);
    // Joins are timed from the data channel opening; the counts are the web client's tiles (fresh stats).
    await page.evaluate(() => {
      const f = window.chorusFocus;
      window.benchJoin = {
        get start() { return f.dcOpenedAt || 0; },
        counts: async () => {
          await f.pollStats();
          return Object.fromEntries((f.tiles || []).map((t) => [t.user_id, { frames: t.framesDecoded, audio: t.audioSamplesReceived }]));
        },
      };
    });
    if (i > 0) joins[user] = await measureJoin(page, PAGES.slice(0, i).map((o) => `@${o}:localhost`));
    // Its signalling, in ms from its data channel opening (a late join's time goes somewhere: here it shows where).
    const wire = await page.evaluate(() => {
      const f = window.chorusFocus;
      const t0 = performance.timeOrigin + (f.dcOpenedAt || 0);
      return (f.wire || []).slice(0, 200).map((w) => `${Math.round(w.t - t0)} ${w.dir} ${w.type}`);
    }).catch((e) => [String(e)]);
    fs.writeFileSync(path.join(logDir, `${user}.wire.txt`), wire.join('\n') + '\n');
  }
  // From the moment every page is in the call: the time until every page decoded a first frame of everyone
  // (first_frame_s) and >= 10 frames plus audio of everyone (converged_s), and each publisher's ramp-up: its
  // send-side estimate (candidate-pair availableOutgoingBitrate, which rises only with transport-cc feedback or
  // REMB from the focus) and the frames its top simulcast layer encoded, sampled about every 100-200 ms.
  const t0 = Date.now();
  const others = (p) => PAGES.filter((o) => o !== p).map((o) => `@${o}:localhost`);
  const ramp = Object.fromEntries(PAGES.map((p) => [p, []]));
  const lastSeen = {};  // per page: frames decoded and audio received from each other participant
  const sampleAll = async () => {
    let minFrames = Infinity, allAudio = true;
    for (const p of PAGES) {
      const s = await pages[p].evaluate(async (others) => {
        const f = window.chorusFocus;
        await f.pollStats();  // fresh figures (the page polls once a second)
        const tiles = f.tiles || [];
        let frames = Infinity, audio = true;
        const per = {};
        for (const u of others) {
          const t = tiles.find((x) => x.user_id === u);
          frames = Math.min(frames, t ? t.framesDecoded : 0);
          audio = audio && !!t && t.audioSamplesReceived > 0;
          per[u] = t ? { frames: t.framesDecoded, audio: t.audioSamplesReceived > 0 } : null;
        }
        const sent = (f.outbound || []).filter((o) => o.rid);
        const top = sent.find((o) => o.rid === 'f') || sent.sort((a, b) => b.frameWidth - a.frameWidth)[0];
        return { frames, audio, per, bwe: f.availableOutgoingBitrate || 0, topFrames: top ? top.framesEncoded : 0 };
      }, others(p));
      lastSeen[p] = s.per;
      minFrames = Math.min(minFrames, s.frames);
      allAudio = allAudio && s.audio;
      ramp[p].push({ t: (Date.now() - t0) / 1000, bwe: s.bwe, topFrames: s.topFrames });
    }
    return { minFrames, allAudio };
  };
  let firstFrameS = null, convergedS = null;
  while (convergedS === null) {
    if (Date.now() - t0 > 60000) {
      // What was measured so far (the per-joiner times) is still worth printing, and what each page and the
      // focus knew about the pairs that did not flow (a file beside the focus's log).
      const stuck = {};
      for (const p of PAGES) {
        const missing = Object.entries(lastSeen[p] || {}).filter(([, v]) => !v || v.frames < 10 || !v.audio).map(([u]) => u);
        if (missing.length === 0) continue;
        stuck[p] = await pages[p].evaluate((missing) => {
          const f = window.chorusFocus;
          const strip = (c) => { const o = { ...c }; if (o.sdp) o.sdp = `${o.sdp.length} chars`; return o; };
          return { missing, subscriptions: f.subscriptions, tiles: f.tiles,
            remoteTracks: (f.remoteTracks || []).filter((r) => missing.includes(r.user_id)),
            transceivers: f.pc ? f.pc.getTransceivers().map((t) => ({ mid: t.mid, dir: t.direction, cur: t.currentDirection, kind: t.receiver.track.kind, muted: t.receiver.track.muted })) : null,
            wire: (f.wire || []).slice(-60).map((w) => ({ ...w, content: strip(w.content || {}) })) };
        }, missing).catch((e) => ({ error: String(e) }));
      }
      const dump = path.join(logDir, 'stuck.json');
      fs.writeFileSync(dump, JSON.stringify({ stuck, focus_stats: last('stats') }, null, 1));
      console.log(JSON.stringify({ participants: PAGES.length, impairment: IMPAIRMENT, joins, last_seen: lastSeen,
        stuck_dump: dump, error: 'timed out waiting for every page to decode everyone' }, null, 1));
      throw new Error('timed out waiting for every page to decode everyone');
    }
    const { minFrames, allAudio } = await sampleAll();
    const t = (Date.now() - t0) / 1000;
    if (firstFrameS === null && minFrames >= 1) firstFrameS = t;
    if (minFrames >= 10 && allAudio) convergedS = t;
    else await sleep(150);
  }
  // Let the layers settle (3 s), sampling the ramp until at least 8 s after t0.
  while (Date.now() - t0 < Math.max(convergedS + 3, 8) * 1000) {
    await sampleAll();
    await sleep(200);
  }
  const at = (samples, t) => samples.find((x) => x.t >= t) || samples[samples.length - 1];
  const publisherRamp = {};
  for (const p of PAGES) {
    const r = ramp[p];
    const kbps = (t) => Math.round(at(r, t).bwe / 1000);
    const fps = (a, b) => Number(((at(r, b).topFrames - at(r, a).topFrames) / (at(r, b).t - at(r, a).t || 1)).toFixed(1));
    publisherRamp[p] = { available_outgoing_kbps: { '0.5s': kbps(0.5), '1s': kbps(1), '2s': kbps(2), '4s': kbps(4), '8s': kbps(8) },
      top_layer_fps: { '0-2s': fps(0, 2), '2-4s': fps(2, 4), '4-8s': fps(4, 8) } };
  }

  // The hold.
  const statsBefore = last('stats');
  const wakeups0 = procWakeups(focus.pid);
  const { wallS, cpuS, rssMaxKib: rssMax, rssMeanKib: rssMean } = await holdAndMeasure(focus.pid, holdS);
  const anonKib = procStatusKib(focus.pid, 'RssAnon');
  const fileKib = procStatusKib(focus.pid, 'RssFile');
  const wakeupsPerS = (procWakeups(focus.pid) - wakeups0) / wallS;
  const statsAfter = last('stats');
  const forwarded = statsAfter.forwarded_packets - statsBefore.forwarded_packets;
  const received = statsAfter.udp_rx - statsBefore.udp_rx;
  // The same-run baseline for the CPU figure: `chorus bench wakeups` beside the call (which goes on), woken as
  // often for as many datagrams and sending as many copies on, doing nothing else. A focus can hardly cost
  // less than that on this machine; what a wake-up costs varies several-fold between machines and hours.
  const floorArgs = ['bench', 'wakeups', '--json', '--seconds', String(Math.min(holdS, 15)),
    '--datagrams-per-s', String(Math.max(1, received / wallS)), '--wakeups-per-s', String(Math.max(1, wakeupsPerS)),
    '--fanout', String(received ? (statsAfter.udp_tx - statsBefore.udp_tx) / received : 1),
    '--payload-bytes', String(Math.min(1500, Math.max(1, Math.round(forwarded ? (statsAfter.forwarded_bytes - statsBefore.forwarded_bytes) / forwarded : 1000))))];
  const wakeupFloor = await new Promise((resolve) => execFile(chorus, floorArgs, (err, stdout) => {
    try { resolve(err ? null : JSON.parse(stdout)); } catch { resolve(null); }
  }));
  const layers = {};
  for (const p of PAGES) {
    layers[p] = await pages[p].evaluate(() => (window.chorusFocus.tiles || []).map((t) => `${t.user_id}:${t.frameWidth}x${t.frameHeight}`));
  }
  const joinTimes = Object.values(joins).filter(Boolean);
  const worst = (k) => (joinTimes.some((j) => j[k] === null) ? null : Math.max(...joinTimes.map((j) => j[k])));
  const out = {
    participants: PAGES.length,
    impairment: IMPAIRMENT,
    // Per joiner, from its data channel opening (aims, issue #12: first remote frame <= 1 s, > 10 frames from
    // everyone <= 2 s).
    joins,
    joins_worst: { first_remote_frame_s: worst('first_remote_frame_s'), all_over_10_frames_s: worst('all_over_10_frames_s') },
    hold_s: Number(wallS.toFixed(1)),
    first_frame_s: firstFrameS,
    converged_s: convergedS,
    publisher_ramp: publisherRamp,
    focus_cpu_s: Number(cpuS.toFixed(3)),
    focus_cpu_percent_of_one_core: Number((100 * cpuS / wallS).toFixed(2)),
    focus_rss_idle_mib: Number((rssIdleKib / 1024).toFixed(1)),
    focus_rss_max_mib: Number((rssMax / 1024).toFixed(1)),
    focus_rss_mean_mib: Number((rssMean / 1024).toFixed(1)),
    focus_rss_anon_idle_mib: Number((anonIdleKib / 1024).toFixed(1)),
    focus_rss_anon_end_mib: Number((anonKib / 1024).toFixed(1)),  // heap, stacks: what the call costs
    focus_rss_file_end_mib: Number((fileKib / 1024).toFixed(1)),  // mapped code of the binary and its libraries
    forwarded_pps: Math.round(forwarded / wallS),
    received_datagrams_per_s: Math.round(received / wallS),
    cpu_us_per_forwarded_packet: forwarded ? Number((1e6 * cpuS / forwarded).toFixed(2)) : null,
    focus_wakeups_per_s: Math.round(wakeupsPerS),
    wakeup_floor: wakeupFloor && {
      cpu_percent_of_one_core: Number(wakeupFloor.cpu_percent_of_one_core.toFixed(2)),
      wakeups_per_s: Math.round(wakeupFloor.wakeups_per_s),
      cpu_us_per_wakeup: Number(wakeupFloor.cpu_us_per_wakeup.toFixed(1)),
      command: ['chorus', ...floorArgs].join(' '),
    },
    focus_cpu_vs_wakeup_floor: wakeupFloor && wakeupFloor.cpu_percent_of_one_core > 0
      ? Number(((100 * cpuS / wallS) / wakeupFloor.cpu_percent_of_one_core).toFixed(2)) : null,
    // Every counter of the focus's stats line that moved during the hold, per second.
    focus_counters_per_s: Object.fromEntries(Object.keys(statsAfter)
      .filter((k) => typeof statsAfter[k] === 'number' && typeof statsBefore[k] === 'number' && statsAfter[k] !== statsBefore[k])
      .map((k) => [k, Number(((statsAfter[k] - statsBefore[k]) / wallS).toFixed(1))])),
    layers_received: layers,
    // The focus's downlink estimate per participant (transport-cc feedback from the pages) and its counters.
    focus_downlink: Object.fromEntries((statsAfter.participants || []).filter((p) => p.downlink)
      .map((p) => [p.user_id, p.downlink])),
    focus_downlink_counters: {
      feedbacks: statsAfter.downlink_feedbacks, layer_changes: statsAfter.downlink_layer_changes,
      pauses: statsAfter.downlink_pauses, probe_clusters: statsAfter.probe_clusters, probe_packets: statsAfter.probe_packets,
    },
    available_outgoing_kbps_end: Object.fromEntries(await Promise.all(PAGES.map(async (p) => [p,
      Math.round((await pages[p].evaluate(() => window.chorusFocus.availableOutgoingBitrate || 0)) / 1000)]))),
    aim: 'at most 2 % of one core and 16 MiB RSS (sfu-anchors.md: well-known SFUs 7-12 % and 26-59 MiB on this call)',
  };
  console.log(JSON.stringify(out, null, 1));
  focus.kill('SIGTERM');
  if (relay) relay.kill('SIGTERM');
  await close();
  hs.stop && hs.stop();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
