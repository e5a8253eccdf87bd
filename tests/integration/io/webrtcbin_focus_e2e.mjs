// End-to-end: GStreamer 1.22 webrtcbin (Opus + VP8, sendonly, max-bundle; AES-CM SRTP only, RSA certificate,
// no header extensions, a=ssrc lines) against the focus's WebRTC transport (io_focus_peer). Run inside
// `unshare -n` with lo up (CTest does). Passes when ICE + DTLS connect and the focus decrypts >= 50 audio and
// >= 50 video RTP packets, attributed to the right m-line via the offer's a=ssrc lines.
// Usage: node webrtcbin_focus_e2e.mjs <io_focus_peer> <webrtcbin_offerer>
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';

const [focusPath, offererPath] = process.argv.slice(2);
const deadline = Date.now() + 45000;

const focus = spawn(focusPath, ['127.0.0.1'], {stdio: ['pipe', 'pipe', 'inherit']});
// The offerer is a GStreamer test tool: GLib keeps its quark table on purpose (docs/endpoint.md), so LeakSanitizer
// is off for it in ASan builds. io_focus_peer keeps full leak checking.
const offerer = spawn(offererPath, [], {stdio: ['pipe', 'pipe', 'inherit'],
  env: {...process.env, ASAN_OPTIONS: (process.env.ASAN_OPTIONS ? process.env.ASAN_OPTIONS + ':' : '') + 'detect_leaks=0'}});
const exitOf = (p) => new Promise(resolve => p.on('exit', (code, signal) => resolve(signal ? signal : code)));
const focusExit = exitOf(focus), offererExit = exitOf(offerer);
const unflatten = (s) => s.replace(/\|/g, '\r\n');

const st = {stats: {}, errors: [], connected: null, ice: [], focusBye: false, ssrcLines: []};
let byeResolve;
const bye = new Promise(r => { byeResolve = r; });
readline.createInterface({input: focus.stdout}).on('line', (line) => {
  if (line.startsWith('answer ')) {
    console.log('answer:\n' + unflatten(line.slice(7)).replace(/\r\n/g, '\n'));
    offerer.stdin.write(line + '\n');
    return;
  }
  if (line.startsWith('stats ')) {
    st.statsLine = line;
    for (const kv of line.slice(6).split(' ')) { const [k, v] = kv.split('='); st.stats[k] = v; }
    return;
  }
  console.log('[focus]', line);
  if (line.startsWith('connected ')) st.connected = line.slice(10).split(' ')[0];
  else if (line.startsWith('ssrc ')) st.ssrcLines.push(line);
  else if (line.startsWith('error ') || line.startsWith('failed ')) st.errors.push(line);
  else if (line === 'bye') byeResolve();
});
readline.createInterface({input: offerer.stdout}).on('line', (line) => {
  if (line.startsWith('offer ')) {
    const sdp = unflatten(line.slice(6));
    if (process.env.CHORUS_SAVE_OFFER) fs.writeFileSync(process.env.CHORUS_SAVE_OFFER, sdp);  // fuzz seeds
    console.log('offer m-lines:', sdp.split('\r\n').filter(l => l.startsWith('m=')).join(' / '));
    focus.stdin.write(line + '\n');
    return;
  }
  console.log('[webrtcbin]', line);
  if (line.startsWith('state ')) st.ice.push(line.slice(6));
  if (line.startsWith('error ')) st.errors.push(line);
});

while (Date.now() < deadline) {
  await new Promise(r => setTimeout(r, 500));
  if (Number(st.stats.audio) >= 50 && Number(st.stats.video) >= 50) break;
  if (st.errors.length) break;
}
focus.stdin.write('quit\n');
await Promise.race([bye, new Promise(r => setTimeout(r, 5000))]);
offerer.stdin.write('quit\n');
focus.stdin.end();
offerer.stdin.end();
const timeout = (p) => Promise.race([p, new Promise(r => setTimeout(() => r('timeout'), 8000))]);
const [fe, oe] = [await timeout(focusExit), await timeout(offererExit)];
if (oe === 'timeout') offerer.kill('SIGKILL');

console.log('focus:', st.statsLine, '| connected:', st.connected, '| webrtcbin ICE:', st.ice.join(','));
const fails = [];
const s = st.stats;
if (!st.connected) fails.push('focus DTLS not connected');
if (!(Number(s.audio) >= 50)) fails.push(`focus decrypted too little audio (${s.audio})`);
if (!(Number(s.video) >= 50)) fails.push(`focus decrypted too little video (${s.video})`);
if (!st.ssrcLines.some(l => / mid=\S+ kind=audio/.test(l)) || !st.ssrcLines.some(l => / mid=\S+ kind=video/.test(l))) {
  fails.push('SSRCs not attributed to their m-lines (a=ssrc)');
}
if (st.errors.length) fails.push('errors: ' + st.errors.join('; '));
if (fe !== 0) fails.push(`io_focus_peer exited with ${fe}`);
if (oe !== 0) fails.push(`io_webrtcbin_offerer exited with ${oe}`);
console.log(fails.length ? 'FAIL: ' + fails.join(', ') : 'PASS');
process.exit(fails.length ? 1 : 0);
