// End-to-end: headless Chromium (fake camera + microphone, sendonly, plus a data channel) against the focus's
// WebRTC transport (io_focus_peer: ICE-lite + DTLS + SRTP + SCTP on one UDP port). Non-trickle: the browser's
// offer is sent after ICE gathering completes. Run inside `unshare -n` with lo up (CTest does).
// Passes when ICE + DTLS connect, the focus decrypts >= 50 audio and >= 50 video RTP packets, and a data-channel
// text message goes each way. Then the focus renegotiates over the data channel (its offer adds one sendonly
// audio and one sendonly video section; Chromium answers over the data channel) and echoes the browser's own
// media back on them; the page must decode the echoed video (framesDecoded on the inbound-rtp of the echo
// SSRC) and audio, and a PLI from the page must reach the publisher through the focus. Last, the page re-offers
// (a new canvas video track) over the data channel and the focus answers it; the echo must keep decoding.
// Usage: node browser_focus_e2e.mjs <io_focus_peer> <playwright-core/index.mjs> <chromium binary> [tcp]
// With "tcp" the focus also serves ICE-TCP and the test runs where every UDP packet is dropped (CTest loads
// block_udp.nft into the namespace): everything above must then work over one TCP connection, the selected
// pair must be TCP on both sides, and the focus's UDP port must have received nothing.
import { spawn } from 'node:child_process';
import http from 'node:http';
import readline from 'node:readline';
import fs from 'node:fs';

const [peerPath, playwrightPath, chromiumPath, transportMode] = process.argv.slice(2);
const tcpOnly = transportMode === 'tcp';
const { chromium } = await import(playwrightPath);
const deadline = Date.now() + 60000;

const ECHO_SSRC = {audio: 0x0EC0A001, video: 0x0EC0B002};  // io_focus_peer's send tracks
const html = `<!doctype html><html><body><script>
const ECHO_SSRC = ${JSON.stringify(ECHO_SSRC)};
window.log = [];
window.start = async () => {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true, video: {width: 320, height: 240}});
  const pc = window.pc = new RTCPeerConnection({bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require'});
  for (const t of stream.getTracks()) pc.addTransceiver(t, {direction: 'sendonly', streams: [stream]});
  const dc = window.dc = pc.createDataChannel('chat');
  window.received = [];
  dc.onopen = () => { window.log.push('dc open'); dc.send('hello from browser'); };
  window.echo = {tracks: [], renegotiated: false, error: null};
  pc.ontrack = (e) => {
    window.echo.tracks.push({kind: e.track.kind, mid: e.transceiver.mid, streams: e.streams.map(s => s.id)});
    const el = document.createElement(e.track.kind === 'video' ? 'video' : 'audio');
    el.autoplay = true;
    el.muted = e.track.kind === 'video';
    el.srcObject = new MediaStream([e.track]);
    document.body.appendChild(el);
    el.play().catch(err => window.log.push('play: ' + err));
  };
  dc.onmessage = async (e) => {
    if (typeof e.data === 'string' && e.data.startsWith('sdp-offer\\n')) {
      try {  // the focus's renegotiation offer: answer it over the data channel
        await pc.setRemoteDescription({type: 'offer', sdp: e.data.slice(10)});
        await pc.setLocalDescription(await pc.createAnswer());
        dc.send('sdp-answer\\n' + pc.localDescription.sdp);
        window.echo.renegotiated = true;
        window.echo.answer = pc.localDescription.sdp;
      } catch (err) {
        window.echo.error = String(err);
      }
      return;
    }
    if (typeof e.data === 'string' && e.data.startsWith('sdp-answer\\n')) {
      try {  // the focus's answer to our re-offer
        await pc.setRemoteDescription({type: 'answer', sdp: e.data.slice(11)});
        window.echo.reanswered = true;
      } catch (err) {
        window.echo.error = String(err);
      }
      return;
    }
    window.received.push(e.data);
  };
  // The participant re-offers: a new video track (a canvas), sent over the data channel.
  window.reoffer = async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 160; canvas.height = 120;
    const ctx = canvas.getContext('2d');
    let n = 0;
    setInterval(() => { ctx.fillStyle = 'hsl(' + (n++ * 7 % 360) + ',80%,50%)'; ctx.fillRect(0, 0, 160, 120); }, 40);
    const track = canvas.captureStream(25).getVideoTracks()[0];
    pc.addTransceiver(track, {direction: 'sendonly', streams: [new MediaStream([track])]});
    await pc.setLocalDescription(await pc.createOffer());
    dc.send('sdp-offer\\n' + pc.localDescription.sdp);
  };
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
               audioSent: 0, videoSent: 0, videoPliReceived: 0, echo: {...window.echo, answer: undefined},
               signaling: pc.signalingState};
  (await pc.getStats()).forEach(s => {
    if (s.type === 'outbound-rtp') out[s.kind + 'Sent'] += s.packetsSent;
    if (s.type === 'outbound-rtp' && s.kind === 'video') out.videoPliReceived += s.pliCount || 0;
    if (s.type === 'inbound-rtp' && s.ssrc === ECHO_SSRC[s.kind]) {
      out.echo[s.kind] = {ssrc: s.ssrc, mid: s.mid, packets: s.packetsReceived, lost: s.packetsLost,
                          framesDecoded: s.framesDecoded, keyFramesDecoded: s.keyFramesDecoded, pliSent: s.pliCount,
                          nackSent: s.nackCount, samples: s.totalSamplesReceived,
                          concealed: s.concealedSamples, audioLevel: s.audioLevel};
    }
    if (s.type === 'transport') { out.dtlsCipher = s.dtlsCipher; out.srtpCipher = s.srtpCipher; out.dtlsState = s.dtlsState;
                                  out.selectedPairId = s.selectedCandidatePairId; }
  });
  const stats = await pc.getStats();
  const pair = out.selectedPairId && stats.get(out.selectedPairId);
  if (pair) {
    const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
    out.selected = {local: local && (local.protocol + ' ' + local.candidateType + ' ' + (local.tcpType || '')),
                    remote: remote && (remote.protocol + ' ' + remote.address + ':' + remote.port)};
  }
  return out;
};
</script></body></html>`;

const server = http.createServer((req, res) => { res.setHeader('content-type', 'text/html'); res.end(html); });
await new Promise(r => server.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({executablePath: chromiumPath, args: [
  '--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--disable-background-networking', '--disable-component-update', '--no-first-run',
  '--autoplay-policy=no-user-gesture-required']});
const page = await browser.newPage();
page.on('console', m => console.log('[page]', m.text()));
await page.goto(`http://127.0.0.1:${server.address().port}/`);

const peer = spawn(peerPath, tcpOnly ? ['127.0.0.1', 'tcp'] : ['127.0.0.1'], {stdio: ['pipe', 'pipe', 'inherit']});
const peerExit = new Promise(resolve => peer.on('exit', (code, signal) => resolve(signal ? signal : code)));
const send = (line) => peer.stdin.write(line + '\n');
const flatten = (s) => s.replace(/\r/g, '').replace(/\n/g, '|');
const unflatten = (s) => s.replace(/\|/g, '\r\n');

const focus = {stats: {}, messages: [], opened: [], errors: [], connected: null, finalLines: [], ssrcLines: []};
let answerResolve;
const answerPromise = new Promise(r => { answerResolve = r; });
let byeResolve;
const bye = new Promise(r => { byeResolve = r; });
readline.createInterface({input: peer.stdout}).on('line', (line) => {
  if (line.startsWith('answer ')) return answerResolve(unflatten(line.slice(7)));
  if (line.startsWith('reoffer ') || line.startsWith('reanswer ') || line.startsWith('reanswer-ours ')) {
    console.log('[focus] ' + line.split(' ')[0] + ':\n' + unflatten(line.slice(line.indexOf(' ') + 1)).replace(/\r\n/g, '\n'));
    return;
  }
  if (!line.startsWith('stats ')) console.log('[focus]', line);
  if (line.startsWith('stats ')) {
    focus.statsLine = line;
    for (const kv of line.slice(6).split(' ')) { const [k, v] = kv.split('='); focus.stats[k] = v; }
  } else if (line.startsWith('dc-message ')) focus.messages.push(line.split(' ').slice(2).join(' '));
  else if (line.startsWith('dc-open ')) focus.opened.push(line);
  else if (line.startsWith('dc-closed ')) focus.closed = true;
  else if (line.startsWith('connected ')) focus.connected = line.slice(10).split(' ')[0];
  else if (line.startsWith('renegotiated')) focus.renegotiated = true;
  else if (line.startsWith('pli ')) focus.pliRelayed = Number(line.slice(4));
  else if (line.startsWith('participant-reoffer ')) focus.reofferPublished = Number(line.split('=')[1]);
  else if (line.startsWith('ssrc ')) focus.ssrcLines.push(line);
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
    const e = browserState.echo;
    if (Number(s.audio) >= 50 && Number(s.video) >= 50 && focus.messages.includes('hello from browser') &&
        browserState.received.includes('hello from focus') && browserState.received.includes('echo: hello from browser') &&
        e.video && e.video.framesDecoded >= 10 && e.audio && e.audio.packets >= 50 &&
        e.audio.samples - e.audio.concealed > 0 && browserState.videoPliReceived >= 1) {
      break;
    }
    if (browserState.echo.error) break;
  }
}
// The participant re-offers (adds a canvas video track); the focus answers over the data channel; the echo
// must keep being decoded afterwards.
let framesBeforeReoffer = null;
if (answer && browserState && browserState.echo.video && browserState.echo.renegotiated) {
  framesBeforeReoffer = browserState.echo.video.framesDecoded;
  await page.evaluate(() => window.reoffer());
  while (Date.now() < deadline) {
    await new Promise(r => setTimeout(r, 250));
    browserState = await page.evaluate(() => window.state());
    const e = browserState.echo;
    if (e.error || (e.reanswered && browserState.signaling === 'stable' && focus.reofferPublished !== undefined &&
                    e.video.framesDecoded >= framesBeforeReoffer + 25)) break;
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
// The focus's renegotiation and the echo.
const echo = browserState ? browserState.echo : {};
if (!focus.renegotiated || !echo.renegotiated) fails.push(`renegotiation did not complete (${echo.error || 'no error reported'})`);
if (!echo.tracks || !echo.tracks.some(t => t.kind === 'audio' && t.streams.includes('echo')) ||
    !echo.tracks.some(t => t.kind === 'video' && t.streams.includes('echo'))) fails.push('no echo tracks in ontrack');
if (!echo.video || !(echo.video.framesDecoded > 0)) fails.push('the echoed video was not decoded');
if (!echo.audio || !(echo.audio.packets >= 50)) fails.push('too little echoed audio received');
if (!echo.audio || !(echo.audio.samples - echo.audio.concealed > 0)) fails.push('the echoed audio was not decoded');
if (!(focus.pliRelayed >= 1)) fails.push('the focus relayed no PLI');
if (!echo.reanswered || focus.reofferPublished !== 3) {
  fails.push(`participant re-offer not answered (published=${focus.reofferPublished}, ${echo.error || 'no error reported'})`);
}
// The track the re-offer added reaches the focus on its own (new) mid.
if (!focus.ssrcLines.some(l => { const m = / mid=(\S+) kind=video pt=\d+ packets=(\d+)/.exec(l);
                                 return m && !['0', '1', '3', '4'].includes(m[1]) && Number(m[2]) > 0; })) {
  fails.push('the focus received no media on the re-offered track');
}
if (!(framesBeforeReoffer !== null && echo.video && echo.video.framesDecoded >= framesBeforeReoffer + 25)) {
  fails.push('the echo stopped after the participant re-offer');
}
if (!browserState || !(browserState.videoPliReceived >= 1)) fails.push('the publisher received no PLI');
if (!(Number(s.send_drops) === 0)) fails.push(`focus send drops (${s.send_drops})`);
if (tcpOnly) {
  if (!answer || !/ tcp \d+ \S+ \d+ typ host tcptype passive/.test(answer)) fails.push('no passive TCP candidate in the answer');
  if (!(Number(s.udp_rx) === 0)) fails.push(`the focus's UDP port received ${s.udp_rx} datagrams: UDP is not blocked`);
  if (!(Number(s.udp_tx) === 0)) fails.push(`the focus sent ${s.udp_tx} datagrams over UDP`);
  if (!(Number(s.tcp_rx) > 100)) fails.push(`too few frames over ICE-TCP (${s.tcp_rx})`);
  if (!(s.selected || '').startsWith('tcp:')) fails.push(`the focus did not select a TCP address (${s.selected})`);
  const sel = browserState && browserState.selected;
  if (!sel || !/^tcp /.test(sel.local) || !/^tcp /.test(sel.remote)) fails.push(`Chromium's selected pair is not TCP (${JSON.stringify(sel)})`);
  else console.log('selected pair (Chromium):', JSON.stringify(sel));
}
if (focus.errors.length) fails.push('focus errors: ' + focus.errors.join('; '));
if (exitStatus !== 0) fails.push(`io_focus_peer exited with ${exitStatus}`);
console.log(fails.length ? 'FAIL: ' + fails.join(', ') : 'PASS');
process.exit(fails.length ? 1 : 0);
