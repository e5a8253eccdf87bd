// Benchmark (not a test): the same small call as bench/focus_browsers.js, through Janus's VideoRoom instead of
// `chorus focus`, so that the focus's CPU and memory can be set against a well-known SFU's on the same machine in
// the same sitting (bench/sfu_compare.js runs both, alternately, and prints the ratios).
//
// Three (up to six) headless Chromium pages, each in its own browser context, each publishing the fake camera
// 640x480 as three simulcast layers (the web client's encodings: 1.7 Mbit/s full, 300 kbit/s half, 120 kbit/s
// quarter size) plus Opus, and subscribing to everyone else in one multistream subscription, join one VideoRoom
// (Janus 1.1, Debian's `janus` package) one after another. Janus forwards each subscriber the half-size layer (as
// the focus does to the bench's tiles; $JANUS_SUBSTREAM to change it); the room puts no bitrate cap on
// publishers (bitrate = 0) and negotiates transport-cc with them.
// Once everyone decodes everyone, the call is held for hold_s seconds while the janus process's CPU time
// (/proc/<pid>/stat utime+stime, all threads) and RSS (VmRSS, sampled every second) are measured.
// The pages are served, and Janus's HTTP API reached, through a small server in this script (one origin).
// Janus uses libnice, which skips loopback: run it in tests/netns/run.sh (198.18.0.1 on t0).
//
// Usage: tests/netns/run.sh node bench/janus_browsers.js [hold_s] [participants]
// Prints a JSON object; figures under the same names as bench/focus_browsers.js where they mean the same thing
// (sfu_cpu_percent_of_one_core for focus_cpu_percent_of_one_core, and so on).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const net = require('net');
const { spawn } = require('child_process');
const { waitFor, launchChromium, browserDeps, sleep } = require('../tests/js/hs_common');
const { openLoggedPage, measureJoin, procStatusKib, holdAndMeasure } = require('./browser_join');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const PAGES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].slice(0, Math.min(6, Math.max(2, Number(process.argv[3] || 3))));
const HOLD_S = Number(process.argv[2] || 30);
const JANUS = process.env.JANUS || '/usr/bin/janus';
const LIB = '/usr/lib/x86_64-linux-gnu/janus';
const ROOM = 4242;
// $JANUS_SUBSTREAM: the simulcast layer Janus forwards to every subscriber: 0 quarter, 1 half, 2 full size (-1:
// Janus's default, the top layer). Default 1, the layer the focus forwards to the bench's tiles (410x307 px), so
// that both SFUs move the same traffic.
const SUBSTREAM = Number(process.env.JANUS_SUBSTREAM === undefined ? 1 : process.env.JANUS_SUBSTREAM);

const freePort = () => new Promise((resolve, reject) => {
  const s = net.createServer();
  s.on('error', reject);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});

// Janus's configuration: only the VideoRoom plugin and the HTTP transport, our room, no event handlers or loggers.
function writeConfig(dir, httpPort) {
  const plugins = fs.readdirSync(path.join(LIB, 'plugins')).filter((f) => f.endsWith('.so') && f !== 'libjanus_videoroom.so');
  const transports = fs.readdirSync(path.join(LIB, 'transports')).filter((f) => f.endsWith('.so') && f !== 'libjanus_http.so');
  fs.writeFileSync(path.join(dir, 'janus.jcfg'), `general: {
  configs_folder = "${dir}"
  plugins_folder = "${LIB}/plugins"
  transports_folder = "${LIB}/transports"
  events_folder = "${LIB}/events"
  loggers_folder = "${LIB}/loggers"
  debug_level = 3
  session_timeout = 120
}
media: {
  rtp_port_range = "40000-50000"
}
nat: {
  nice_debug = false
  ignore_mdns = true
}
plugins: {
  disable = "${plugins.join(',')}"
}
transports: {
  disable = "${transports.join(',')}"
}
events: {
  broadcast = false
}
loggers: {
  disable = "libjanus_jsonlog.so"
}
`);
  fs.writeFileSync(path.join(dir, 'janus.transport.http.jcfg'), `general: {
  json = "plain"
  base_path = "/janus"
  http = true
  port = ${httpPort}
  ip = "127.0.0.1"
  https = false
}
admin: {
  admin_http = false
}
`);
  fs.writeFileSync(path.join(dir, 'janus.plugin.videoroom.jcfg'), `general: {
}
room-${ROOM}: {
  description = "bench"
  publishers = 6
  bitrate = 0
  fir_freq = 10
  audiocodec = "opus"
  videocodec = "vp8"
  transport_wide_cc_ext = true
}
`);
}

// The page: a minimal VideoRoom client on Janus's HTTP API (long-poll events, no trickle: each side's candidates
// are in its SDP). window.jb tells the bench where it is.
const PAGE = `<!doctype html><meta charset="utf-8"><title>janus bench</title><body><script>
'use strict';
const ROOM = ${ROOM};
const SUBSTREAM = ${SUBSTREAM};
const name = new URLSearchParams(location.search).get('name');
const jb = window.jb = { name, joinedAt: null, error: null, feeds: {}, midFeed: {} };
let session = null, tx = 0;
const pending = new Map();
const post = async (url, body) => (await fetch(url, { method: 'POST', body: JSON.stringify(body) })).json();
function message(handle, body, jsep) {
  return new Promise((resolve, reject) => {
    const transaction = 't' + (++tx);
    pending.set(transaction, { resolve, reject });
    post('/janus/' + session + '/' + handle, { janus: 'message', body, jsep, transaction }).then((r) => {
      if (r.janus === 'success') { pending.delete(transaction); resolve(r); }
      else if (r.janus === 'error') { pending.delete(transaction); reject(new Error(JSON.stringify(r.error))); }
    }, reject);
  });
}
const gathered = (pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
});
let pubHandle, subHandle, sub, subJoined = false, myId = null;
let chain = Promise.resolve();
function subscribe(pubs) {
  const feeds = pubs.filter((p) => p.id !== myId && !(p.id in jb.feeds));
  for (const p of feeds) jb.feeds[p.id] = p.display;
  if (!feeds.length) return;
  chain = chain.then(async () => {
    const streams = feeds.map((p) => ({ feed: p.id }));
    const ev = subJoined ? await message(subHandle, { request: 'subscribe', streams })
                         : await message(subHandle, { request: 'join', room: ROOM, ptype: 'subscriber', streams });
    subJoined = true;
    const data = (ev.plugindata && ev.plugindata.data) || {};
    for (const s of data.streams || []) if (s.feed_id !== undefined) jb.midFeed[s.mid] = s.feed_id;
    if (!ev.jsep) return;
    await sub.setRemoteDescription(ev.jsep);
    await sub.setLocalDescription(await sub.createAnswer());
    await gathered(sub);
    await message(subHandle, { request: 'start', room: ROOM }, { type: 'answer', sdp: sub.localDescription.sdp });
    // The simulcast layer to forward (Janus's default is the top one).
    const video = (data.streams || []).filter((s) => s.type === 'video' && s.feed_id !== undefined).map((s) => ({ mid: s.mid, substream: SUBSTREAM }));
    if (SUBSTREAM >= 0 && video.length) await message(subHandle, { request: 'configure', streams: video });
  }).catch((e) => { jb.error = String(e); console.error(e); });
}
function onEvent(ev) {
  const data = (ev.plugindata && ev.plugindata.data) || {};
  if (ev.sender === pubHandle && Array.isArray(data.publishers)) subscribe(data.publishers);
  if (ev.sender === subHandle && ev.jsep && ev.jsep.type === 'offer' && !ev.transaction) {
    // An offer Janus made on its own (a publisher left or changed): answer it.
    for (const s of data.streams || []) if (s.feed_id !== undefined) jb.midFeed[s.mid] = s.feed_id;
    chain = chain.then(async () => {
      await sub.setRemoteDescription(ev.jsep);
      await sub.setLocalDescription(await sub.createAnswer());
      await gathered(sub);
      await message(subHandle, { request: 'start', room: ROOM }, { type: 'answer', sdp: sub.localDescription.sdp });
    }).catch((e) => { jb.error = String(e); });
  }
}
async function poll() {
  for (;;) {
    let evs;
    try { evs = await (await fetch('/janus/' + session + '?maxev=10&rid=' + Date.now())).json(); }
    catch (e) { await new Promise((r) => setTimeout(r, 200)); continue; }
    for (const ev of Array.isArray(evs) ? evs : [evs]) {
      const p = ev.transaction && pending.get(ev.transaction);
      if (ev.janus === 'event' && p) { pending.delete(ev.transaction); p.resolve(ev); }
      else if (ev.janus === 'event') onEvent(ev);
    }
  }
}
// Per feed (display name): video frames decoded and audio samples received.
jb.counts = async () => {
  const out = {};
  if (!sub) return out;
  (await sub.getStats()).forEach((r) => {
    if (r.type !== 'inbound-rtp') return;
    const feed = jb.midFeed[r.mid];
    const who = feed !== undefined && jb.feeds[feed];
    if (!who) return;
    const o = out[who] || (out[who] = { frames: 0, audio: 0, width: 0 });
    if (r.kind === 'video') { o.frames = r.framesDecoded || 0; o.width = r.frameWidth || 0; }
    else o.audio = r.totalSamplesReceived || 0;
    o.packets = (o.packets || 0) + (r.packetsReceived || 0);
  });
  return out;
};
(async () => {
  session = (await post('/janus', { janus: 'create', transaction: 'c' })).data.id;
  pubHandle = (await post('/janus/' + session, { janus: 'attach', plugin: 'janus.plugin.videoroom', transaction: 'a1' })).data.id;
  subHandle = (await post('/janus/' + session, { janus: 'attach', plugin: 'janus.plugin.videoroom', transaction: 'a2' })).data.id;
  poll();
  sub = new RTCPeerConnection();
  // Audio is decoded (and counted in totalSamplesReceived) only while something plays it.
  sub.ontrack = (e) => {
    if (e.track.kind !== 'audio') return;
    const a = document.createElement('audio');
    a.autoplay = true;
    a.srcObject = new MediaStream([e.track]);
    document.body.appendChild(a);
    a.play().catch(() => {});
  };
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
  const pub = new RTCPeerConnection();
  pub.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly' });
  pub.addTransceiver(stream.getVideoTracks()[0], { direction: 'sendonly', sendEncodings: [
    { rid: 'h', maxBitrate: 1700000, maxFramerate: 30 },
    { rid: 'm', maxBitrate: 300000, maxFramerate: 20, scaleResolutionDownBy: 2 },
    { rid: 'l', maxBitrate: 120000, maxFramerate: 15, scaleResolutionDownBy: 4 }] });
  await pub.setLocalDescription(await pub.createOffer());
  await gathered(pub);
  const ev = await message(pubHandle, { request: 'joinandconfigure', room: ROOM, ptype: 'publisher', display: name,
    audio: true, video: true }, { type: 'offer', sdp: pub.localDescription.sdp });
  if (!ev.jsep) throw new Error('no answer: ' + JSON.stringify(ev));
  await pub.setRemoteDescription(ev.jsep);
  const data = ev.plugindata.data;
  myId = data.id;
  jb.joinedAt = performance.now();
  window.benchJoin = { start: jb.joinedAt, counts: jb.counts };
  subscribe(data.publishers || []);
})().catch((e) => { jb.error = String(e); console.error(e); });
</script>`;

(async () => {
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-janus-bench-'));
  const janusPort = await freePort();
  writeConfig(logDir, janusPort);
  const janus = spawn(JANUS, ['-C', path.join(logDir, 'janus.jcfg'), '-F', logDir, '--disable-colors'],
    { stdio: ['ignore', fs.openSync(path.join(logDir, 'janus.log'), 'w'), fs.openSync(path.join(logDir, 'janus.err'), 'w')] });
  process.on('exit', () => { try { janus.kill('SIGKILL'); } catch {} });
  await waitFor('janus to answer', () => new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: janusPort, path: '/janus/info' }, (r) => { r.resume(); resolve(r.statusCode === 200); })
      .on('error', () => resolve(false));
  }), 15000);
  const rssIdleKib = procStatusKib(janus.pid, 'VmRSS');

  // One origin for the page and the API: / is the page, /janus... goes to Janus.
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith('/janus')) {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(PAGE);
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: janusPort, path: req.url, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  server.keepAliveTimeout = 0;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}/`;

  const { ctx, close } = await launchChromium(chromium, CHROMIUM, { contextPerPage: true });
  const pages = {};
  const joins = {};
  for (const [i, user] of PAGES.entries()) {
    const page = await openLoggedPage(ctx, logDir, user);
    pages[user] = page;
    await page.goto(`${base}?name=${user}`);
    await waitFor(`${user} in the room`, async () => {
      const s = await page.evaluate(() => ({ joined: window.jb.joinedAt !== null, error: window.jb.error }));
      if (s.error) throw new Error(`${user}: ${s.error} (logs: ${logDir})`);
      return s.joined;
    }, 30000);
    if (i > 0) joins[user] = await measureJoin(page, PAGES.slice(0, i));
  }
  const t0 = Date.now();
  let convergedS = null;
  let lastSeen = {};
  while (convergedS === null) {
    let ok = true;
    for (const p of PAGES) {
      const c = await pages[p].evaluate(() => window.jb.counts());
      lastSeen[p] = c;
      ok = ok && PAGES.filter((o) => o !== p).every((o) => c[o] && c[o].frames >= 10 && c[o].audio > 0);
    }
    if (ok) convergedS = (Date.now() - t0) / 1000;
    else if (Date.now() - t0 > 60000) {
      console.log(JSON.stringify({ participants: PAGES.length, joins, last_seen: lastSeen, logs: logDir,
        error: 'timed out waiting for every page to decode everyone' }, null, 1));
      throw new Error('timed out waiting for every page to decode everyone');
    } else await sleep(150);
  }
  await sleep(3000);  // let the layers settle, as the focus bench does

  // Packets the subscribers received (media, both kinds, all pages): what Janus forwarded, less what was lost.
  const packetsIn = async () => {
    let n = 0;
    for (const p of PAGES) for (const v of Object.values(await pages[p].evaluate(() => window.jb.counts()))) n += v.packets || 0;
    return n;
  };
  const packets0 = await packetsIn();
  const { wallS, cpuS, rssMaxKib: rssMax, rssMeanKib: rssMean } = await holdAndMeasure(janus.pid, HOLD_S);
  const forwarded = (await packetsIn()) - packets0;
  const layers = {};
  for (const p of PAGES) {
    const c = await pages[p].evaluate(() => window.jb.counts());
    layers[p] = Object.entries(c).map(([u, v]) => `${u}:${v.width}w`);
  }
  const joinTimes = Object.values(joins).filter(Boolean);
  const worst = (k) => (joinTimes.some((j) => j[k] === null) ? null : Math.max(...joinTimes.map((j) => j[k])));
  console.log(JSON.stringify({
    sfu: 'janus-videoroom',
    janus_version: fs.existsSync('/usr/share/doc/janus') ? 'Debian package janus' : JANUS,
    participants: PAGES.length,
    // Per joiner, from its publisher's "joined" (its data channel's counterpart in this client).
    joins,
    joins_worst: { first_remote_frame_s: worst('first_remote_frame_s'), all_over_10_frames_s: worst('all_over_10_frames_s') },
    converged_s: convergedS,
    hold_s: Number(wallS.toFixed(1)),
    sfu_cpu_s: Number(cpuS.toFixed(3)),
    sfu_cpu_percent_of_one_core: Number((100 * cpuS / wallS).toFixed(2)),
    sfu_rss_idle_mib: Number((rssIdleKib / 1024).toFixed(1)),
    sfu_rss_max_mib: Number((rssMax / 1024).toFixed(1)),
    sfu_rss_mean_mib: Number((rssMean / 1024).toFixed(1)),
    forwarded_pps: Math.round(forwarded / wallS),
    cpu_us_per_forwarded_packet: forwarded ? Number((1e6 * cpuS / forwarded).toFixed(2)) : null,
    substream: SUBSTREAM,
    layers_received: layers,
    logs: logDir,
  }, null, 1));
  janus.kill('SIGTERM');
  server.close();
  await close();
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
