// Three matrix-js-sdk 28.1.0 clients in headless Chromium, on `chorus hs`: one full-mesh MSC3401 GroupCall.
// Every pair must decode the other's audio and video; then mute, leave and terminate must behave as in
// interop-matrix-js-sdk.md §2.5. The page comes from a static server on another port (CORS is exercised).
// Usage (inside `unshare -n`): node hs_groupcall_chromium.js /path/to/chorus
'use strict';
const fs = require('fs');
const path = require('path');
const { startHs, sleep, waitFor, launchChromium, browserDeps, serveSdkPage } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps();

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 100000);
  const chorus = process.argv[2] || path.join(__dirname, '../../build/default/apps/chorus/chorus');
  const who = ['alice', 'bob', 'carol'];
  const hs = await startHs(chorus, { users: who });
  const web = await serveSdkPage();
  const page_url = web.url;
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  const cleanup = async () => {
    await closeChromium();
    web.close(); hs.stop();
  };
  let failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); };
  try {
    const P = {};
    for (const w of who) {
      const p = await ctx.newPage();
      p.on('pageerror', (e) => console.log(`[${w}] PAGEERROR ${e}`));
      p.on('console', (m) => { const t = m.text(); if (/group_call_error|entered|created group call/.test(t)) console.log(`[${w}] ${t}`.slice(0, 300)); });
      await p.goto(page_url);
      P[w] = p;
    }
    const ids = {};
    for (const w of who) ids[w] = await P[w].evaluate(([h, u]) => login(h, u), [hs.url, w]);
    const { roomId } = await P.alice.evaluate(() => createRoomAndCall());
    for (const w of ['bob', 'carol']) {
      const found = await P[w].evaluate((r) => joinRoomAndFindCall(r), roomId);
      check(!!found, `${w} finds the group call`);
    }
    for (const w of who) await P[w].evaluate(() => enter());

    // Full mesh: each client has 2 calls, decoding audio and video on both.
    const okAll = (rs) => rs.every((r) => r.calls.length === 2 &&
      r.calls.every((c) => c.in_video?.framesDecoded > 0 && c.in_audio?.samples > 0));
    let reps;
    for (let i = 0; i < 30; i++) {
      await sleep(1000);
      reps = await Promise.all(who.map((w) => P[w].evaluate(() => mediaReport())));
      if (okAll(reps) && i >= 2) break;
    }
    reps.forEach((r, i) => console.log(who[i], JSON.stringify(r.calls.map((c) => ({ opp: c.opponent, st: c.state, v: c.in_video?.framesDecoded, a: c.in_audio?.samples })))));
    check(okAll(reps), 'full mesh: media decoded in all 6 directions');

    // Mute: alice's mic mute reaches bob and carol as metadata.
    await P.alice.evaluate(() => mute(true));
    for (const w of ['bob', 'carol']) {
      let muted = false;
      try { muted = await waitFor(`${w} sees alice muted`, () => P[w].evaluate((u) => remoteAudioMuted(u), ids.alice.userId), 8000); } catch {}
      check(muted === true, `${w} sees alice's audio muted`);
    }
    // Leave: carol leaves; alice and bob drop her.
    await P.carol.evaluate(() => leave());
    for (const w of ['alice', 'bob']) {
      let gone = false;
      try {
        gone = await waitFor(`${w} drops carol`, async () => {
          const r = await P[w].evaluate(() => mediaReport());
          return !r.participants.includes(ids.carol.userId) && r.calls.length === 1;
        }, 10000);
      } catch {}
      check(!!gone, `${w} drops carol after she leaves`);
    }
    // Terminate: alice ends the call; bob's GroupCall ends too.
    await P.alice.evaluate(() => terminate());
    let ended = false;
    try { ended = await waitFor('bob sees the call end', async () => (await P.bob.evaluate(() => gcState())) === 'ended', 10000); } catch {}
    check(!!ended, 'bob\'s group call ends when alice terminates');
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  await cleanup();
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ') : 'RESULT: PASS 3-way full mesh on chorus hs');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
