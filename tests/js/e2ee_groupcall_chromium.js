// Issue #13 (docs/e2ee.md): matrix-js-sdk 28.1.0 in headless Chromium with its legacy Olm crypto started
// (client.initCrypto() with the global Olm of @matrix-org/olm 3.2.15) and useE2eForGroupCall: true, in one
// full-mesh group call with two `chorus call` in a room with m.room.encryption on `chorus hs`. User ids make chorus
// the SDK's caller (@aaron < @meg) and callee (@meg < @zed). Checks:
//   - media both ways on both SDK <-> chorus legs (the page decodes each chorus's video and audio; each chorus's
//     summary shows decoded video and audio frames from the SDK user);
//   - every to-device message the SDK sent was m.room.encrypted (from the URLs of its PUT /sendToDevice), and every
//     call event it received from chorus came m.room.encrypted and was decrypted, none undecryptable;
//   - each chorus decrypted and sent Olm (olm_decrypted, olm_encrypted_sent > 0), received no plaintext call
//     signalling (plaintext_in_encrypted_room = 0), sent none (plaintext_sent_in_encrypted_room = 0) and counted no
//     Olm failure.
// Usage (inside tests/netns/run.sh): node e2ee_groupcall_chromium.js /path/to/chorus
'use strict';
const path = require('path');
const { startHs, sleep, waitFor, launchChromium, browserDeps, serveSdkPage, startChorusCall } = require('./hs_common');
const { chromium, executable: CHROMIUM } = browserDeps({ olm: true });

const MIN_VIDEO_FRAMES = 30;
const SDK_USER = 'meg';
const CHORUS_USERS = ['aaron', 'zed'];
const uid = (u) => `@${u}:localhost`;
const isCallEvent = (t) => t.startsWith('m.call.') || t.startsWith('org.matrix.call.');

(async () => {
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 200000);
  const chorus = process.argv[2] || path.join(__dirname, '../../build/default/apps/chorus/chorus');
  const hs = await startHs(chorus, { users: [SDK_USER, ...CHORUS_USERS] });
  const web = await serveSdkPage();
  const { ctx, close: closeChromium } = await launchChromium(chromium, CHROMIUM);
  const C = {};
  const failures = [];
  const check = (ok, what) => { console.log((ok ? 'ok   ' : 'FAIL ') + what); if (!ok) failures.push(what); return ok; };
  const attempt = async (what, fn, ms) => { try { return await waitFor(what, fn, ms); } catch { return null; } };
  let page = null;
  try {
    page = await ctx.newPage();
    page.on('pageerror', (e) => console.log(`[${SDK_USER}] PAGEERROR ${e}`));
    await page.goto(web.url);
    const me = await page.evaluate(([h, u]) => login(h, u, { e2e: true }), [hs.url, SDK_USER]);
    check(me.crypto === true && !!me.curve25519, `${SDK_USER} (js-sdk 28.1.0): legacy crypto started with Olm ${me.olm}, ` +
      `device ${me.deviceId}, curve25519 ${me.curve25519}`);
    // chorus claims one of the SDK's one-time keys for its first message, so they must be up before it calls.
    check(!!(await attempt('one-time keys', () => page.evaluate(() => e2ee.otkUploads > 0), 20000)),
      `${SDK_USER}: one-time keys uploaded to chorus hs`);

    const { roomId } = await page.evaluate(() => createRoomAndCall({
      initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: 'm.megolm.v1.aes-sha2' } }] }));
    check(await page.evaluate((r) => client.isRoomEncrypted(r), roomId), `${SDK_USER} created the call in an encrypted room`);
    for (const u of CHORUS_USERS) C[u] = startChorusCall(chorus, hs.url, u, roomId);
    check(!!(await attempt('chorus ready', () => CHORUS_USERS.every((u) => C[u].ready()), 20000)), 'both chorus call are in the call');
    await page.evaluate(() => enter());

    // Media both ways on both legs.
    const sdkLeg = (r, u) => r.calls.find((c) => c.opponent === uid(u));
    const sdkDecodes = (r, u) => { const c = sdkLeg(r, u); return !!c && c.in_video?.framesDecoded >= MIN_VIDEO_FRAMES && c.in_audio?.samples > 0; };
    const chorusDecodes = (p) => !!p && p.video_frames_decoded >= MIN_VIDEO_FRAMES && p.audio_frames_decoded > 0;
    let rep = null;
    const t0 = Date.now();
    while (Date.now() - t0 < 90000) {
      rep = await page.evaluate(() => mediaReport());
      if (CHORUS_USERS.every((u) => sdkDecodes(rep, u) && chorusDecodes(C[u].peer(uid(SDK_USER))))) break;
      await sleep(1000);
    }
    console.log(`     (${((Date.now() - t0) / 1000).toFixed(1)} s after ${SDK_USER} entered)`);
    for (const u of CHORUS_USERS) {
      const c = sdkLeg(rep, u);
      check(sdkDecodes(rep, u), `${SDK_USER} (SDK) decodes chorus @${u}: ${c?.in_video?.framesDecoded} video frames, ` +
        `${c?.in_audio?.samples} audio samples (${c?.direction}, ${c?.state})`);
    }
    check(sdkLeg(rep, 'aaron')?.direction === 'inbound' && sdkLeg(rep, 'zed')?.direction === 'outbound',
      'chorus is the SDK\'s caller (@aaron) and callee (@zed)');
    await sleep(3000);  // a few more seconds of media before the chorus processes leave

    // The chorus processes leave (their hang-ups go over Olm too); their summaries hold the counters.
    for (const u of CHORUS_USERS) await C[u].stop();
    for (const u of CHORUS_USERS) {
      const s = await attempt(`chorus @${u}'s summary`, () => C[u].summary(), 5000);
      if (!check(!!s, `chorus @${u} printed a summary`)) continue;
      const p = (s.peers || []).find((x) => x.user_id === uid(SDK_USER));
      check(chorusDecodes(p), `chorus @${u} decoded ${p?.video_frames_decoded} video and ${p?.audio_frames_decoded} audio ` +
        `frames from ${SDK_USER} (SDK)`);
      const g = s.signalling || {};
      console.log(`     chorus @${u} signalling: room_encrypted ${g.room_encrypted}, olm_decrypted ${g.olm_decrypted}, ` +
        `olm_encrypted_sent ${g.olm_encrypted_sent}, olm_failures ${g.olm_failures}, plaintext_in_encrypted_room ` +
        `${g.plaintext_in_encrypted_room}, plaintext_sent_in_encrypted_room ${g.plaintext_sent_in_encrypted_room}, ` +
        `olm_sessions_created ${g.olm_sessions_created}`);
      check(g.room_encrypted === true && g.olm_decrypted > 0 && g.olm_encrypted_sent > 0,
        `chorus @${u}: call signalling decrypted (${g.olm_decrypted}) and sent (${g.olm_encrypted_sent}) over Olm`);
      check(g.plaintext_in_encrypted_room === 0 && g.plaintext_sent_in_encrypted_room === 0,
        `chorus @${u}: no plaintext call signalling received or sent in the encrypted room`);
      check(g.olm_failures === 0, `chorus @${u}: no Olm failures`);
    }
    await sleep(2000);  // the hang-ups reach the SDK

    // What the SDK sent and received, from the page.
    const e = await page.evaluate(() => e2ee);
    const sentTypes = [...new Set(e.sent)];
    check(e.sent.length > 0 && e.sent.every((t) => t === 'm.room.encrypted'),
      `${SDK_USER} (SDK) sent ${e.sent.length} to-device messages, all as ${JSON.stringify(sentTypes)}`);
    const calls = e.received.filter((x) => isCallEvent(x.type) || isCallEvent(x.wire));
    const plain = calls.filter((x) => x.wire !== 'm.room.encrypted');
    const byType = {};
    for (const x of calls) byType[x.type] = (byType[x.type] || 0) + 1;
    check(calls.length > 0 && plain.length === 0 && CHORUS_USERS.every((u) => calls.some((x) => x.sender === uid(u))),
      `${SDK_USER} (SDK) received ${calls.length} call events from chorus, all Olm-encrypted (${JSON.stringify(byType)}; ` +
      `plaintext ${plain.length})`);
    const failed = e.received.filter((x) => x.failed);
    check(failed.length === 0, `${SDK_USER} (SDK): no undecryptable to-device message (${e.received.length} received, ` +
      `${failed.length} failed)`);
    const errors = (await page.evaluate(() => window.log)).filter((l) => l.startsWith('group_call_error'));
    check(errors.length === 0, `${SDK_USER} (SDK): no group call errors ${errors.length ? JSON.stringify(errors) : ''}`);
  } catch (e) {
    console.error(e);
    failures.push('exception: ' + e.message);
  }
  if (failures.length) {
    try { if (page) console.log('--- page log: ' + JSON.stringify(await page.evaluate(() => window.log.slice(-40)))); } catch {}
    for (const c of Object.values(C)) console.log(`--- chorus @${c.user} stderr (tail)\n` + c.stderr().split('\n').slice(-30).join('\n'));
  }
  for (const c of Object.values(C)) if (c.stderr().includes('AddressSanitizer')) failures.push(c.user + ': sanitizer report');
  for (const c of Object.values(C)) { try { c.proc.kill('SIGKILL'); } catch {} }
  await closeChromium();
  web.close();
  hs.stop();
  clearTimeout(overall);
  console.log(failures.length ? 'RESULT: FAIL ' + failures.join('; ')
    : 'RESULT: PASS js-sdk with legacy Olm crypto and chorus call: media both ways, all call signalling Olm-encrypted');
  process.exit(failures.length ? 1 : 0);
})().catch((e) => { console.error(e); process.exit(1); });
