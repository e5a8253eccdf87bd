// The web client (web/call/, served by `chorus hs` at /call/) in focus mode: two headless Chromium pages and two
// `chorus call --focus` bots in one call through `chorus focus`. The pages publish simulcast (f/h/q) and subscribe
// with their tiles' sizes. Checks:
//   - each page decodes audio and video of both bots and of the other page; each bot decodes both pages;
//   - simulcast: a big tile (spotlight) gets the full 640 px layer, a 160 px tile a layer <= 320 px, big again 640;
//   - "Leave" in one page removes its tile in the other page;
//   - for a person: the sign-in form gives way to the call (and comes back on Leave); each tile shows the
//     participant's display name (or user id when there is none); the speaking highlight (data-speaking, set from
//     the audio level measured on the tile's track) is on for everyone sending sound (bots: a tone, Chromium's fake
//     microphone: a beep) and goes off for a participant who mutes; no failed loads or 404s (favicon included).
//     A screenshot of alice's page is written to $CHORUS_SCREENSHOT (default: <tmp>/chorus-focus-web-alice.png).
// Usage (inside tests/netns/run.sh): node focus_web_chromium.js /path/to/chorus /path/to/repo/web
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps, sleep, api } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

const FOCUS = '@focus:localhost';
const ROOM = '#focusweb:localhost';
const BOTS = ['bot1', 'bot2'];
const PAGES = ['alice', 'bob'];
const mxid = (u) => `@${u}:localhost`;
const MIN_FRAMES = 10;
// Display names set before anyone joins; the others keep the one chorus hs gives at registration (the localpart).
const DISPLAY_NAMES = { alice: 'Alice Liddell', bot1: 'Bot One' };
const shownName = (u) => DISPLAY_NAMES[u] || u;
// `slots`: the focus forwards each participant at most 2 audio streams (audio_slots 2; each page subscribes to
// 3), the loudest on the focus's own slot streams, and names who is on each (org.chorus.audio_slots): each page
// hears a slot in its speaker's tile, shows no tile for the focus, and every tile still decodes video.
const SLOTS = process.argv[4] === 'slots';
const SCREENSHOT = process.env.CHORUS_SCREENSHOT || path.join(os.tmpdir(), 'chorus-focus-web-alice.png');

// A child process whose stdout is JSON lines; stderr goes to a file (printed on failure).
function spawnJson(cmd, args, logFile) {
  const err = fs.openSync(logFile, 'w');
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', err] });
  const lines = [];
  readline.createInterface({ input: proc.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
  process.on('exit', () => { try { proc.kill('SIGKILL'); } catch {} });
  return { proc, lines, logFile, last: (ev) => { for (let i = lines.length - 1; i >= 0; i--) if (lines[i].event === ev) return lines[i]; return null; } };
}

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); dumpAndExit(1); }, 280000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chorus-focus-web-'));
  const hs = await startHs(chorus, { users: ['focus', ...PAGES, ...BOTS, 'carol'], extra: ['--web', webRoot] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  let focus = null;
  const bots = {};
  const pages = {};
  let dumped = false;
  async function dump() {
    if (dumped) return;
    dumped = true;
    for (const [u, page] of Object.entries(pages)) {
      try {
        const s = await page.evaluate(() => window.chorusFocus && window.chorusFocus.snapshot());
        if (!s) { console.log(`--- ${u}: no window.chorusFocus`); continue; }
        const wire = await page.evaluate(() => window.chorusFocus.wire.map((w) => `${w.dir} ${w.type}` +
          (w.content && w.content.reason ? ` (${w.content.reason})` : '') +
          (w.type === 'm.call.track_subscription' ? ' ' + JSON.stringify(w.content) : '')));
        console.log(`--- ${u}: connected=${s.connected} ice=${s.iceState} dc=${s.dcState} counters=${JSON.stringify(s.counters)}`);
        console.log(`    tiles=${JSON.stringify(s.tiles)}`);
        console.log(`    remoteTracks=${JSON.stringify(s.remoteTracks)}`);
        console.log(`    outbound=${JSON.stringify(s.outbound)}`);
        console.log(`    remoteMetadata=${JSON.stringify(s.remoteMetadata)}`);
        console.log(`    wire: ${wire.slice(-60).join(' | ')}`);
      } catch (e) { console.log(`--- ${u}: ${e.message}`); }
    }
    if (focus) console.log('--- focus last stats: ' + JSON.stringify(focus.last('stats')));
    for (const [u, b] of Object.entries(bots)) console.log(`--- ${u} last stats: ` + JSON.stringify(b.last('stats')));
    for (const f of fs.readdirSync(logDir)) {
      const t = fs.readFileSync(path.join(logDir, f), 'utf8').split('\n').filter(Boolean);
      console.log(`--- ${f} (last 30 of ${t.length} lines)\n` + t.slice(-30).join('\n'));
    }
  }
  async function dumpAndExit(code) {
    try { await dump(); } catch {}
    process.exit(code);
  }

  const loads = [];  // failed loads, HTTP errors and console errors the pages showed: [user, text]
  try {
    for (const [u, name] of Object.entries(DISPLAY_NAMES)) {
      const l = await api(hs, 'POST', '/login', null,
        { type: 'm.login.password', identifier: { type: 'm.id.user', user: u }, password: 'pw' });
      const r = await api(hs, 'PUT', `/profile/${encodeURIComponent(mxid(u))}/displayname`, l.body.access_token, { displayname: name });
      check(r.status === 200, `${u}: display name "${name}" set`);
    }
    // Room with the focus invited.
    const alice = await api(hs, 'POST', '/login', null,
      { type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' });
    const created = await api(hs, 'POST', '/createRoom', alice.body.access_token,
      { preset: 'public_chat', room_alias_name: 'focusweb' });
    const roomId = created.body.room_id;
    check(!!roomId, 'room created');
    const inv = await api(hs, 'POST', `/rooms/${encodeURIComponent(roomId)}/invite`, alice.body.access_token, { user_id: FOCUS });
    check(inv.status === 200, 'focus invited');

    const focusArgs = ['--log-level', 'info', 'focus', '--homeserver', hs.url, '--user', 'focus', '--password', 'pw',
      '--udp-port', '0', '--json', '--stats-interval', '1'];
    if (SLOTS) {
      fs.writeFileSync(path.join(logDir, 'focus.json'), JSON.stringify({ audio_slots: 2 }));
      focusArgs.push('--config', path.join(logDir, 'focus.json'));
    }
    focus = spawnJson(chorus, focusArgs, path.join(logDir, 'focus.err'));
    const ready = await attempt('the focus to be ready', () => focus.last('ready'), 15000);
    check(!!ready, 'chorus focus is ready ' + JSON.stringify(ready));
    const joined = await attempt('the focus to join', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(FOCUS)}`, alice.body.access_token);
      return r.status === 200 && r.body.membership === 'join';
    }, 20000);
    if (!check(!!joined, 'the focus accepts the room invite')) throw new Error('no focus');

    // Page 1 starts the call; then the bots; then page 2.
    // alice names the focus in the URL; bob's page finds it in the others' member events (foci.active).
    const openPage = async (user, create, withFocus, extraQuery = '') => {
      const page = await ctx.newPage();
      pages[user] = page;
      page.on('pageerror', (e) => console.log(`PAGEERROR ${user}: ${e}`));
      page.on('console', (m) => {
        if (m.type() !== 'error') return;
        console.log(`console ${user}: ${m.text()}`);
        if (/Failed to load resource|404|not found/i.test(m.text())) loads.push([user, 'console: ' + m.text()]);
      });
      page.on('response', (r) => { if (r.status() >= 400) loads.push([user, `HTTP ${r.status()} ${r.request().method()} ${r.url()}`]); });
      page.on('requestfailed', (r) => {
        // Aborted on purpose (the sync long-poll on leave) is not a failed load.
        if (r.failure()?.errorText !== 'net::ERR_ABORTED') loads.push([user, `failed ${r.url()}: ${r.failure()?.errorText}`]);
      });
      const q = `room=${encodeURIComponent(ROOM)}` + (withFocus ? `&focus=${encodeURIComponent(FOCUS)}` : '') +
        (create ? '&create=1' : '') + extraQuery;
      const resp = await page.goto(`${hs.url}/call/?${q}`);
      check(resp.status() === 200, `${user}: page served`);
      await page.fill('#user', user);
      await page.fill('#password', 'pw');
      await page.click('button[type=submit]');
      const inCall = await attempt(`${user} in the call`, () => page.evaluate(() =>
        !document.getElementById('controls').hidden && !!window.chorusFocus && window.chorusFocus.mode === 'focus'), 30000);
      const via = inCall && await page.evaluate(() => window.chorusFocus.focus);
      check(!!inCall && via.user_id === FOCUS && via.device_id === 'CHORUSFOCUS',
        `${user}: the page joins in focus mode (${withFocus ? '?focus= in the URL' : 'focus found in the member events'})`);
      const shown = { login: await page.isVisible('#login'), leave: await page.isVisible('#leave'), mic: await page.isVisible('#mic') };
      check(!shown.login && shown.leave && shown.mic, `${user}: the sign-in form is hidden, Leave and the mute buttons show (${JSON.stringify(shown)})`);
      return page;
    };
    await openPage('alice', true, true);
    const connected = await attempt('alice connected to the focus', () => pages.alice.evaluate(() => window.chorusFocus.connected), 30000);
    check(!!connected, 'alice: connected to the focus (ICE+DTLS)');

    for (const b of BOTS) {
      bots[b] = spawnJson(chorus, ['--log-level', 'info', 'call', '--homeserver', hs.url, '--user', b, '--password', 'pw',
        '--room', ROOM, '--json', '--focus', FOCUS, '--width', '320', '--height', '240', '--fps', '15',
        '--stats-interval', '1', '--no-commands'], path.join(logDir, `${b}.err`));
    }
    await openPage('bob', false, false);

    // Everyone decodes everyone.
    const pageSees = (page, user) => page.evaluate(([u, slots]) => {
      const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === u);
      return !!t && t.framesDecoded >= 10 && t.videoWidth > 0 && (slots || t.audioSamplesReceived > 0) && t.name.length > 0;
    }, [user, SLOTS]);
    const others = (u) => [...BOTS, ...PAGES].filter((x) => x !== u);
    const t0 = Date.now();
    // Each pair is reported from the last round of the wait, not read again: until session 18 a tile's <video>
    // played its audio too and got a new MediaStream whenever the speaker on an audio slot changed, which could
    // read videoWidth 0 until the next frame rendered (a CI rehearsal failed so). Now the audio plays in the
    // tile's own <audio> (ChorusTiles.setTracks; checked below with slots).
    let seen = {};
    const everyone = await attempt('every page to decode everyone', async () => {
      seen = {};
      for (const p of PAGES) for (const o of others(p)) seen[`${p}|${o}`] = await pageSees(pages[p], mxid(o));
      return Object.values(seen).every(Boolean);
    }, 90000);
    for (const p of PAGES) {
      for (const o of others(p)) check(!!seen[`${p}|${o}`], `${p}: decodes video ${SLOTS ? '' : 'and audio '}of ${o} (tile with a name)`);
    }
    if (everyone) console.log(`     (all pages decoding everyone after ${((Date.now() - t0) / 1000).toFixed(1)} s)`);

    // Uplink transport-cc: the focus's feedback drives each page's send-side estimate, which ramps within a
    // second or two (3.7-4.1 Mbit/s at 0.5-2 s in bench/focus_browsers.js with --no-publisher-cap). Without it
    // (chorus focus --no-uplink-cc) the estimate grows from 300 kbit/s on receiver reports alone: 0.5-0.7
    // Mbit/s after 8 s. The focus also caps each publisher (REMB) to the layers its subscribers' tiles ask
    // for (send_cap_kbps in its stats): the estimate must reach that cap (or 1500 kbit/s) and stay under it.
    const uplink = {};
    const capOf = (p) => {
      const st = focus.last('stats');
      const me = st && (st.participants || []).find((x) => x.user_id === mxid(p));
      return me && me.send_cap_kbps ? me.send_cap_kbps * 1000 : 0;
    };
    const want = (p) => (capOf(p) > 0 ? Math.min(1500000, 0.9 * capOf(p)) : 1500000);
    const ramped = await attempt('every page\'s send-side estimate to ramp', async () => {
      for (const p of PAGES) uplink[p] = (await pages[p].evaluate(() => window.chorusFocus.snapshot())).availableOutgoingBitrate || 0;
      return PAGES.every((p) => uplink[p] >= want(p));
    }, 5000);
    const est = () => PAGES.map((p) => `${p} ${Math.round(uplink[p] / 1000)} (cap ${Math.round(capOf(p) / 1000)})`).join(', ');
    check(!!ramped, `uplink transport-cc: every page's send-side estimate reaches min(1500, 0.9 x the focus's cap) kbit/s (${est()} kbit/s, ${((Date.now() - t0) / 1000).toFixed(1)} s after bob's page opened)`);
    check(PAGES.every((p) => capOf(p) > 0 && uplink[p] > 0 && uplink[p] <= 1.1 * capOf(p)),
      `publisher cap: every page is capped by the focus (REMB) and its estimate stays under the cap (${est()} kbit/s)`);

    // What a person sees on each tile: the name, and who is speaking (measured audio level on the tile's track).
    const tileDom = (page, user) => page.evaluate((u) => {
      const t = u ? document.querySelector(`#tiles .tile[data-user="${u}"]:not(.local)`) : document.getElementById('tile-local');
      if (!t) return null;
      const r = t.getBoundingClientRect();
      return { name: t.querySelector('.name').textContent, speaking: t.dataset.speaking, level: Number(t.dataset.level),
        peak: Number(t.dataset.peak), cls: t.className, audioMuted: t.dataset.audioMuted, visible: r.width > 0 && r.height > 0,
        micMarkShown: getComputedStyle(t.querySelector('.mark.mic')).display !== 'none' };
    }, user);
    for (const p of PAGES) {
      for (const o of others(p)) {
        const d = await tileDom(pages[p], mxid(o));
        check(!!d && d.visible && d.name === shownName(o), `${p}: ${o}'s tile shows the name "${shownName(o)}" (shows ${JSON.stringify(d && d.name)})`);
      }
      const me = await tileDom(pages[p], null);
      check(!!me && me.name === `${shownName(p)} (you)`, `${p}: own tile shows "${shownName(p)} (you)" (shows ${JSON.stringify(me && me.name)})`);
    }
    if (SLOTS) {
      // Each page hears the 2 loudest of its 3 others on the focus's slots, each in its speaker's tile.
      const slotsOf = (page) => page.evaluate(() => [...window.chorusFocus.audioSlots.entries()]);
      const focusTile = (page) => page.evaluate((f) => !!document.querySelector(`#tiles .tile[data-user="${f}"]`), FOCUS);
      for (const p of PAGES) {
        const named = await attempt(`${p}: both slots named`, async () => (await slotsOf(pages[p])).length === 2, 15000);
        const slots = await slotsOf(pages[p]);
        const speakers = slots.map(([, s]) => s.user_id);
        check(!!named && new Set(speakers).size === 2 && speakers.every((u) => others(p).map(mxid).includes(u)),
          `${p}: the focus names two different others on its two audio slots (${JSON.stringify(slots)})`);
        check(!(await focusTile(pages[p])), `${p}: no tile for the focus's own slot streams`);
        // The slot's sound in the speaker tile's own <audio>, its <video> with video only: a speaker moving to
        // another slot changes the <audio>'s stream, not the <video>'s. Slots change speakers as the levels move
        // (ranked every 200 ms), so this reads the slots and those tiles together until one reading holds.
        const elsOf = (user) => pages[p].evaluate((user) => {
          const t = document.querySelector(`#tiles .tile[data-user="${user}"]`);
          const v = t && t.querySelector('video'), a = t && t.querySelector('audio');
          const n = (el, kind) => (el && el.srcObject ? el.srcObject.getTracks().filter((x) => x.kind === kind).length : 0);
          return { videoVideo: n(v, 'video'), videoAudio: n(v, 'audio'), audioAudio: n(a, 'audio') };
        }, user);
        let seen = null;
        const elsOk = await attempt(`${p}: slot tiles' <audio> and <video>`, async () => {
          const now = (await slotsOf(pages[p])).map(([, s]) => s.user_id);
          seen = {};
          for (const u of now) seen[u] = await elsOf(u);
          return now.length === 2 && Object.values(seen).every((e) => e.videoVideo === 1 && e.videoAudio === 0 && e.audioAudio === 1);
        }, 5000);
        check(!!elsOk, `${p}: each slot speaker's tile plays the slot in its own <audio>, its <video> carries video only (${JSON.stringify(seen)})`);
        for (const u of speakers) {
          const ok = await attempt(`${p}: ${u} speaking`, async () => {
            const d = await tileDom(pages[p], u);
            return !!d && d.speaking === 'true' && d.peak >= 0.01;
          }, 10000);
          const d = await tileDom(pages[p], u);
          check(!!ok, `${p}: ${u}'s tile plays the slot's audio and shows speaking (level ${d && d.level}, peak ${d && d.peak})`);
        }
      }
      const st = focus.last('stats');
      check(!!st && st.audio_slot_subscribers >= 4,
        `every participant receives audio on slots (focus audio_slot_subscribers ${st && st.audio_slot_subscribers})`);
    }
    // The rest is the full client without slots.
    full: {  // eslint-disable-line no-labels
    if (SLOTS) break full;  // eslint-disable-line no-labels
    const speakingIn = async (page, user, want) => {
      const d = await tileDom(page, user);
      return !!d && (d.speaking === 'true') === want && (want ? d.peak >= 0.01 : true);
    };
    for (const p of PAGES) {
      for (const o of [...others(p), null]) {
        const ok = await attempt(`${p}: ${o || 'own tile'} speaking`, () => speakingIn(pages[p], o && mxid(o), true), 10000);
        const d = await tileDom(pages[p], o && mxid(o));
        check(!!ok && /\bspeaking\b/.test(d.cls), `${p}: ${o ? o + "'s" : 'own'} tile shows speaking (level ${d && d.level}, peak ${d && d.peak})`);
      }
    }
    await pages.alice.screenshot({ path: SCREENSHOT });
    console.log(`     (screenshot of alice's page: ${SCREENSHOT})`);
    const botSees = (b, u) => {
      const s = bots[b].last('stats');
      const peer = s && (s.peers || []).find((x) => x.user_id === mxid(u));
      return !!peer && peer.audio_frames_decoded > 0 && peer.video_frames_decoded >= MIN_FRAMES;
    };
    await attempt('the bots to decode the pages', () => BOTS.every((b) => PAGES.every((p) => botSees(b, p))), 30000);
    for (const b of BOTS) for (const p of PAGES) check(botSees(b, p), `${b}: decodes video and audio of ${p}`);

    // Simulcast: bob's tile in alice's page, big -> small -> big.
    const bobInAlice = () => pages.alice.evaluate(() => (window.chorusFocus.tiles || []).find((x) => x.user_id === '@bob:localhost'));
    const bobDevice = (await bobInAlice())?.device_id;
    // First the tile takes its new size (tiles are sampled once a second), then the layer must follow.
    const frameWidthBecomes = async (what, sized, pred, ms) => {
      let last = null;
      await attempt('the tile to take its size', async () => sized((await bobInAlice())?.clientWidth || 0), 5000);
      const ok = await attempt(what, async () => {
        const t = await bobInAlice();
        last = t;
        // framesDecoded must move too, so we look at live frames.
        return t && pred(t.frameWidth) && t.framesDecoded > 0;
      }, ms);
      return { ok: !!ok, last };
    };
    if (bobDevice) {
      await pages.alice.evaluate((d) => window.chorusFocus.spotlight('@bob:localhost', d), bobDevice);
      const bobLayers = async () => {
        const s = await pages.bob.evaluate(() => window.chorusFocus.snapshot());
        return `bob sends ${s.outbound.filter((o) => o.rid).map((o) => `${o.rid}:${o.frameWidth}x${o.frameHeight}@${o.targetBitrate}bps(${o.qualityLimitationReason})`).join(' ')}, ` +
          `availableOutgoingBitrate ${s.availableOutgoingBitrate}`;
      };
      let r = await frameWidthBecomes('the full layer in a big tile', (cw) => cw >= 640, (w) => w >= 640, 20000);
      console.log('     (' + await bobLayers() + ')');
      check(r.ok, `simulcast: bob's tile big (${r.last && r.last.clientWidth}x${r.last && r.last.clientHeight}) -> frameWidth 640 (got ${r.last && r.last.frameWidth})`);
      await pages.alice.evaluate((d) => window.chorusFocus.setTileSize('@bob:localhost', d, 160), bobDevice);
      r = await frameWidthBecomes('a lower layer in a small tile', (cw) => cw > 0 && cw <= 160, (w) => w > 0 && w <= 320, 20000);
      // Let it settle on the layer it chose (q = 160 when the publisher sends it).
      await sleep(3000);
      const settled = await bobInAlice();
      check(r.ok, `simulcast: bob's tile small (${r.last && r.last.clientWidth}x${r.last && r.last.clientHeight}) -> frameWidth <= 320 (got ${settled && settled.frameWidth})`);
      await pages.alice.evaluate((d) => window.chorusFocus.spotlight('@bob:localhost', d), bobDevice);
      r = await frameWidthBecomes('the full layer again', (cw) => cw >= 640, (w) => w >= 640, 20000);
      console.log('     (' + await bobLayers() + ')');
      check(r.ok, `simulcast: bob's tile big again (${r.last && r.last.clientWidth}x${r.last && r.last.clientHeight}) -> frameWidth 640 (got ${r.last && r.last.frameWidth})`);
      const subs = await pages.alice.evaluate(() => window.chorusFocus.wire.filter((w) => w.type === 'm.call.track_subscription').length);
      console.log(`     (alice sent ${subs} m.call.track_subscription messages)`);
    } else {
      check(false, 'simulcast: bob has a tile in alice\'s page');
    }

    // Mute reaches the other page through the focus.
    await pages.bob.click('#mic');
    const muted = await attempt('alice to see bob muted', async () => (await bobInAlice())?.audio_muted === true, 10000);
    check(!!muted, 'bob mutes: alice\'s page shows it (metadata through the focus)');
    const bobTile = await tileDom(pages.alice, mxid('bob'));
    check(!!bobTile && bobTile.audioMuted === 'true' && bobTile.micMarkShown, 'bob mutes: alice\'s page shows the microphone-off mark on his tile');
    // Silence is measured as silence: bob's tile stops speaking (in alice's page and his own) while the bots' go on.
    const quiet = await attempt('bob\'s tile to stop speaking', async () =>
      (await speakingIn(pages.alice, mxid('bob'), false)) && (await speakingIn(pages.bob, null, false)), 10000);
    const levels = { bobInAlice: await tileDom(pages.alice, mxid('bob')), bobOwn: await tileDom(pages.bob, null),
      bot1InAlice: await tileDom(pages.alice, mxid('bot1')) };
    check(!!quiet && levels.bot1InAlice.speaking === 'true',
      `bob mutes: his tile stops speaking (level ${levels.bobInAlice.level} in alice's page, ${levels.bobOwn.level} own) ` +
      `while bot1's goes on (level ${levels.bot1InAlice.level})`);

    // H.264 when offered: carol's page publishes H.264 only (?codec=h264). The focus forwards it as H.264 to the
    // pages (they offered H.264 too); the bots decode it too (checked in focus_h264_chromium.js).
    await openPage('carol', false, true, '&codec=h264');
    const carolIn = (u) => pages[u].evaluate(() => (window.chorusFocus.tiles || []).find((x) => x.user_id === '@carol:localhost'));
    const h264 = await attempt('alice and bob to decode carol\'s H.264', async () => {
      for (const u of ['alice', 'bob']) {
        const t = await carolIn(u);
        if (!t || t.framesDecoded < MIN_FRAMES || t.videoCodec !== 'video/H264') return false;
      }
      return true;
    }, 40000);
    for (const u of ['alice', 'bob']) {
      const t = await carolIn(u);
      check(!!h264 && t && t.videoCodec === 'video/H264' && t.framesDecoded >= MIN_FRAMES,
        `H.264: ${u} decodes carol's H.264 video through the focus (${t && t.videoCodec}, ${t && t.framesDecoded} frames)`);
    }
    const carolSees = await attempt('carol to decode the others', () => pages.carol.evaluate((others) => others.every((u) => {
      const t = (window.chorusFocus.tiles || []).find((x) => x.user_id === u);
      return !!t && t.framesDecoded >= 10;
    }), ['@alice:localhost', '@bob:localhost', '@bot1:localhost']), 30000);
    check(!!carolSees, 'H.264: carol (H.264 only on her send side) decodes the VP8 of alice, bob and bot1');
    await pages.carol.click('#leave');
    await attempt('carol to leave', async () => !(await carolIn('alice')), 20000);

    // Camera off: alice's page shows bob's initial and the camera-off mark in place of his video.
    if (bobDevice) await pages.alice.evaluate((d) => window.chorusFocus.spotlight('@bob:localhost', d), bobDevice);  // back in the grid
    await pages.bob.click('#cam');
    const camOff = await attempt('alice to see bob\'s camera off', () => pages.alice.evaluate(() => {
      const t = document.querySelector('#tiles .tile[data-user="@bob:localhost"]');
      return !!t && t.dataset.videoMuted === 'true' && getComputedStyle(t.querySelector('.initial')).display !== 'none' &&
        getComputedStyle(t.querySelector('.mark.cam')).display !== 'none' && getComputedStyle(t.querySelector('video')).visibility === 'hidden' &&
        t.querySelector('.initial').textContent === 'B';
    }), 10000);
    check(!!camOff, 'bob turns his camera off: alice\'s page shows his initial and the camera-off mark instead of the video');
    const shot2 = SCREENSHOT.replace(/\.png$/, '') + '-muted.png';
    await pages.alice.screenshot({ path: shot2, fullPage: true });
    console.log(`     (screenshot of alice's page with bob muted: ${shot2})`);

    // Leave removes the tile in the other page.
    await pages.bob.click('#leave');
    const gone = await attempt('bob\'s tile to go', async () => !(await bobInAlice()), 20000);
    check(!!gone, 'bob leaves: his tile disappears in alice\'s page');
    const back = { login: await pages.bob.isVisible('#login'), leave: await pages.bob.isVisible('#leave'),
      tiles: await pages.bob.evaluate(() => document.querySelectorAll('#tiles .tile').length) };
    check(back.login && !back.leave && back.tiles === 0, `bob leaves: the sign-in form is back, no tiles (${JSON.stringify(back)})`);
    const memberGone = await attempt('bob\'s member device to go', async () => {
      const r = await api(hs, 'GET', `/rooms/${encodeURIComponent(roomId)}/state/org.matrix.msc3401.call.member/${encodeURIComponent(mxid('bob'))}`, alice.body.access_token);
      return r.status === 200 && !(r.body['m.calls'] || []).some((c) => (c['m.devices'] || []).length > 0);
    }, 10000);
    check(!!memberGone, 'bob leaves: his member event lists no device');
    }  // full
    // The favicon is served as SVG; no page had a failed load or an HTTP error (a 404 in a person's console).
    const fav = await fetch(`${hs.url}/call/favicon.svg`);
    check(fav.status === 200 && /^image\/svg\+xml/.test(fav.headers.get('content-type') || ''),
      `favicon.svg served (${fav.status} ${fav.headers.get('content-type')})`);
    for (const [u, what] of loads) console.log(`     ${u}: ${what}`);
    check(loads.length === 0, `no failed loads, HTTP errors or 404s in the pages' consoles (${loads.length})`);
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  if (failures.length) await dump();
  for (const b of Object.values(bots)) try { b.proc.kill('SIGTERM'); } catch {}
  if (focus) try { focus.proc.kill('SIGTERM'); } catch {}
  await closeChromium();
  await sleep(500);
  hs.stop();
  fs.rmSync(logDir, { recursive: true, force: true });
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : `RESULT: PASS focus web client${SLOTS ? ' (audio slots)' : ''}`);
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
