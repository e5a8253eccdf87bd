// The chorus web client: matrix-js-sdk 28.1.0's MSC3401 GroupCall (full mesh) on any homeserver, or, with a focus,
// focus.js (MSC3898: one plain RTCPeerConnection to the SFU, simulcast). The focus mode is used when the page is
// opened with ?focus=@user:server (&focusDevice=ID, default CHORUSFOCUS), or when another member's device in the
// room's call is active on a focus (org.matrix.msc3898.foci.active: the first one found is used).
// One tile per participant (tiles.js): name, mute marks, audio level meter, speaking highlight; mute/unmute; leave
// (the sign-in form comes back).
"use strict";
const sdk = window.matrixcs;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
$("hs").value = params.get("hs") || location.origin;
$("room").value = params.get("room") || "";
$("user").value = params.get("user") || "";
if (params.get("create")) $("create").checked = true;

let client = null;
let call = null;       // mesh: the SDK's GroupCall
let focusCall = null;  // focus mode: ChorusFocus.FocusCall (focus.js)
const status = (s) => { $("status").textContent = s; console.info("status:", s); };

// Mesh mode tiles (tiles.js, as in focus mode): name, mute marks, level meter, speaking highlight.
function tileFor(feed) {
  const id = "tile-" + (feed.isLocal() ? "local" : feed.userId + "-" + feed.stream.id);
  let tile = document.getElementById(id);
  if (!tile) {
    tile = ChorusTiles.make(id, { local: feed.isLocal() });
    tile.dataset.user = feed.userId;
    $("tiles").appendChild(tile);
  }
  const video = tile.querySelector("video");
  if (video.srcObject !== feed.stream) video.srcObject = feed.stream;
  ChorusTiles.setAudio(tile, feed.stream);
  const member = call.room.getMember(feed.userId);
  const name = member?.name || feed.userId;
  ChorusTiles.setInfo(tile, { name: feed.isLocal() ? name + " (you)" : name,
    audioMuted: feed.isAudioMuted(), videoMuted: feed.isVideoMuted() });
  return tile;
}

function render() {
  if (!call) return;
  const feeds = call.userMediaFeeds.slice();
  const keep = new Set();
  for (const feed of feeds) {
    keep.add(tileFor(feed).id);
    if (!feed._chorusListening) {
      feed._chorusListening = true;
      feed.on("mute_state_changed", render);
    }
  }
  for (const tile of [...$("tiles").children]) if (!keep.has(tile.id)) ChorusTiles.remove(tile);
  const others = new Set(feeds.filter((f) => !f.isLocal()).map((f) => f.userId));
  status(`${client.getUserId()} in ${call.room.name || call.room.roomId} with ${others.size} other(s)`);
  $("mic").textContent = call.isMicrophoneMuted() ? "Unmute microphone" : "Mute microphone";
  $("mic").classList.toggle("off", call.isMicrophoneMuted());
  $("cam").textContent = call.isLocalVideoMuted() ? "Turn camera on" : "Turn camera off";
  $("cam").classList.toggle("off", call.isLocalVideoMuted());
}

async function resolveRoom(idOrAlias) {
  const { room_id: roomId } = await client.joinRoom(idOrAlias).then((r) => ({ room_id: r.roomId }));
  for (let i = 0; i < 100 && !client.getRoom(roomId); i++) await new Promise((r) => setTimeout(r, 50));
  return roomId;
}

// The sign-in form while not in a call; the call (controls + tiles) while in one.
function showCall(inCall) {
  $("login").hidden = inCall;
  $("controls").hidden = !inCall;
  $("join").disabled = false;
  if (!inCall) for (const tile of [...$("tiles").children]) ChorusTiles.remove(tile);
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("join").disabled = true;
  try {
    if (client) { client.stopClient(); client = null; }  // a previous call's client
    call = null;
    status("signing in…");
    const baseUrl = $("hs").value;
    const tmp = sdk.createClient({ baseUrl });
    const login = await tmp.loginWithPassword($("user").value, $("password").value);
    client = sdk.createClient({
      baseUrl, accessToken: login.access_token, userId: login.user_id, deviceId: login.device_id,
      // No Olm here: group-call signalling goes out unencrypted, as with matrix-js-sdk's default mesh calls.
      useE2eForGroupCall: false, fallbackICEServerAllowed: false,
    });
    await client.startClient({ initialSyncLimit: 10 });
    await new Promise((res) => {
      const f = (s) => { if (s === "PREPARED" || s === "SYNCING") { client.off("sync", f); res(); } };
      client.on("sync", f);
    });
    status("joining the room…");
    const roomId = await resolveRoom($("room").value);
    await client.waitUntilRoomReadyForGroupCalls(roomId);
    const room = client.getRoom(roomId);
    const focus = params.get("focus")
      ? { user_id: params.get("focus"), device_id: params.get("focusDevice") || ChorusFocus.DEFAULT_FOCUS_DEVICE }
      : ChorusFocus.activeFocus(client, room);
    if (focus) {
      // Media goes through the focus: the SDK's own call handling stays out of it. Participants that use no focus
      // get mesh legs from mesh.js (mixed calls, docs/focus.md).
      client.callEventHandler?.stop();
      client.groupCallEventHandler?.stop();
      status(`joining the call through the focus ${focus.user_id} / ${focus.device_id}…`);
      focusCall = await ChorusFocus.join({ client, room, focus, create: $("create").checked, status,
        videoCodec: params.get("codec") || "",
        relayOnly: params.get("relay") === "1",  // ?relay=1: iceTransportPolicy "relay" (TURN only)
        maxMeshPeers: params.get("maxMeshPeers"),  // mixed calls: mesh legs with devices that use no focus
        tilesEl: $("tiles"), onEnded: () => showCall(false) });
      if (!focusCall) { $("join").disabled = false; return; }
      showCall(true);
      renderFocusControls();
      return;
    }
    call = client.getGroupCallForRoom(roomId);
    if (!call && $("create").checked) {
      call = await client.createGroupCall(roomId, sdk.GroupCallType.Video, false, sdk.GroupCallIntent.Prompt);
    }
    if (!call) {
      status("this room has no call yet: tick \"start a call\" to start one");
      $("join").disabled = false;
      return;
    }
    call.on("user_media_feeds_changed", render);
    call.on("group_call_state_changed", (state) => {
      if (state === "ended") { status("the call ended"); showCall(false); }
    });
    call.on("group_call_error", (e) => status("call error: " + e.message));
    await call.enter();
    window.chorusCall = call;  // for tests and debugging
    showCall(true);
    render();
  } catch (e) {
    console.error(e);
    status("failed: " + (e.message || e));
    $("join").disabled = false;
  }
});

function renderFocusControls() {
  $("mic").textContent = focusCall.audioMuted ? "Unmute microphone" : "Mute microphone";
  $("mic").classList.toggle("off", focusCall.audioMuted);
  $("cam").textContent = focusCall.videoMuted ? "Turn camera on" : "Turn camera off";
  $("cam").classList.toggle("off", focusCall.videoMuted);
}

$("mic").addEventListener("click", async () => {
  if (focusCall) { focusCall.setAudioMuted(!focusCall.audioMuted); renderFocusControls(); return; }
  await call.setMicrophoneMuted(!call.isMicrophoneMuted()); render();
});
$("cam").addEventListener("click", async () => {
  if (focusCall) { focusCall.setVideoMuted(!focusCall.videoMuted); renderFocusControls(); return; }
  await call.setLocalVideoMuted(!call.isLocalVideoMuted()); render();
});
$("leave").addEventListener("click", () => {
  if (focusCall) {
    const fc = focusCall;
    focusCall = null;
    fc.leave();
    showCall(false);
    status("left the call");
    return;
  }
  call.leave();
  showCall(false);
  status("left the call");
});
window.addEventListener("beforeunload", () => {
  if (focusCall) focusCall.leave(true, true);
  else if (call) call.leave();
});
