// The web client served by `chorus hs` at /call/ (web/call/), used the way a person would: open the page, type
// the credentials and the room, press "Join the call". A `chorus call` bot is in the same call: the page must
// show its tile with decoded video, and the bot must decode the browser's audio and video; the mute button must
// reach the bot; "Leave" must end the bot's leg. For a person: the sign-in form gives way to the call and comes back
// on Leave; the bot's tile shows its display name and "speaking" (measured from its tone); no failed loads or 404s.
// Usage (inside tests/netns/run.sh): node web_client_chromium.js /path/to/chorus /path/to/repo/web
'use strict';
const fs = require('fs');
const path = require('path');
const readline = require('readline');
const { spawn } = require('child_process');
const { startHs, waitFor, launchChromium, browserDeps } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ sdk: false });

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 120000);
  const chorus = process.argv[2];
  const webRoot = process.argv[3];
  if (!fs.existsSync(path.join(webRoot, 'node_modules/matrix-js-sdk/dist/browser-matrix.js'))) {
    console.log('SKIP: web/node_modules missing (run scripts/setup)');
    process.exit(77);
  }
  const hs = await startHs(chorus, { users: ['alice', 'bot'], extra: ['--web', webRoot] });
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); };
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  let bot = null;
  try {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.log('PAGEERROR ' + e));
    const loads = [];
    page.on('console', (m) => { if (m.type() === 'error' && /Failed to load resource|404/i.test(m.text())) loads.push('console: ' + m.text()); });
    page.on('response', (r) => { if (r.status() >= 400) loads.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`); });
    page.on('requestfailed', (r) => { if (r.failure()?.errorText !== 'net::ERR_ABORTED') loads.push(`failed ${r.url()}: ${r.failure()?.errorText}`); });
    const resp = await page.goto(`${hs.url}/call/?room=%23web:localhost&create=1`);
    check(resp.status() === 200, 'chorus hs serves the web client at /call/');
    await page.fill('#user', 'alice');
    await page.fill('#password', 'pw');
    // The room must exist first: the page joins it by alias. Create it over the API as alice.
    const login = await (await fetch(`${hs.url}/_matrix/client/v3/login`, { method: 'POST',
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'alice' }, password: 'pw' }) })).json();
    const created = await (await fetch(`${hs.url}/_matrix/client/v3/createRoom`, { method: 'POST',
      headers: { Authorization: 'Bearer ' + login.access_token },
      body: JSON.stringify({ preset: 'public_chat', room_alias_name: 'web' }) })).json();
    check(!!created.room_id, 'room created');
    const botLogin = await (await fetch(`${hs.url}/_matrix/client/v3/login`, { method: 'POST',
      body: JSON.stringify({ type: 'm.login.password', identifier: { type: 'm.id.user', user: 'bot' }, password: 'pw' }) })).json();
    const named = await fetch(`${hs.url}/_matrix/client/v3/profile/${encodeURIComponent('@bot:localhost')}/displayname`, {
      method: 'PUT', headers: { Authorization: 'Bearer ' + botLogin.access_token }, body: JSON.stringify({ displayname: 'Test Bot' }) });
    check(named.status === 200, 'the bot\'s display name set');
    await page.click('button[type=submit]');
    await waitFor('the page to be in the call', () => page.evaluate(() => !document.getElementById('controls').hidden), 20000);
    check(!(await page.isVisible('#login')) && await page.isVisible('#leave'), 'in the call: the sign-in form is hidden, Leave shows');

    bot = spawn(chorus, ['call', '--homeserver', hs.url, '--user', 'bot', '--password', 'pw', '--room', '#web:localhost',
      '--json', '--width', '320', '--height', '240', '--fps', '15', '--stats-interval', '0.5'],
    { stdio: ['pipe', 'pipe', 'inherit'] });
    process.on('exit', () => { try { bot.kill('SIGKILL'); } catch {} });
    const lines = [];
    readline.createInterface({ input: bot.stdout }).on('line', (l) => { try { lines.push(JSON.parse(l)); } catch {} });
    const botPeer = () => { const s = lines.filter((l) => l.event === 'stats'); return s.length ? s[s.length - 1].peers.find((p) => p.user_id === '@alice:localhost') : null; };

    let tileOk = false;
    try {
      tileOk = await waitFor('a playing video tile for the bot', () => page.evaluate(() => {
        const t = [...document.querySelectorAll('.tile')].find((x) => x.id.includes('@bot:localhost'));
        const v = t && t.querySelector('video');
        return !!(v && v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 10 &&
          t.querySelector('.name').textContent.length > 0);
      }), 40000);
    } catch {}
    check(!!tileOk, 'the page shows the bot\'s tile with decoded video and a name');
    const botTile = () => page.evaluate(() => {
      const t = document.querySelector('#tiles .tile[data-user="@bot:localhost"]');
      return t ? ChorusTiles.state(t) : null;
    });
    let speaking = null;
    try { speaking = await waitFor('the bot\'s tile to show speaking', async () => { const t = await botTile(); return t && t.speaking && t.peak >= 0.01 && t; }, 10000); } catch {}
    const bt = await botTile();
    check(!!bt && bt.name === 'Test Bot', `the bot's tile shows its display name (${JSON.stringify(bt && bt.name)})`);
    check(!!speaking, `the bot's tile shows speaking from its tone's measured level (${JSON.stringify(bt)})`);
    let botOk = false;
    try { botOk = await waitFor('the bot to decode the browser', () => { const p = botPeer(); return p && p.audio_frames_decoded > 0 && p.video_frames_decoded >= 30; }, 30000); } catch {}
    check(!!botOk, 'the bot decodes the browser\'s audio and video');

    await page.click('#mic');
    let muted = false;
    try { muted = await waitFor('the bot to see the mute', () => botPeer()?.audio_muted === true, 10000); } catch {}
    check(!!muted, 'the mute button reaches the other participant');

    await page.click('#leave');
    let ended = false;
    try { ended = await waitFor('the bot to end the leg', () => lines.some((l) => l.event === 'leg' && l.user_id === '@alice:localhost' && l.state === 'ended'), 10000); } catch {}
    check(!!ended, 'leave ends the other side\'s leg');
    check(await page.isVisible('#login'), 'after Leave the sign-in form is back');
    for (const l of loads) console.log('     ' + l);
    check(loads.length === 0, `no failed loads, HTTP errors or 404s in the page (${loads.length})`);
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  if (bot) bot.kill('SIGTERM');
  await closeChromium();
  hs.stop();
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : 'RESULT: PASS web client');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
