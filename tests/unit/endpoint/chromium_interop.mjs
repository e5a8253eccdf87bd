// Headless Chromium <-> chorus MediaEngine (endpoint_chromium_peer) over 127.0.0.1 with trickle ICE.
// Run inside `unshare -n` with lo up (CTest does). Exit status 0 = media decoded both ways and the MediaStream ids
// match on both sides.
// Usage: node chromium_interop.mjs <endpoint_chromium_peer> <offerer: chorus|chromium> <playwright-core/index.mjs>
//             <chromium binary>
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';

const [peerPath, offerer, playwrightPath, chromiumPath] = process.argv.slice(2);
const { chromium } = await import(playwrightPath);

const html = `<!doctype html><html><body><video id=v autoplay muted playsinline></video><audio id=a autoplay></audio>
<script>
window.remoteStreams = [];
window.start = async (offer) => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  window.localStreamId = stream.id;
  window.pc = new RTCPeerConnection({bundlePolicy: 'max-bundle'});
  stream.getTracks().forEach(t => pc.addTrack(t, stream));
  pc.onicecandidate = e => window.sendCand(e.candidate ? JSON.stringify(e.candidate.toJSON()) : '');
  pc.ontrack = e => {
    window.remoteStreams.push({kind: e.track.kind, id: e.streams[0] ? e.streams[0].id : null});
    // Chromium only decodes what is attached to a media element.
    document.getElementById(e.track.kind === 'video' ? 'v' : 'a').srcObject = e.streams[0] || new MediaStream([e.track]);
  };
  if (!offer) return null;
  await pc.setLocalDescription(await pc.createOffer());
  return pc.localDescription.sdp;
};
window.setRemote = async (type, sdp) => {
  await pc.setRemoteDescription({type, sdp});
  if (type !== 'offer') return null;
  await pc.setLocalDescription(await pc.createAnswer());
  return pc.localDescription.sdp;
};
window.addCand = (c) => pc.addIceCandidate(c);
window.stats = async () => {
  const out = {state: pc.connectionState, audioPackets: 0, videoFrames: 0};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.audioPackets += s.packetsReceived;
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.videoFrames += s.framesDecoded || 0;
    if (s.type === 'transport') { out.dtls = s.dtlsCipher; out.srtp = s.srtpCipher; }
  });
  return out;
};
</script></body></html>`;

const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(html); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({executablePath: chromiumPath, args: [
  '--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required']});
const page = await browser.newPage();
await page.exposeFunction('sendCand', (json) => {
  if (!json) return send('cand 0 - ');  // end-of-candidates
  const c = JSON.parse(json);
  send(`cand ${c.sdpMLineIndex ?? 0} ${c.sdpMid ?? '-'} ${c.candidate}`);
});
await page.goto(`http://127.0.0.1:${server.address().port}/`);
// getUserMedia + RTCPeerConnection first; the peer's lines wait for it (its offer may come at once).
// Browser candidates may reach the peer before the browser's offer: the engine buffers them.
const startPromise = page.evaluate((o) => window.start(o), offerer === 'chromium');
const peer = spawn(peerPath, [offerer === 'chorus' ? 'offer' : 'answer', '5'], {stdio: ['pipe', 'pipe', 'inherit']});
const peerExit = new Promise(resolve => peer.on('exit', (code, signal) => resolve(signal ? signal : code)));
const send = (line) => peer.stdin.write(line + '\n');  // peer exists before any browser candidate
const flatten = (s) => s.replace(/\r/g, '').replace(/\n/g, '|');
const unflatten = (s) => s.replace(/\|/g, '\r\n');

const chorus = {remote: [], stats: '', errors: []};
let browserStats = null;
const finished = new Promise(resolve => {
  readline.createInterface({input: peer.stdout}).on('line', async (line) => {
    await startPromise;
    if (line.startsWith('streamid ')) chorus.streamId = line.slice(9);
    else if (line.startsWith('remote ')) chorus.remote.push(line.split(' ').slice(1, 3));
    else if (line.startsWith('stats ')) chorus.stats = line;
    else if (line.startsWith('error ')) chorus.errors.push(line);
    else if (line.startsWith('state ')) chorus.state = line.slice(6);
    else if (line.startsWith('sdp ')) {
      const sp = line.indexOf(' ', 4);
      const answer = await page.evaluate(([t, s]) => window.setRemote(t, s), [line.slice(4, sp), unflatten(line.slice(sp + 1))]);
      if (answer) send('sdp answer ' + flatten(answer));
    } else if (line.startsWith('cand ')) {
      const [, idx, mid, ...rest] = line.split(' ');
      await page.evaluate((c) => window.addCand(c), {candidate: rest.join(' '), sdpMLineIndex: Number(idx), sdpMid: mid});
    } else if (line === 'bye') resolve();
    if (line.startsWith('state connected') && !browserStats) {
      setTimeout(async () => { browserStats = await page.evaluate(() => window.stats()); }, 4000);
    }
  });
});
const offer = await startPromise;
if (offer) send('sdp offer ' + flatten(offer));
await finished;
peer.stdin.end();
const exitStatus = await peerExit;  // non-zero e.g. when LeakSanitizer finds a leak at exit
const ids = await page.evaluate(() => ({local: window.localStreamId, remote: window.remoteStreams}));
await browser.close();
server.close();

console.log('chromium:', JSON.stringify(browserStats), JSON.stringify(ids));
console.log('chorus:  ', chorus.stats, JSON.stringify(chorus.remote), chorus.errors.join('; '));
const fails = [];
if (!browserStats || browserStats.state !== 'connected') fails.push('chromium not connected');
if (!browserStats || browserStats.audioPackets < 50) fails.push('chromium received too little audio');
if (!browserStats || browserStats.videoFrames < 20) fails.push('chromium decoded too little video');
if (ids.remote.length !== 2 || ids.remote.some(r => r.id !== chorus.streamId)) fails.push('chromium saw other stream ids than localStreamId()');
if (chorus.remote.length !== 2 || chorus.remote.some(([, id]) => id !== ids.local)) fails.push('chorus saw other stream ids than the browser MediaStream');
const m = /audio_decoded=(\d+) video_decoded=(\d+)/.exec(chorus.stats);
if (!m || Number(m[1]) < 50 || Number(m[2]) < 20) fails.push('chorus decoded too little');
if (chorus.errors.length) fails.push('chorus errors');
if (exitStatus !== 0) fails.push(`endpoint_chromium_peer exited with ${exitStatus}`);
console.log(fails.length ? 'FAIL: ' + fails.join(', ') : 'PASS');
process.exit(fails.length ? 1 : 0);
