// ICE-TCP to `chorus focus` from browsers: two web-client pages (web/call/, served by `chorus hs`) in focus mode, in a
// network namespace where every UDP packet is dropped (CTest loads tests/integration/io/block_udp.nft), so the only
// way to the focus is its passive TCP candidate. Checks: each page decodes the other's video and audio through the
// focus; each page's selected candidate pair is TCP; the focus sends to both over TCP ("tcp:..." selected address) and
// its UDP port received nothing.
// Usage (inside tests/netns/run.sh, after `nft -f block_udp.nft`): node focus_tcp_chromium.js /path/to/chorus /path/to/web
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, api, openFocusPage, createRoomWithFocus } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#tcpweb:localhost';
const PAGES = ['alice', 'bob'];

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 170000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-tcp-web-'));
  const focusConfig = path.join(logDir, 'focus.json');
  fs.writeFileSync(focusConfig, JSON.stringify({ allowed_servers: ['localhost'] }));
  const hs = await startHs(chorus, { users: ['focus', ...PAGES], extra: ['--web', webRoot] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  const focusLines = [];
  let focus = null;
  const lastFocus = (ev) => { for (let i = focusLines.length - 1; i >= 0; i--) if (focusLines[i].event === ev) return focusLines[i]; return null; };
  const pages = {};
  try {
    const { roomId, token, invited } = await createRoomWithFocus(hs, 'tcpweb', FOCUS);
    check(invited, 'room created, focus invited');
    focus = spawn(chorus, ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1', '--config', focusConfig],
    { stdio: ['ignore', 'pipe', fs.openSync(path.join(logDir, 'focus.err'), 'w')] });
    process.on('exit', () => { try { focus.kill('SIGKILL'); } catch {} });
    readline.createInterface({ input: focus.stdout }).on('line', (l) => { try { focusLines.push(JSON.parse(l)); } catch {} });
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    const ready = lastFocus('ready');
    if (!check(!!joined && ready && ready.tcp_port > 0, 'the focus joins and serves ICE-TCP ' + JSON.stringify(ready))) throw new Error('no focus');

    for (const [i, u] of PAGES.entries()) {
      const { page, connected } = await openFocusPage(ctx, hs, u, { room: ROOM, focus: FOCUS, create: i === 0 });
      pages[u] = page;
      check(connected, `${u}: connected to the focus (ICE+DTLS) with UDP dropped`);
    }
    const sees = (u, other) => pages[u].evaluate((o) => {
      const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === o);
      return !!t && t.framesDecoded >= 10 && t.audioSamplesReceived > 0;
    }, `@${other}:localhost`);
    await attempt('both pages to decode each other', async () => (await sees('alice', 'bob')) && (await sees('bob', 'alice')), 60000);
    check(await sees('alice', 'bob'), 'alice decodes bob\'s video and audio over ICE-TCP');
    check(await sees('bob', 'alice'), 'bob decodes alice\'s video and audio over ICE-TCP');
    for (const u of PAGES) {
      const pair = await pages[u].evaluate(async () => {
        const stats = await window.chorusFocus.pc.getStats();
        let sel = null;
        stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) sel = stats.get(s.selectedCandidatePairId); });
        if (!sel) return null;
        const l = stats.get(sel.localCandidateId), r = stats.get(sel.remoteCandidateId);
        return { local: l && `${l.protocol} ${l.candidateType} ${l.tcpType || ''}`, remote: r && `${r.protocol} ${r.address}:${r.port}` };
      });
      check(!!pair && /^tcp /.test(pair.local) && /^tcp /.test(pair.remote), `${u}: the selected pair is TCP (${JSON.stringify(pair)})`);
    }
    await new Promise((r) => setTimeout(r, 1200));  // one more stats line
    const st = lastFocus('stats') || {};
    const parts = st.participants || [];
    for (const u of PAGES) {
      const p = parts.find((x) => x.user_id === `@${u}:localhost`) || {};
      check(/^tcp:/.test(p.selected || ''), `the focus sends to ${u} over ICE-TCP (${p.selected})`);
      // Its data channel as the focus sees it: messages both ways (subscriptions in, offers/metadata out), an
      // established association (SCTP_ESTABLISHED is 8 in usrsctp) on an active path with nothing stuck in flight.
      const dc = p.data_channel || {};
      check(dc.messages_in > 0 && dc.messages_out > 0 && dc.state === 8 && dc.path === 'active' && dc.pending === 0 &&
        dc.drops === 0,
        `the focus's data channel with ${u} is established and used (${JSON.stringify(dc)})`);
    }
    check(st.udp_rx === 0 && st.tcp_frames_rx > 100,
      `the focus's UDP port received nothing, its TCP port the media (udp_rx ${st.udp_rx}, tcp_frames_rx ${st.tcp_frames_rx})`);
  } catch (e) {
    check(false, 'exception: ' + e.message);
  }
  if (failures.length) {
    const t = fs.readFileSync(path.join(logDir, 'focus.err'), 'utf8').split('\n').filter(Boolean);
    console.log(`--- focus.err (last 25 of ${t.length} lines)\n` + t.slice(-25).join('\n'));
    console.log('--- focus stats: ' + JSON.stringify(lastFocus('stats')));
  }
  if (focus) { try { focus.kill('SIGTERM'); } catch {} }
  await closeChromium();
  hs.stop();
  clearTimeout(overall);
  fs.rmSync(logDir, { recursive: true, force: true });
  console.log(failures.length ? `RESULT: FAIL (${failures.length})` : 'RESULT: PASS');
  process.exit(failures.length ? 1 : 0);
})();
