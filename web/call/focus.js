// Focus mode of the chorus web client: MSC3401 group call through an MSC3898 focus (SFU).
//
// Media is plain browser WebRTC (one RTCPeerConnection to the focus, simulcast f/h/q on our camera); matrix-js-sdk
// only does the Matrix plumbing (sync, room state, sendStateEvent, sendToDevice). The wire protocol is the one of
// matrix-js-sdk's `matthew/sfu` branch and the waterfall SFU (../shared/docs/interop-matrix-js-sdk.md §2.7,
// msc3401.md §4.2-4.4), which `chorus focus` implements:
//   - our org.matrix.msc3401.call.member device names the focus in org.matrix.msc3898.foci.active/.preferred;
//   - one call to (focus user, focus device) over to-device: m.call.invite (dest_session_id "sfu") with our
//     offer and org.matrix.msc3077.sdp_stream_metadata, m.call.candidates, the focus's m.call.answer, our
//     m.call.select_answer; m.call.hangup either way;
//   - then the data channel "datachannel" carries JSON {"type","content"}: the focus's
//     m.call.sdp_stream_metadata_changed (what we can receive), our m.call.track_subscription, m.call.negotiate
//     both ways (the focus offers when what we receive changes), m.call.ping -> m.call.pong.
// Test hooks: window.chorusFocus (this object): connected, dcOpenedAt (performance.now() when the data channel
// last opened), tiles, subscriptions, remoteTracks, outbound, wire,
// and setTileSize()/spotlight()/snapshot().
"use strict";
(function () {
  const CALL = "org.matrix.msc3401.call";
  const MEMBER = "org.matrix.msc3401.call.member";
  const FOCI_ACTIVE = "org.matrix.msc3898.foci.active";
  const FOCI_PREFERRED = "org.matrix.msc3898.foci.preferred";
  const MD_KEY = "org.matrix.msc3077.sdp_stream_metadata";
  const FOCUS_SESSION_ID = "sfu";
  const DEVICE_TIMEOUT = 60 * 60 * 1000;  // expires_ts = now + 1 h, refreshed at 3/4 of it (as js-sdk)
  const LIFETIME = 60000;
  const ANSWER_TIMEOUT = 20000;           // no m.call.answer after this long: call the focus again
  const RETRY_DELAY = 5000;               // js-sdk: retry every 5 s ...
  const MAX_RETRIES = 3;                  // ... at most 3 times (reset once connected)
  const SUBSCRIBE_DEBOUNCE = 300;
  const CANDIDATE_BATCH = 500;
  const DEFAULT_FOCUS_DEVICE = "CHORUSFOCUS";
  // js-sdk `matthew/sfu` localCallTrack.ts, usermedia: full first (browsers that cannot send all keep the first).
  const SIMULCAST = [
    { rid: "f", maxBitrate: 1700000, maxFramerate: 30 },
    { rid: "h", maxBitrate: 300000, maxFramerate: 20, scaleResolutionDownBy: 2.0 },
    { rid: "q", maxBitrate: 120000, maxFramerate: 15, scaleResolutionDownBy: 4.0 },
  ];

  const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  function randomString(n) {
    const bytes = crypto.getRandomValues(new Uint8Array(n));
    let s = "";
    for (const b of bytes) s += ALNUM[b % ALNUM.length];
    return s;
  }
  const genCallId = () => Date.now() + randomString(16);  // as js-sdk genCallID()
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : randomString(32));
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const isStr = (x) => typeof x === "string" && x.length > 0;

  // The room's call (msc3401.md §1.3): the newest valid, non-terminated org.matrix.msc3401.call (ties: lower id).
  function currentCall(room) {
    let best = null;
    for (const ev of room.currentState.getStateEvents(CALL)) {
      const c = ev.getContent() || {};
      if (ev.isRedacted() || c["m.terminated"] !== undefined) continue;
      if (!["m.video", "m.voice"].includes(c["m.type"])) continue;
      if (!["m.ring", "m.prompt", "m.room"].includes(c["m.intent"])) continue;
      const ts = ev.getTs();
      const id = ev.getStateKey();
      if (!best || ts > best.ts || (ts === best.ts && id < best.confId)) best = { confId: id, ts, content: c };
    }
    return best;
  }

  function validDevice(d, now) {
    return d && isStr(d.device_id) && isStr(d.session_id) && typeof d.expires_ts === "number" &&
      d.expires_ts > now && Array.isArray(d.feeds);
  }

  // The first focus another member's device in the room's current call is active on (js-sdk chooseFocus()).
  function activeFocus(client, room) {
    const call = currentCall(room);
    if (!call) return null;
    const now = Date.now();
    for (const ev of room.currentState.getStateEvents(MEMBER)) {
      const userId = ev.getStateKey();
      if (room.getMember(userId)?.membership !== "join") continue;
      const calls = (ev.getContent() || {})["m.calls"];
      if (!Array.isArray(calls)) continue;
      for (const c of calls) {
        if (!c || c["m.call_id"] !== call.confId || !Array.isArray(c["m.devices"])) continue;
        for (const d of c["m.devices"]) {
          if (!validDevice(d, now)) continue;
          if (userId === client.getUserId() && d.device_id === client.getDeviceId()) continue;
          const f = Array.isArray(d[FOCI_ACTIVE]) ? d[FOCI_ACTIVE][0] : null;
          if (f && isStr(f.user_id) && isStr(f.device_id)) return { user_id: f.user_id, device_id: f.device_id };
        }
      }
    }
    return null;
  }

  // mid -> {stream_id, track_id, kind} from the a=mid / a=msid lines of an SDP.
  function msidsByMid(sdp) {
    const out = new Map();
    if (!sdp) return out;
    for (const section of sdp.split(/\r?\nm=/).slice(1)) {
      const kind = section.split(" ")[0];
      const mid = /\na=mid:(\S+)/.exec(section);
      const msid = /\na=msid:(\S+) (\S+)/.exec(section);
      if (mid && msid) out.set(mid[1], { stream_id: msid[1], track_id: msid[2], kind });
    }
    return out;
  }

  class FocusCall {
    // opts: {client, room, focus:{user_id,device_id}, create, status(text), tilesEl, onEnded()}
    constructor(opts) {
      this.client = opts.client;
      this.room = opts.room;
      this.focus = opts.focus;
      this.create = !!opts.create;
      this.status = opts.status || (() => {});
      this.tilesEl = opts.tilesEl;
      this.onEnded = opts.onEnded || (() => {});
      // "h264": publish H.264 only (?codec=h264); the focus forwards it to those who can receive H.264.
      this.videoCodec = (opts.videoCodec || "").toLowerCase();
      this.relayOnly = !!opts.relayOnly;
      // Mixed calls (mesh.js): mesh legs with participants that use no focus, at most this many.
      const cap = Number.parseInt(opts.maxMeshPeers, 10);
      this.maxMeshPeers = Number.isFinite(cap) && cap >= 0 ? cap : ChorusMesh.DEFAULT_MAX_PEERS;
      this.mesh = null;
      this.userId = this.client.getUserId();
      this.deviceId = this.client.getDeviceId();
      this.mode = "focus";
      // Public state for tests and debugging.
      this.confId = null;
      this.sessionId = randomString(10);
      this.callId = null;
      this.connected = false;
      this.ended = false;
      this.iceState = "new";
      this.dcState = "none";
      this.audioMuted = false;
      this.videoMuted = false;
      this.remoteMetadata = {};
      // org.chorus.audio_slots: past the focus's audio_slots (16) audio subscriptions our audio comes on the
      // focus's own slot streams; this names who is on each now: slot stream id -> {user_id, device_id}.
      this.audioSlots = new Map();
      this.localMetadata = {};
      this.subscriptions = [];  // what the focus was last told we receive: [{stream_id, track_id, width?, height?}]
      this.tiles = [];
      this.remoteTracks = [];
      this.outbound = [];
      this.wire = [];           // the last messages in and out, SDP left out
      this.counters = { invites: 0, answers: 0, negotiations: 0, pings: 0, subscription_messages: 0,
        metadata_updates: 0, retries: 0, hangups_received: 0 };
      this.lastHangup = null;
      // Internal.
      this.pc = null;
      this.dc = null;
      this.stream = null;
      this.seq = 0;
      this.subscribed = new Map();  // "stream|track" -> {stream_id, track_id, width?, height?}
      this.tileEls = new Map();     // "user|device" -> tile element
      this.sendQueue = Promise.resolve();
      this.sigQueue = Promise.resolve();
      this.timers = new Set();
      this.candidateBatch = [];
      this.candidateTimer = null;
      this.inviteSent = false;
      this.pendingRemoteCandidates = [];
      this.remoteDescriptionSet = false;
      this.retries = 0;
      this.subscribeTimer = null;
      this.resizeObserver = new ResizeObserver(() => this.scheduleSubscriptions());
      this.onToDevice = (ev) => this.handleToDevice(ev);
      this.onRoomState = (ev) => this.handleRoomState(ev);
    }

    log(dir, type, content) {
      const c = Object.assign({}, content || {});
      for (const k of ["offer", "answer", "description"]) if (c[k]) c[k] = { type: c[k].type, sdp: "(" + (c[k].sdp || "").length + " bytes)" };
      this.wire.push({ t: Date.now(), dir, type, content: c });
      if (this.wire.length > 300) this.wire.shift();
    }

    timer(fn, ms) {
      const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
      this.timers.add(t);
      return t;
    }

    // ---- joining ----
    async enter() {
      await this.findOrCreateCall();
      if (!this.confId) return false;
      this.status("starting the camera…");
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
      this.addLocalTile();
      this.client.on("toDeviceEvent", this.onToDevice);
      this.client.on("RoomState.events", this.onRoomState);
      this.status("publishing our membership…");
      await this.publishMember();
      this.refreshTimer = setInterval(() => this.publishMember().catch((e) => console.warn("member refresh", e)),
        DEVICE_TIMEOUT * 3 / 4);
      this.statsTimer = setInterval(() => this.pollStats(), 1000);
      this.mesh = new ChorusMesh.MeshLegs(this, this.maxMeshPeers);
      this.mesh.start();
      await this.placeCall();
      return true;
    }

    async findOrCreateCall() {
      const call = currentCall(this.room);
      if (call) { this.confId = call.confId; return; }
      if (!this.create) {
        this.status("this room has no call yet: tick \"start a call\" to start one");
        return;
      }
      const confId = genCallId();
      await this.client.sendStateEvent(this.room.roomId, CALL,
        { "m.intent": "m.prompt", "m.type": "m.video", "io.element.ptt": false, "dataChannelsEnabled": false }, confId);
      this.confId = confId;
    }

    // Read-modify-write of our member event (msc3401.md §2.4): other calls and devices kept, expired devices of
    // this call and our own entry dropped, then ours added (unless leaving).
    // keepAlive (page unload): no round trip first, the synced state is used and the PUT outlives the page.
    async publishMember(leaving = false, keepAlive = false) {
      let content = null;
      const local = () => this.room.currentState.getStateEvents(MEMBER, this.userId)?.getContent() || null;
      if (keepAlive || !local()) {
        // Page unload; or the synced state has no member event of ours (a GET would only answer 404).
        content = local();
      } else {
        try {
          content = await this.client.getStateEvent(this.room.roomId, MEMBER, this.userId);
        } catch (e) {
          if (e.httpStatus !== 404 && e.errcode !== "M_NOT_FOUND") content = local();
        }
      }
      const now = Date.now();
      const calls = Array.isArray(content?.["m.calls"]) ? content["m.calls"].filter((c) => c && typeof c === "object") : [];
      let mine = calls.find((c) => c["m.call_id"] === this.confId);
      if (!mine) { mine = { "m.call_id": this.confId, "m.devices": [] }; calls.push(mine); }
      const others = (Array.isArray(mine["m.devices"]) ? mine["m.devices"] : [])
        .filter((d) => validDevice(d, now) && d.device_id !== this.deviceId);
      if (!leaving) {
        const focus = { user_id: this.focus.user_id, device_id: this.focus.device_id };
        others.push({
          device_id: this.deviceId, session_id: this.sessionId, expires_ts: now + DEVICE_TIMEOUT,
          feeds: [{ purpose: "m.usermedia" }], [FOCI_ACTIVE]: [focus], [FOCI_PREFERRED]: [Object.assign({}, focus)],
        });
      }
      mine["m.devices"] = others;
      const kept = calls.filter((c) => c !== mine || others.length > 0);
      const body = Object.assign({}, content || {}, { "m.calls": kept });
      this.log("out", MEMBER, body);
      await this.client.sendStateEvent(this.room.roomId, MEMBER, body, this.userId, keepAlive ? { keepAlive: true } : {});
    }

    // ---- the call to the focus ----
    async placeCall() {
      if (this.ended) return;
      this.closePc();
      this.callId = genCallId();
      this.seq = 0;
      this.inviteSent = false;
      this.remoteDescriptionSet = false;
      this.pendingRemoteCandidates = [];
      this.candidateBatch = [];
      this.subscribed.clear();
      this.subscriptions = [];
      this.connected = false;
      this.status(`calling the focus ${this.focus.user_id} / ${this.focus.device_id}…`);
      const turn = this.client.getTurnServers ? this.client.getTurnServers() : [];
      // relayOnly (?relay=1): only TURN relayed candidates, as on a network that allows nothing else.
      const pc = new RTCPeerConnection({ iceServers: turn && turn.length ? turn : [],
        iceTransportPolicy: this.relayOnly ? "relay" : "all" });
      this.pc = pc;
      const audio = this.stream.getAudioTracks()[0];
      const video = this.stream.getVideoTracks()[0];
      if (audio) pc.addTransceiver(audio, { direction: "sendonly", streams: [this.stream] });
      if (video) {
        const tr = pc.addTransceiver(video, { direction: "sendonly", streams: [this.stream],
          sendEncodings: SIMULCAST.map((e) => Object.assign({}, e)) });
        if (this.videoCodec === "h264" && tr.setCodecPreferences) {
          const h264 = RTCRtpSender.getCapabilities("video").codecs.filter((c) => c.mimeType === "video/H264");
          // packetization-mode=1 first: the mode the focus forwards.
          h264.sort((a, b) => (/packetization-mode=1/.test(b.sdpFmtpLine || "") ? 1 : 0) -
            (/packetization-mode=1/.test(a.sdpFmtpLine || "") ? 1 : 0));
          if (h264.length) tr.setCodecPreferences(h264);
        }
        // Keep the layers at their sizes under CPU load (the focus picks layers by size).
        try {
          const p = tr.sender.getParameters();
          p.degradationPreference = "maintain-resolution";
          await tr.sender.setParameters(p);
        } catch (e) { console.warn("degradationPreference", e); }
      }
      const dc = pc.createDataChannel("datachannel");
      this.dc = dc;
      this.dcState = "connecting";
      dc.onopen = () => { if (this.dc !== dc) return; this.dcState = "open"; this.dcOpenedAt = performance.now(); this.sendSubscriptions(true); };
      dc.onclose = () => { if (this.dc === dc) this.dcState = "closed"; };
      dc.onmessage = (m) => { if (this.dc === dc) this.handleDataChannel(m.data); };
      pc.onicecandidate = (e) => {
        if (this.pc !== pc) return;
        if (e.candidate && e.candidate.candidate) {
          this.candidateBatch.push({ candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid,
            sdpMLineIndex: e.candidate.sdpMLineIndex });
        } else if (!e.candidate) {
          this.candidateBatch.push({ candidate: "" });  // end of candidates
        }
        this.scheduleCandidates();
      };
      pc.onconnectionstatechange = () => {
        if (this.pc !== pc) return;
        this.iceState = pc.connectionState;
        if (pc.connectionState === "connected") {
          this.connected = true;
          this.retries = 0;
          this.renderStatus();
          this.sendSubscriptions(true);
        } else if (pc.connectionState === "failed") {
          this.connected = false;
          this.hangupAndRetry("ice_failed");
        } else if (pc.connectionState === "disconnected") {
          this.connected = false;
          this.renderStatus();
        }
      };
      pc.ontrack = () => this.timer(() => this.updateRemoteTracks(), 0);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      // Let early candidates ride in the SDP (js-sdk waits up to 200 ms).
      for (let i = 0; i < 20 && pc.iceGatheringState !== "complete"; i++) await sleep(10);
      if (this.pc !== pc) return;
      this.localMetadata = this.buildLocalMetadata();
      const callId = this.callId;
      await this.sendSignal("m.call.invite", {
        lifetime: LIFETIME,
        invitee: this.focus.user_id,
        offer: { type: pc.localDescription.type, sdp: pc.localDescription.sdp },
        capabilities: { "m.call.transferee": false, "m.call.dtmf": false },
        [MD_KEY]: this.localMetadata,
      });
      this.counters.invites++;
      this.inviteSent = true;
      this.scheduleCandidates();
      this.timer(() => {
        if (this.pc === pc && this.callId === callId && !this.remoteDescriptionSet && !this.ended) {
          this.hangupAndRetry("invite_timeout");
        }
      }, ANSWER_TIMEOUT);
    }

    // Our stream and track ids are the ones in our SDP's msid lines (what the focus maps RTP to).
    buildLocalMetadata() {
      const tracks = {};
      const byMid = msidsByMid(this.pc?.localDescription?.sdp);
      let streamId = this.stream.id;
      for (const t of this.pc ? this.pc.getTransceivers() : []) {
        const track = t.sender.track;
        if (!track) continue;
        const m = t.mid != null ? byMid.get(t.mid) : null;
        if (m) streamId = m.stream_id;
        const trackId = m ? m.track_id : track.id;
        if (track.kind === "video") {
          const s = track.getSettings();
          tracks[trackId] = { kind: "video", width: s.width || 640, height: s.height || 480 };
        } else {
          tracks[trackId] = { kind: "audio" };
        }
      }
      return { [streamId]: { purpose: "m.usermedia", audio_muted: this.audioMuted, video_muted: this.videoMuted,
        user_id: this.userId, device_id: this.deviceId, tracks } };
    }

    // To-device to the focus, one at a time (so seq order holds), retried like js-sdk (500·2^n ms, 5 tries).
    sendSignal(type, extra, keepAlive = false) {
      const content = Object.assign({
        version: "1", call_id: this.callId, party_id: this.deviceId, conf_id: this.confId, device_id: this.deviceId,
        sender_session_id: this.sessionId, dest_session_id: FOCUS_SESSION_ID, seq: this.seq++,
        "org.matrix.msgid": uuid(),
      }, extra);
      this.log("out", type, content);
      if (keepAlive) {  // page unload: straight out, with fetch keepalive
        const path = "/sendToDevice/" + encodeURIComponent(type) + "/" + encodeURIComponent(this.client.makeTxnId());
        const body = { messages: { [this.focus.user_id]: { [this.focus.device_id]: content } } };
        return this.client.http.authedRequest("PUT", path, undefined, body, { keepAlive: true }).catch(() => {});
      }
      const job = async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            const msg = new Map([[this.focus.user_id, new Map([[this.focus.device_id, content]])]]);
            await this.client.sendToDevice(type, msg, this.client.makeTxnId());
            return;
          } catch (e) {
            if (attempt >= 4) { console.warn("to-device " + type + " failed", e); return; }
            await sleep(500 * Math.pow(2, attempt));
          }
        }
      };
      const p = this.sendQueue.then(job);
      this.sendQueue = p.catch(() => {});
      return p;
    }

    scheduleCandidates() {
      if (!this.inviteSent || this.candidateTimer || this.candidateBatch.length === 0) return;
      this.candidateTimer = this.timer(() => {
        this.candidateTimer = null;
        if (!this.candidateBatch.length || this.ended) return;
        const candidates = this.candidateBatch;
        this.candidateBatch = [];
        this.sendSignal("m.call.candidates", { candidates });
      }, CANDIDATE_BATCH);
    }

    // Serialises everything that touches the peer connection's descriptions.
    serial(fn) {
      const p = this.sigQueue.then(fn);
      this.sigQueue = p.catch((e) => console.warn("signalling", e));
      return p;
    }

    handleToDevice(ev) {
      const type = ev.getType();
      if (!type.startsWith("m.call.") && !type.startsWith("org.matrix.call.")) return;
      const c = ev.getContent() || {};
      if (c.conf_id !== this.confId) return;
      if (ev.getSender() !== this.focus.user_id || c.device_id !== this.focus.device_id) {
        if (this.mesh) this.mesh.handleToDevice(ev);  // a mesh-only participant (mixed call)
        return;
      }
      if (c.dest_session_id !== undefined && c.dest_session_id !== this.sessionId) return;
      this.log("in", type, c);
      if (c.call_id !== this.callId) return;  // an older call of ours
      const pc = this.pc;
      switch (type) {
        case "m.call.answer":
          this.serial(async () => {
            if (this.pc !== pc || this.remoteDescriptionSet || !c.answer) return;
            await pc.setRemoteDescription(c.answer);
            this.remoteDescriptionSet = true;
            this.counters.answers++;
            if (c[MD_KEY]) this.setRemoteMetadata(c[MD_KEY], false);
            for (const cand of this.pendingRemoteCandidates.splice(0)) await this.addRemoteCandidate(pc, cand);
            // Not awaited: the to-device send (an HTTP round trip, behind any queued before it) must not hold
            // back the focus's first offer, which waits in this queue (docs/congestion-control.md, "Benchmark:
            // joining a call"). sendQueue keeps the to-device messages in order.
            this.sendSignal("m.call.select_answer", { selected_party_id: c.party_id }).catch(() => {});
            this.updateRemoteTracks();
          });
          break;
        case "m.call.candidates":
          this.serial(async () => {
            if (this.pc !== pc) return;
            for (const cand of Array.isArray(c.candidates) ? c.candidates : []) {
              if (this.remoteDescriptionSet) await this.addRemoteCandidate(pc, cand);
              else this.pendingRemoteCandidates.push(cand);
            }
          });
          break;
        case "m.call.negotiate":  // the focus normally negotiates over the data channel; accept both
          if (c.description) this.onRemoteDescription(c.description, c[MD_KEY], "todevice");
          break;
        case "m.call.sdp_stream_metadata_changed":
        case "org.matrix.call.sdp_stream_metadata_changed":
          if (c[MD_KEY]) this.setRemoteMetadata(c[MD_KEY]);
          break;
        case "m.call.hangup":
        case "m.call.reject":
          this.counters.hangups_received++;
          this.lastHangup = { type, reason: c.reason || null, at: Date.now() };
          this.status(`the focus ${type === "m.call.reject" ? "rejected the call" : "hung up"}` +
            (c.reason ? ` (${c.reason})` : "") + "; calling it again shortly");
          this.reportDataChannel();
          this.retryLater();
          break;
      }
    }

    async addRemoteCandidate(pc, cand) {
      try {
        if (!cand || !cand.candidate) await pc.addIceCandidate(null).catch(() => {});
        else await pc.addIceCandidate(cand);
      } catch (e) { console.warn("addIceCandidate", e); }
    }

    handleRoomState(ev) {
      if (ev.getRoomId() === this.room.roomId && ev.getType() === MEMBER && this.mesh) this.mesh.reconcile(false);
      if (ev.getRoomId() !== this.room.roomId || ev.getType() !== CALL || ev.getStateKey() !== this.confId) return;
      if (ev.getContent()["m.terminated"] !== undefined) {
        this.status("the call ended");
        this.leave(false);
      }
    }

    // ---- data channel ----
    // Logs what our side of the data channel saw, for a hangup that may be about it (keep_alive_timeout: the focus
    // heard no pong): whether the pings reached this page and whether its answers left the browser.
    reportDataChannel() {
      const dc = this.dc, pc = this.pc, now = performance.now();
      const age = (t) => (t ? ((now - t) / 1000).toFixed(1) + " s ago" : "never");
      const head = `data channel at hangup: ${dc ? dc.readyState : "none"}, sctp ${pc && pc.sctp ? pc.sctp.state : "none"}, ` +
        `${this.counters.pings} pings answered (the last ${age(this.lastPingAt)}), ` +
        `${dc ? dc.bufferedAmount : 0} B buffered, opened ${age(this.dcOpenedAt)}`;
      if (!pc) { console.info(head); return; }
      pc.getStats().then((stats) => {
        const parts = [];
        stats.forEach((r) => {
          if (r.type === "data-channel") parts.push(`messages ${r.messagesSent} sent / ${r.messagesReceived} received`);
          if (r.type === "transport") parts.push(`dtls ${r.dtlsState}, ${r.packetsSent} packets sent / ${r.packetsReceived} received`);
        });
        console.info(head + (parts.length ? "; " + parts.join("; ") : ""));
      }, () => console.info(head));
    }

    sendDc(type, content) {
      if (!this.dc || this.dc.readyState !== "open") return false;
      this.log("out-dc", type, content);
      this.dc.send(JSON.stringify({ type, content }));
      return true;
    }

    handleDataChannel(data) {
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      if (!msg || typeof msg.type !== "string") return;
      const content = msg.content || {};
      if (msg.type === "m.call.ping") {
        this.counters.pings++;
        this.lastPingAt = performance.now();
        this.sendDc("m.call.pong", {});
        return;
      }
      this.log("in-dc", msg.type, content);
      switch (msg.type) {
        case "m.call.sdp_stream_metadata_changed":
          if (!content.sdp_stream_metadata) break;
          // org.chorus.metadata_delta: only what is new, changed (merged) or gone (org.chorus.removed_streams)
          // since the last message.
          if (content["org.chorus.metadata_delta"] === true) {
            const merged = Object.assign({}, this.remoteMetadata || {});
            const removed = content["org.chorus.removed_streams"];
            if (Array.isArray(removed)) for (const id of removed) delete merged[id];
            this.setRemoteMetadata(Object.assign(merged, content.sdp_stream_metadata));
          } else {
            this.setRemoteMetadata(content.sdp_stream_metadata);
          }
          break;
        case "m.call.negotiate":
          if (content.description) this.onRemoteDescription(content.description, content.sdp_stream_metadata, "dc");
          break;
        case "org.chorus.audio_slots":
          // Each slot's audio goes to its speaker's tile (level meter, speaking highlight), not to a focus tile.
          if (!Array.isArray(content.slots)) break;
          this.audioSlots = new Map();
          for (const s of content.slots.slice(0, 1024)) {
            if (s && isStr(s.slot) && isStr(s.user_id) && isStr(s.device_id))
              this.audioSlots.set(s.slot, { user_id: s.user_id, device_id: s.device_id });
          }
          this.updateRemoteTracks();
          break;
      }
    }

    onRemoteDescription(description, metadata, via) {
      const pc = this.pc;
      this.serial(async () => {
        if (this.pc !== pc || !pc) return;
        if (metadata) this.setRemoteMetadata(metadata, false);
        if (description.type === "offer") {
          await pc.setRemoteDescription(description);
          await pc.setLocalDescription(await pc.createAnswer());
          this.counters.negotiations++;
          const answer = { type: pc.localDescription.type, sdp: pc.localDescription.sdp };
          if (via === "dc") {
            this.sendDc("m.call.negotiate", { description: answer, sdp_stream_metadata: this.localMetadata });
          } else {
            await this.sendSignal("m.call.negotiate", { lifetime: LIFETIME, description: answer, [MD_KEY]: this.localMetadata });
          }
        } else if (description.type === "answer" && pc.signalingState === "have-local-offer") {
          await pc.setRemoteDescription(description);
        }
        this.updateRemoteTracks();
      });
    }

    // The focus's m.call.sdp_stream_metadata_changed lists everything we can receive, so it replaces what we had
    // (a delta is merged into it first, above).
    // The metadata riding on an answer or negotiate replaces it too, unless it is empty (then it says nothing).
    setRemoteMetadata(md, replaceWithEmpty = true) {
      if (!md || typeof md !== "object" || Array.isArray(md)) return;
      if (!replaceWithEmpty && Object.keys(md).length === 0) return;
      this.remoteMetadata = md;
      this.counters.metadata_updates++;
      this.renderTiles();
      // A track we have not subscribed to yet (we just joined, or someone else did) is asked for at once: the
      // debounce is for tiles changing size, and on a join it would only delay the first frame.
      const unseen = Object.entries(md).some(([sid, m]) => m && typeof m.tracks === "object" && m.tracks !== null &&
        Object.keys(m.tracks).some((tid) => !this.subscribed.has(sid + "|" + tid)));
      if (unseen) this.sendSubscriptions(false);
      else this.scheduleSubscriptions();
    }

    // ---- subscriptions ----
    scheduleSubscriptions() {
      if (this.subscribeTimer) return;
      this.subscribeTimer = this.timer(() => { this.subscribeTimer = null; this.sendSubscriptions(false); },
        SUBSCRIBE_DEBOUNCE);
    }

    // Audio: always; video: with the tile's current size while the tile is visible with a size.
    sendSubscriptions(force) {
      if (!this.dc || this.dc.readyState !== "open") return;
      const want = new Map();
      for (const [streamId, md] of Object.entries(this.remoteMetadata)) {
        if (!md || typeof md !== "object") continue;
        const tile = this.tileEls.get(md.user_id + "|" + md.device_id);
        for (const [trackId, t] of Object.entries(md.tracks || {})) {
          const key = streamId + "|" + trackId;
          if (t && t.kind === "audio") {
            want.set(key, { stream_id: streamId, track_id: trackId });
          } else if (t && tile) {  // video (also when a publisher left out "kind")
            const v = tile.querySelector("video");
            const w = Math.round(v.clientWidth), h = Math.round(v.clientHeight);
            if (w > 0 && h > 0) want.set(key, { stream_id: streamId, track_id: trackId, width: w, height: h });
          }
        }
      }
      const subscribe = [], unsubscribe = [];
      for (const [key, s] of want) {
        const had = this.subscribed.get(key);
        if (force || !had || had.width !== s.width || had.height !== s.height) subscribe.push(s);
      }
      for (const [key, s] of this.subscribed) {
        if (want.has(key)) continue;
        const md = this.remoteMetadata[s.stream_id];
        if (md && md.tracks && md.tracks[s.track_id]) unsubscribe.push({ stream_id: s.stream_id, track_id: s.track_id });
      }
      this.subscribed = want;
      this.subscriptions = [...want.values()];
      if (!subscribe.length && !unsubscribe.length) return;
      this.counters.subscription_messages++;
      this.sendDc("m.call.track_subscription", { subscribe, unsubscribe });
    }

    // ---- tiles ----
    // Tiles (tiles.js): name, mute marks, level meter and speaking highlight measured on the tile's audio.
    makeTile(id, local = false) {
      const tile = ChorusTiles.make(id, { local });
      this.tilesEl.appendChild(tile);
      return tile;
    }

    localName() {
      const me = this.room.getMember(this.userId);
      return (me?.name || this.userId) + " (you)";
    }

    addLocalTile() {
      let tile = document.getElementById("tile-local");
      if (!tile) tile = this.makeTile("tile-local", true);
      tile.dataset.user = this.userId;
      tile.dataset.device = this.deviceId;
      tile.querySelector("video").srcObject = this.stream;
      ChorusTiles.setInfo(tile, { name: this.localName(), audioMuted: this.audioMuted, videoMuted: this.videoMuted });
      ChorusTiles.setAudio(tile, this.stream);
    }

    participantsFromMetadata() {
      const parts = new Map();
      for (const [streamId, md] of Object.entries(this.remoteMetadata)) {
        if (!md || typeof md !== "object" || !isStr(md.user_id) || !isStr(md.device_id)) continue;
        if (md.user_id === this.userId && md.device_id === this.deviceId) continue;
        // The focus's own streams (audio slots) are heard in their speakers' tiles (updateRemoteTracks).
        if (this.focus && md.user_id === this.focus.user_id && md.device_id === this.focus.device_id) continue;
        const key = md.user_id + "|" + md.device_id;
        if (!parts.has(key)) parts.set(key, { user_id: md.user_id, device_id: md.device_id, streams: [] });
        const p = parts.get(key);
        if (md.purpose === "m.screenshare") p.streams.push(streamId); else p.streams.unshift(streamId);
        p.md = p.md || (md.purpose !== "m.screenshare" ? md : null);
      }
      return parts;
    }

    renderTiles() {
      if (this.ended) return;
      const parts = this.participantsFromMetadata();
      for (const [key, p] of parts) {
        let tile = this.tileEls.get(key);
        if (!tile) {
          tile = this.makeTile("tile-" + p.user_id + "-" + p.device_id);
          tile.dataset.user = p.user_id;
          tile.dataset.device = p.device_id;
          const spot = document.createElement("button");
          spot.className = "spot";
          spot.title = "spotlight";
          spot.textContent = "⤢";
          spot.addEventListener("click", () => this.spotlight(p.user_id, p.device_id));
          tile.appendChild(spot);
          this.tileEls.set(key, tile);
          this.resizeObserver.observe(tile.querySelector("video"));
        }
        const member = this.room.getMember(p.user_id);
        const md = p.md || this.remoteMetadata[p.streams[0]] || {};
        ChorusTiles.setInfo(tile, { name: member?.name || p.user_id, audioMuted: !!md.audio_muted,
          videoMuted: !!md.video_muted, videoPaused: md["org.chorus.video_paused"] === true });
      }
      for (const [key, tile] of this.tileEls) {
        if (parts.has(key)) continue;
        this.resizeObserver.unobserve(tile.querySelector("video"));
        ChorusTiles.remove(tile);
        this.tileEls.delete(key);
      }
      this.updateRemoteTracks();
      this.renderStatus();
    }

    // Puts each received track (transceiver mid -> msid in the focus's SDP) into its participant's tile.
    updateRemoteTracks() {
      if (!this.pc) return;
      const byMid = msidsByMid(this.pc.remoteDescription?.sdp);
      const perTile = new Map();
      this.midInfo = new Map();
      for (const t of this.pc.getTransceivers()) {
        if (t.mid == null || t.stopped || !t.receiver.track) continue;
        const dir = t.currentDirection;
        if (dir !== "recvonly" && dir !== "sendrecv") continue;
        const m = byMid.get(t.mid);
        if (!m) continue;
        if (!this.remoteMetadata[m.stream_id]) {  // no such stream: find the track id in another stream
          for (const [sid, smd] of Object.entries(this.remoteMetadata)) {
            if (smd && smd.tracks && smd.tracks[m.track_id]) { m.stream_id = sid; break; }
          }
        }
        const md = this.remoteMetadata[m.stream_id];
        const info = { mid: t.mid, stream_id: m.stream_id, track_id: m.track_id, kind: t.receiver.track.kind,
          user_id: md?.user_id || null, device_id: md?.device_id || null };
        this.midInfo.set(t.mid, info);
        if (!md) continue;
        const speaker = this.audioSlots.get(m.stream_id);  // an audio slot: whoever is on it now
        if (speaker) { info.user_id = speaker.user_id; info.device_id = speaker.device_id; info.audio_slot = true; }
        const key = (speaker || md).user_id + "|" + (speaker || md).device_id;
        if (!perTile.has(key)) perTile.set(key, []);
        perTile.get(key).push(t.receiver.track);
      }
      for (const [key, tile] of this.tileEls) ChorusTiles.setTracks(tile, perTile.get(key) || []);
    }

    spotlight(userId, deviceId) {
      const tile = this.tileEls.get(userId + "|" + deviceId);
      if (!tile) return false;
      const on = !tile.classList.contains("spotlight");
      for (const t of this.tileEls.values()) t.classList.remove("spotlight");
      tile.classList.toggle("spotlight", on);
      tile.style.width = "";
      this.scheduleSubscriptions();
      return on;
    }

    // Test hook: give a remote tile a fixed CSS width (its height follows the 4:3 aspect ratio); null resets.
    setTileSize(userId, deviceId, width) {
      const tile = this.tileEls.get(userId + "|" + deviceId);
      if (!tile) return false;
      tile.classList.remove("spotlight");
      tile.style.width = width ? width + "px" : "";
      this.scheduleSubscriptions();
      return true;
    }

    renderStatus() {
      if (this.ended) return;
      const n = this.tileEls.size;
      const conn = this.connected ? "via the focus" : "connecting to the focus (" + this.iceState + ")";
      this.status(`${this.userId} in ${this.room.name || this.room.roomId} with ${n} other(s), ${conn}`);
    }

    // ---- stats ----
    async pollStats() {
      const pc = this.pc;
      if (!pc || this.ended) return;
      let report;
      try { report = await pc.getStats(); } catch { return; }
      if (pc !== this.pc) return;
      const remote = [], outbound = [];
      const rtcpIn = new Map();  // our SSRC -> what the focus's receiver reports say
      const codecs = new Map();  // codec stats id -> mime type
      const pairs = new Map();   // candidate-pair stats by id
      let selectedPairId = null;
      report.forEach((s) => {
        if (s.type === "codec") {
          codecs.set(s.id, s.mimeType);
        } else if (s.type === "remote-inbound-rtp") {
          rtcpIn.set(s.ssrc, { fractionLost: s.fractionLost, packetsLost: s.packetsLost, roundTripTime: s.roundTripTime });
        } else if (s.type === "candidate-pair") {
          pairs.set(s.id, s);
        } else if (s.type === "transport" && s.selectedCandidatePairId) {
          selectedPairId = s.selectedCandidatePairId;
        }
      });
      // The send-side estimate lives on the pair the transport selected. Several pairs can be nominated and
      // succeeded (the focus advertises one candidate per address); only the selected one carries the estimate.
      let pair = selectedPairId ? pairs.get(selectedPairId) : undefined;
      if (!pair || !pair.availableOutgoingBitrate) {
        pair = [...pairs.values()].find((p) => p.nominated && p.state === "succeeded" && p.availableOutgoingBitrate) || pair;
      }
      if (pair) this.availableOutgoingBitrate = pair.availableOutgoingBitrate || 0;
      report.forEach((s) => {
        if (s.type === "inbound-rtp") {
          const info = (this.midInfo && this.midInfo.get(s.mid)) || {};
          remote.push({ mid: s.mid, kind: s.kind, stream_id: info.stream_id || null, track_id: info.track_id || null,
            user_id: info.user_id || null, device_id: info.device_id || null,
            packetsReceived: s.packetsReceived || 0, bytesReceived: s.bytesReceived || 0,
            framesDecoded: s.framesDecoded || 0, frameWidth: s.frameWidth || 0, frameHeight: s.frameHeight || 0,
            totalSamplesReceived: s.totalSamplesReceived || 0, audioLevel: s.audioLevel || 0,
            packetsLost: s.packetsLost || 0, nackCount: s.nackCount || 0, pliCount: s.pliCount || 0,
            framesReceived: s.framesReceived || 0, framesDropped: s.framesDropped || 0,
            keyFramesDecoded: s.keyFramesDecoded || 0, freezeCount: s.freezeCount || 0,
            totalFreezesDuration: s.totalFreezesDuration || 0,
            retransmittedPacketsReceived: s.retransmittedPacketsReceived || 0,
            codec: codecs.get(s.codecId) || null });
        } else if (s.type === "outbound-rtp" && s.kind === "video") {
          outbound.push({ rid: s.rid || null, ssrc: s.ssrc, frameWidth: s.frameWidth || 0,
            frameHeight: s.frameHeight || 0, framesEncoded: s.framesEncoded || 0, framesSent: s.framesSent || 0,
            bytesSent: s.bytesSent || 0, nackCount: s.nackCount || 0,
            retransmittedPacketsSent: s.retransmittedPacketsSent || 0,
            active: s.active, qualityLimitationReason: s.qualityLimitationReason || null,
            codec: codecs.get(s.codecId) || null,
            targetBitrate: s.targetBitrate || 0, rr: rtcpIn.get(s.ssrc) || null });
        } else if (s.type === "outbound-rtp" && s.kind === "audio") {
          outbound.push({ kind: "audio", ssrc: s.ssrc, packetsSent: s.packetsSent || 0, rr: rtcpIn.get(s.ssrc) || null });
        }
      });
      outbound.sort((a, b) => String(a.rid).localeCompare(String(b.rid)));
      this.remoteTracks = remote;
      this.outbound = outbound;
      const tiles = [];
      for (const [key, tile] of this.tileEls) {
        const [user_id, device_id] = [tile.dataset.user, tile.dataset.device];
        const mine = remote.filter((r) => r.user_id === user_id && r.device_id === device_id);
        const vid = mine.filter((r) => r.kind === "video").sort((a, b) => b.framesDecoded - a.framesDecoded)[0];
        const aud = mine.filter((r) => r.kind === "audio").sort((a, b) => b.totalSamplesReceived - a.totalSamplesReceived)[0];
        const v = tile.querySelector("video");
        const part = this.participantsFromMetadata().get(key);
        const md = part ? (part.md || {}) : {};
        const shown = ChorusTiles.state(tile);
        tiles.push({ user_id, device_id, name: shown.name, speaking: shown.speaking, level: shown.level,
          peak: shown.peak, statsAudioLevel: aud ? aud.audioLevel : 0,
          audio_muted: !!md.audio_muted, video_muted: !!md.video_muted,
          video_paused: md["org.chorus.video_paused"] === true,
          clientWidth: v.clientWidth, clientHeight: v.clientHeight, videoWidth: v.videoWidth, videoHeight: v.videoHeight,
          framesDecoded: vid ? vid.framesDecoded : 0, frameWidth: vid ? vid.frameWidth : 0,
          frameHeight: vid ? vid.frameHeight : 0, videoCodec: vid ? vid.codec : null,
          audioPacketsReceived: aud ? aud.packetsReceived : 0,
          audioSamplesReceived: aud ? aud.totalSamplesReceived : 0, spotlight: tile.classList.contains("spotlight") });
      }
      // Mesh peers (mixed calls) in the same shape, marked via "mesh".
      if (this.mesh) for (const m of this.mesh.stats) tiles.push(Object.assign({ name: m.user_id }, m));
      this.tiles = tiles;
      const local = document.getElementById("tile-local");
      this.localTile = local ? ChorusTiles.state(local) : null;
    }

    snapshot() {
      return JSON.parse(JSON.stringify({
        mode: this.mode, focus: this.focus, confId: this.confId, callId: this.callId, sessionId: this.sessionId,
        connected: this.connected, ended: this.ended, iceState: this.iceState, dcState: this.dcState,
        audioMuted: this.audioMuted, videoMuted: this.videoMuted, tiles: this.tiles, localTile: this.localTile,
        subscriptions: this.subscriptions,
        remoteTracks: this.remoteTracks, outbound: this.outbound, availableOutgoingBitrate: this.availableOutgoingBitrate, remoteMetadata: this.remoteMetadata,
        localMetadata: this.localMetadata, counters: this.counters, lastHangup: this.lastHangup,
        mesh: this.mesh ? this.mesh.snapshot() : null,
      }));
    }

    // ---- controls ----
    setAudioMuted(muted) {
      this.audioMuted = !!muted;
      for (const t of this.stream.getAudioTracks()) t.enabled = !muted;
      this.metadataChanged();
    }

    setVideoMuted(muted) {
      this.videoMuted = !!muted;
      for (const t of this.stream.getVideoTracks()) t.enabled = !muted;
      this.metadataChanged();
    }

    metadataChanged() {
      if (this.pc && this.pc.localDescription) this.localMetadata = this.buildLocalMetadata();
      this.sendDc("m.call.sdp_stream_metadata_changed", { sdp_stream_metadata: this.localMetadata });
      if (this.mesh) this.mesh.metadataChanged();
      const local = document.getElementById("tile-local");
      if (local) ChorusTiles.setInfo(local, { name: this.localName(), audioMuted: this.audioMuted, videoMuted: this.videoMuted });
    }

    hangupAndRetry(reason) {
      if (this.ended) return;
      if (this.callId) this.sendSignal("m.call.hangup", { reason });
      this.retryLater();
    }

    retryLater() {
      this.closePc();
      this.renderTiles();
      if (this.ended || this.retryPending) return;
      if (this.retries >= MAX_RETRIES) {
        this.status("could not reach the focus " + this.focus.user_id + " (gave up after " + MAX_RETRIES + " retries)");
        return;
      }
      this.retries++;
      this.counters.retries++;
      this.retryPending = true;
      this.timer(() => { this.retryPending = false; this.placeCall().catch((e) => this.status("failed: " + e.message)); },
        RETRY_DELAY);
    }

    closePc() {
      if (this.candidateTimer) { clearTimeout(this.candidateTimer); this.timers.delete(this.candidateTimer); this.candidateTimer = null; }
      if (this.dc) { try { this.dc.close(); } catch {} this.dc = null; }
      if (this.pc) { try { this.pc.close(); } catch {} this.pc = null; }
      this.dcState = "none";
      this.connected = false;
      this.remoteMetadata = {};
      this.midInfo = new Map();
    }

    // Hangs up to the focus, closes the connection and removes our device from the member event.
    async leave(sendHangup = true, keepAlive = false) {
      if (this.ended) return;
      this.ended = true;
      const hadCall = this.callId && this.pc;
      if (sendHangup && hadCall) this.sendSignal("m.call.hangup", { reason: "user_hangup" }, keepAlive);
      if (this.mesh) this.mesh.leave(keepAlive);
      this.closePc();
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      clearInterval(this.refreshTimer);
      clearInterval(this.statsTimer);
      this.client.off("toDeviceEvent", this.onToDevice);
      this.client.off("RoomState.events", this.onRoomState);
      this.resizeObserver.disconnect();
      if (this.stream) for (const t of this.stream.getTracks()) t.stop();
      for (const tile of this.tileEls.values()) ChorusTiles.remove(tile);
      this.tileEls.clear();
      const local = document.getElementById("tile-local");
      if (local) ChorusTiles.remove(local);
      this.tiles = [];
      this.connected = false;
      if (!keepAlive) try { await this.sendQueue; } catch {}
      try { await this.publishMember(true, keepAlive); } catch (e) { console.warn("member removal", e); }
      this.onEnded();
    }
  }

  window.ChorusFocus = {
    FocusCall, activeFocus, currentCall, DEFAULT_FOCUS_DEVICE,
    // Resolves the FocusCall once it is calling the focus, or null when the room has no call (and create is off).
    async join(opts) {
      const fc = new FocusCall(opts);
      window.chorusFocus = fc;
      const ok = await fc.enter();
      return ok ? fc : null;
    },
  };
})();
