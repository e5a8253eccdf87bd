// End-to-end: headless Chromium (fake camera + microphone, sendonly, plus a data channel) against the focus's
// WebRTC transport (io_focus_peer: ICE-lite + DTLS + SRTP + SCTP on one UDP port). Non-trickle: the browser's
// offer is sent after ICE gathering completes. Run inside `unshare -n` with lo up (CTest does).
// Passes when ICE + DTLS connect, the focus decrypts >= 50 audio and >= 50 video RTP packets, and a data-channel
// text message goes each way.
// Usage: node browser_focus_e2e.mjs <io_focus_peer> <playwright-core/index.mjs> <chromium binary>
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import fs from 'node:fs';

const [peerPath, playwrightPath, chromiumPath] = process.argv.slice(2);
const { chromium } = await import(playwrightPath);
const deadline = Date.now() + 60000;

const html = `<!doctype html><html><body><script>
window.log = [];
window.start = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  const pc = window.pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly', streams: [stream]});
  const dc = window.dc = pc.createDataChannel('chat');
  window.received = [];
  dc.onopen = () => { window.log.push('dc open'); dc.send('hello from browser'); };
  dc.onmessage = (e) => window.received.push(e.data);
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(r => {
    if (pc.iceGatheringState === 'complete') return r();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
  });
  return pc.localDescription.sdp;
};
window.answer = (sdp) => pc.setRemoteDescription({type: 'answer', sdp});
window.state = async () => {
  const out = {ice: pc.iceConnectionState, conn: pc.connectionState, dc: dc.readyState, received: window.received,
               audioSent: 0, videoSent: 0};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'outbound-rtp') out[s.kind + 'Sent'] += s.packetsSent;
    if (s.type === 'transport') { out.dtlsCipher = s.dtlsCipher; out.srtpCipher = s.srtpCipher; out.dtlsState = s.dtlsState; }
  });
  return out;
};
</script></body></html>`;

const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(html); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({executablePath: chromiumPath, args: [
  '--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking', '--disable-component-update', '--no-first-run']});
const page = await browser.newPage();
page.on('console', m => console.log('[page]', m.text()));
await page.goto(`http://127.0.0.1:${server.address().port}/`);

const peer = spawn(peerPath, ['127.0.0.1'], {stdio: ['pipe', 'pipe', 'inherit']});
const peerExit = new Promise(resolve => peer.on('exit', (code, signal) => resolve(signal ? signal : code)));
const send = (line) => peer.stdin.write(line + '\n');
const flatten = (s) => s.replace(/\r/g, '').replace(/\n/g, '|');
const unflatten = (s) => s.replace(/\|/g, '\r\n');

const focus = {stats: {}, messages: [], opened: [], errors: [], connected: null, finalLines: []};
let answerResolve;
const answerPromise = new Promise(r => { answerResolve = r; });
let byeResolve;
const bye = new Promise(r => { byeResolve = r; });
readline.createInterface({input: peer.stdout}).on('line', (line) => {
  if (line.startsWith('answer ')) return answerResolve(unflatten(line.slice(7)));
  if (!line.startsWith('stats ')) console.log('[focus]', line);
  if (line.startsWith('stats ')) {
    focus.statsLine = line;
    for (const kv of line.slice(6).split(' ')) { const [k, v] = kv.split('='); focus.stats[k] = v; }
  } else if (line.startsWith('dc-message ')) focus.messages.push(line.split(' ').slice(2).join(' '));
  else if (line.startsWith('dc-open ')) focus.opened.push(line);
  else if (line.startsWith('dc-closed ')) focus.closed = true;
  else if (line.startsWith('connected ')) focus.connected = line.slice(10).split(' ')[0];
  else if (line.startsWith('error ') || line.startsWith('failed ')) { focus.errors.push(line); answerResolve(null); }
  else if (line === 'bye') byeResolve();
});

const offer = await page.evaluate(() => window.start());
console.log('offer m-lines:', offer.split('\n').filter(l => l.startsWith('m=')).map(l => l.trim()).join(' / '));
if (process.env.CHORUS_SAVE_OFFER) fs.writeFileSync(process.env.CHORUS_SAVE_OFFER, offer);  // fuzz seeds
send('offer ' + flatten(offer));
const answer = await answerPromise;
let browserState = null;
if (answer) {
  console.log('answer:\n' + answer.replace(/\r\n/g, '\n'));
  await page.evaluate((sdp) => window.answer(sdp), answer);
  // Wait for media and both data-channel messages (or the deadline).
  while (Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 500));
    browserState = await page.evaluate(() => window.state());
    const s = focus.stats;
    if (Number(s.audio) >= 50 && Number(s.video) >= 50 && focus.messages.includes('hello from browser') &&
        browserState.received.includes('hello from focus') && browserState.received.includes('echo: hello from browser')) {
      break;
    }
  }
}
// The browser closes its data channel: SCTP stream reset, which the focus must see and answer.
if (answer && browserState && browserState.dc === 'open') {
  await page.evaluate(() => window.dc.close());
  for (let i = 0; i < 40 && !focus.closed; ++i) await new Promise(r => setTimeout(r, 50));
  browserState.dcAfterClose = await page.evaluate(() => window.dc.readyState);
}
send('quit');
await Promise.race([bye, new Promise(r => setTimeout(r, 5000))]);
peer.stdin.end();
const exitStatus = await Promise.race([peerExit, new Promise(r => setTimeout(() => r('timeout'), 5000))]);
await browser.close();
server.close();

console.log('chromium:', JSON.stringify(browserState));
console.log('focus:   ', focus.statsLine, '| connected:', focus.connected);
const fails = [];
const s = focus.stats;
if (!answer) fails.push('no answer: ' + focus.errors.join('; '));
if (!browserState || browserState.ice !== 'connected' && browserState.ice !== 'completed') fails.push('ICE not connected');
if (!browserState || browserState.conn !== 'connected') fails.push('peer connection not connected (DTLS)');
if (!focus.connected) fails.push('focus DTLS not connected');
if (!(Number(s.audio) >= 50)) fails.push(`focus decrypted too little audio (${s.audio})`);
if (!(Number(s.video) >= 50)) fails.push(`focus decrypted too little video (${s.video})`);
if (!focus.messages.includes('hello from browser')) fails.push('browser -> focus data-channel message missing');
if (!browserState || !browserState.received.includes('hello from focus')) fails.push('focus -> browser greeting missing');
if (!browserState || !browserState.received.includes('echo: hello from browser')) fails.push('focus -> browser echo missing');
if (!focus.closed) fails.push('focus did not see the data channel close');
if (focus.errors.length) fails.push('focus errors: ' + focus.errors.join('; '));
if (exitStatus !== 0) fails.push(`io_focus_peer exited with ${exitStatus}`);
console.log(fails.length ? 'FAIL: ' + fails.join(', ') : 'PASS');
process.exit(fails.length ? 1 : 0);
