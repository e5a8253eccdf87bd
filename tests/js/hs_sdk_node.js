// matrix-js-sdk 28.1.0 in Node against `chorus hs`: two clients log in, create/join a room, exchange a state
// event, a message and a to-device message through /sync. Usage: node hs_sdk_node.js /path/to/chorus
'use strict';
const path = require('path');
let sdk;
try {
  sdk = require('matrix-js-sdk');
  require('matrix-js-sdk/lib/logger').logger.setLevel('warn');
} catch (e) {
  console.log('SKIP: matrix-js-sdk not installed (run scripts/setup)');
  process.exit(77);
}
const { startHs, waitFor } = require('./hs_common');

async function login(hs, user) {
  const r = await sdk.createClient({ baseUrl: hs }).loginWithPassword(user, 'pw');
  const c = sdk.createClient({ baseUrl: hs, accessToken: r.access_token, userId: r.user_id, deviceId: r.device_id });
  await c.startClient({ initialSyncLimit: 10 });
  await new Promise((res) => {
    const f = (s) => { if (s === 'PREPARED' || s === 'SYNCING') { c.off('sync', f); res(); } };
    c.on('sync', f);
  });
  console.log('logged in', r.user_id, r.device_id);
  return c;
}

(async () => {
  const chorus = process.argv[2] || path.join(__dirname, '../../build/default/apps/chorus/chorus');
  const hs = await startHs(chorus, { users: ['alice', 'bob'] });
  const overall = setTimeout(() => { console.log('RESULT: FAIL (timeout)'); process.exit(1); }, 50000);
  const alice = await login(hs.url, 'alice');
  const bob = await login(hs.url, 'bob');

  const { room_id: roomId } = await alice.createRoom({ name: 'interop', preset: 'public_chat' });
  await bob.joinRoom(roomId);
  await waitFor('alice sees bob joined', () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === 'join');
  console.log('room', roomId, 'both joined');

  // State event alice -> bob (the group call event type the SDK uses).
  await alice.sendStateEvent(roomId, 'org.matrix.msc3401.call', { 'm.intent': 'm.prompt', 'm.type': 'm.video' }, 'CALL1');
  const ev = await waitFor('bob sees the call state', () =>
    bob.getRoom(roomId)?.currentState.getStateEvents('org.matrix.msc3401.call', 'CALL1'));
  if (ev.getContent()['m.type'] !== 'm.video') throw new Error('wrong state content');
  // Bob's own member state (PL 0 may write it by default), seen by alice.
  await bob.sendStateEvent(roomId, 'org.matrix.msc3401.call.member', { 'm.calls': [] }, bob.getUserId());
  await waitFor('alice sees bob\'s call.member', () =>
    alice.getRoom(roomId)?.currentState.getStateEvents('org.matrix.msc3401.call.member', bob.getUserId()));
  console.log('state events exchanged');

  // A timeline message.
  await bob.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body: 'hello alice' });
  await waitFor('alice sees the message', () =>
    alice.getRoom(roomId)?.getLiveTimeline().getEvents().some((e) => e.getType() === 'm.room.message' && e.getContent().body === 'hello alice'));

  // To-device bob -> alice's device.
  const got = new Promise((res) => alice.on('toDeviceEvent', (e) => { if (e.getType() === 'm.test.ping') res(e); }));
  await bob.sendToDevice('m.test.ping', new Map([[alice.getUserId(), new Map([[alice.getDeviceId(), { n: 42 }]])]]));
  const td = await Promise.race([got, new Promise((_, rej) => setTimeout(() => rej(new Error('no to-device')), 15000))]);
  if (td.getContent().n !== 42 || td.getSender() !== bob.getUserId()) throw new Error('wrong to-device event');
  console.log('to-device delivered');

  // Devices and leave.
  const devs = await alice.getDevices();
  if (!devs.devices.some((d) => d.device_id === alice.getDeviceId())) throw new Error('own device missing');
  await bob.leave(roomId);
  await waitFor('alice sees bob leave', () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === 'leave');

  alice.stopClient(); bob.stopClient();
  clearTimeout(overall);
  console.log('RESULT: PASS');
  hs.stop();
  process.exit(0);
})().catch((e) => { console.error(e); console.log('RESULT: FAIL'); process.exit(1); });
