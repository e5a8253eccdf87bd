// Mixed calls in the web client's focus mode (docs/focus.md, "Mixed calls"): next to the one connection to the
// focus, a plain MSC3401 mesh leg (MSC2746 over to-device, as matrix-js-sdk 28.1.0 speaks it,
// ../shared/docs/interop-matrix-js-sdk.md §2.3-2.4) with every participant whose member entry names no focus
// (org.matrix.msc3898.foci.active empty), so a mesh-only client sees us and we see it. Who calls whom is the
// mesh rule (the lower user id, then device id, calls); at most maxPeers such legs (one uplink each), beyond it
// their invites get m.call.reject with reason "mesh_peer_limit". Devices that use a focus are reached through it.
// Used by focus.js (FocusCall.mesh); test hooks through FocusCall.snapshot().mesh.
"use strict";
(function () {
  const MEMBER = "org.matrix.msc3401.call.member";
  const FOCI_ACTIVE = "org.matrix.msc3898.foci.active";
  const MD_KEY = "org.matrix.msc3077.sdp_stream_metadata";
  const LIFETIME = 60000;
  const RETRY_DELAY = 5000;
  const MAX_RETRIES = 3;            // per device session, as js-sdk
  const HOLD_MS = 10000;            // an invite that overtook its member event waits this long
  const MAX_HELD = 16;
  const MAX_BUFFERED = 64;          // out-of-order messages kept per call
  const CAPS = { "m.call.transferee": false, "m.call.dtmf": false };
  const isStr = (x) => typeof x === "string" && x.length > 0;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  class MeshLegs {
    // fc: the FocusCall (client, room, confId, sessionId, userId, deviceId, stream, tilesEl, makeTile()).
    constructor(fc, maxPeers) {
      this.fc = fc;
      this.maxPeers = maxPeers;
      this.legs = new Map();      // "user|device" -> leg
      this.ended = new Set();     // call ids that ended (late messages dropped); bounded
      this.held = [];             // invites from devices not (yet) in the member state
      this.attempts = new Map();  // "user|device" -> {session, count, overCapCounted}
      this.buffers = new Map();   // call_id -> {next, items: Map(seq -> ev)}
      this.counters = { legs: 0, invites_rejected_cap: 0, calls_not_placed_cap: 0, invites_rejected_focus_user: 0,
        legs_to_focus_user: 0, held: 0 };
      this.stats = [];
    }

    key(u, d) { return u + "|" + d; }

    // Remote devices in the current call: "user|device" -> {user_id, device_id, session_id, usesFocus}.
    participants() {
      const out = new Map();
      const now = Date.now();
      const room = this.fc.room;
      for (const ev of room.currentState.getStateEvents(MEMBER)) {
        const userId = ev.getStateKey();
        if (room.getMember(userId)?.membership !== "join") continue;
        const calls = (ev.getContent() || {})["m.calls"];
        if (!Array.isArray(calls)) continue;
        for (const c of calls) {
          if (!c || c["m.call_id"] !== this.fc.confId || !Array.isArray(c["m.devices"])) continue;
          for (const d of c["m.devices"]) {
            if (!d || !isStr(d.device_id) || !isStr(d.session_id) || typeof d.expires_ts !== "number" ||
              d.expires_ts <= now || !Array.isArray(d.feeds)) continue;
            if (userId === this.fc.userId && d.device_id === this.fc.deviceId) continue;
            const foci = Array.isArray(d[FOCI_ACTIVE]) ? d[FOCI_ACTIVE] : [];
            const usesFocus = foci.some((f) => f && isStr(f.user_id) && isStr(f.device_id));
            out.set(this.key(userId, d.device_id), { user_id: userId, device_id: d.device_id, session_id: d.session_id, usesFocus });
          }
        }
      }
      return out;
    }

    // js-sdk wantsOutgoingCall: the lower user id (then device id) calls.
    wantsOutgoing(u, d) {
      return u >= this.fc.userId && (u !== this.fc.userId || d > this.fc.deviceId);
    }

    start() {
      this.retryTimer = setInterval(() => this.reconcile(true), RETRY_DELAY);
      this.statsTimer = setInterval(() => this.pollStats(), 1000);
      this.reconcile(false);
    }

    // Member state changed (or the retry tick): drop legs of devices that left, changed session or use a focus
    // now; call the mesh-only devices that are ours to call; answer held invites whose member event came.
    reconcile(retry) {
      if (this.fc.ended) return;
      const parts = this.participants();
      for (const [k, leg] of this.legs) {
        const p = parts.get(k);
        if (!p) this.hangup(leg, "user_hangup");
        else if (p.usesFocus) { this.counters.legs_to_focus_user++; this.hangup(leg, "replaced"); }
        else if (p.session_id !== leg.session) this.hangup(leg, "new_session");
      }
      const now = Date.now();
      for (const h of this.held.splice(0)) {
        const p = parts.get(this.key(h.sender, h.content.device_id));
        if (p && p.session_id === h.content.sender_session_id) this.onInvite(h.sender, h.content);
        else if (h.until > now) this.held.push(h);
        else this.reject(h.sender, h.content, "not_member");
      }
      for (const [k, p] of parts) {
        if (p.usesFocus || this.legs.has(k) || !this.wantsOutgoing(p.user_id, p.device_id)) continue;
        let att = this.attempts.get(k);
        if (!att || att.session !== p.session_id) { att = { session: p.session_id, count: 0, overCapCounted: false }; this.attempts.set(k, att); }
        if (retry ? att.count > MAX_RETRIES : att.count > 0) continue;
        if (this.legs.size >= this.maxPeers) {
          if (!att.overCapCounted) {
            att.overCapCounted = true;
            this.counters.calls_not_placed_cap++;
            console.warn(`not calling ${k} (uses no focus): mesh peer limit of ${this.maxPeers} reached`);
          }
          continue;
        }
        att.count++;
        this.placeCall(p).catch((e) => console.warn("mesh call", k, e));
      }
    }

    newLeg(p, callId, outgoing) {
      const turn = this.fc.client.getTurnServers ? this.fc.client.getTurnServers() : [];
      const pc = new RTCPeerConnection({ iceServers: turn && turn.length ? turn : [],
        iceTransportPolicy: this.fc.relayOnly ? "relay" : "all" });
      const leg = { user: p.user_id, device: p.device_id, session: p.session_id, callId, outgoing, pc, seq: 0,
        state: "connecting", remoteSet: false, pending: [], batch: [], batchTimer: null, metadata: {}, answered: false,
        tile: null, sendQueue: Promise.resolve(), sigQueue: Promise.resolve() };
      for (const t of this.fc.stream.getTracks()) pc.addTrack(t, this.fc.stream);
      pc.onicecandidate = (e) => {
        if (this.legs.get(this.key(leg.user, leg.device)) !== leg) return;
        leg.batch.push(e.candidate && e.candidate.candidate
          ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
          : { candidate: "" });
        this.scheduleCandidates(leg);
      };
      pc.onconnectionstatechange = () => {
        leg.state = pc.connectionState;
        if (pc.connectionState === "connected") {
          const att = this.attempts.get(this.key(leg.user, leg.device));
          if (att && att.session === leg.session) att.count = 1;
        } else if (pc.connectionState === "failed") {
          this.hangup(leg, "ice_failed");
        }
      };
      pc.ontrack = () => this.renderTile(leg);
      this.legs.set(this.key(leg.user, leg.device), leg);
      this.counters.legs++;
      return leg;
    }

    localMetadata() {
      const s = this.fc.stream;
      return { [s.id]: { purpose: "m.usermedia", audio_muted: this.fc.audioMuted, video_muted: this.fc.videoMuted } };
    }

    // To-device to the leg's device, in order (seq from 0 on each call id, every type counted).
    send(leg, type, extra) {
      const content = Object.assign({ version: "1", call_id: leg.callId, party_id: this.fc.deviceId,
        conf_id: this.fc.confId, device_id: this.fc.deviceId, sender_session_id: this.fc.sessionId,
        dest_session_id: leg.session, seq: leg.seq++, "org.matrix.msgid": this.fc.client.makeTxnId() }, extra);
      this.fc.log("out-mesh", type, content);
      return this.sendRaw(leg, leg.user, leg.device, type, content);
    }

    sendRaw(leg, user, device, type, content) {
      const job = async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            await this.fc.client.sendToDevice(type, new Map([[user, new Map([[device, content]])]]), this.fc.client.makeTxnId());
            return;
          } catch (e) {
            if (attempt >= 4) { console.warn("to-device " + type + " failed", e); return; }
            await sleep(500 * Math.pow(2, attempt));
          }
        }
      };
      const q = leg ? leg.sendQueue : Promise.resolve();
      const p = q.then(job);
      if (leg) leg.sendQueue = p.catch(() => {});
      return p;
    }

    // A message on a call id we have no leg for (reject / hangup of an invite): its own seq 0.
    reject(sender, c, reason, type = "m.call.reject") {
      const content = { version: "1", call_id: c.call_id, party_id: this.fc.deviceId, conf_id: this.fc.confId,
        device_id: this.fc.deviceId, sender_session_id: this.fc.sessionId, dest_session_id: c.sender_session_id, seq: 0 };
      content.reason = reason;
      this.remember(c.call_id);
      this.fc.log("out-mesh", type, content);
      return this.sendRaw(null, sender, c.device_id, type, content);
    }

    remember(callId) {
      this.ended.add(callId);
      if (this.ended.size > 256) this.ended.delete(this.ended.values().next().value);
    }

    scheduleCandidates(leg) {
      if (leg.batchTimer || !leg.batch.length || !leg.inviteSent) return;
      leg.batchTimer = setTimeout(() => {
        leg.batchTimer = null;
        if (!leg.batch.length || leg.closed) return;
        const candidates = leg.batch;
        leg.batch = [];
        this.send(leg, "m.call.candidates", { candidates });
      }, leg.outgoing ? 2000 : 500);
    }

    async placeCall(p) {
      const leg = this.newLeg(p, Date.now() + Math.random().toString(36).slice(2, 18), true);
      const offer = await leg.pc.createOffer();
      await leg.pc.setLocalDescription(offer);
      for (let i = 0; i < 20 && leg.pc.iceGatheringState !== "complete"; i++) await sleep(10);
      if (leg.closed) return;
      await this.send(leg, "m.call.invite", { lifetime: LIFETIME, invitee: leg.user,
        offer: { type: "offer", sdp: leg.pc.localDescription.sdp }, capabilities: CAPS, [MD_KEY]: this.localMetadata() });
      leg.inviteSent = true;
      this.scheduleCandidates(leg);
      setTimeout(() => { if (!leg.closed && !leg.remoteSet) this.hangup(leg, "invite_timeout"); }, LIFETIME);
    }

    // Every to-device m.call.* of our conference from anyone but the focus, in seq order per call id.
    handleToDevice(ev) {
      const c = ev.getContent() || {};
      if (!isStr(c.call_id) || !isStr(c.device_id) || c.dest_session_id !== this.fc.sessionId) return;
      if (this.ended.has(c.call_id)) return;
      if (typeof c.seq !== "number") { this.dispatch(ev.getType(), ev.getSender(), c); return; }
      let b = this.buffers.get(c.call_id);
      if (!b) {
        if (this.buffers.size >= 64) this.buffers.delete(this.buffers.keys().next().value);
        b = { next: 0, items: new Map() };
        this.buffers.set(c.call_id, b);
      }
      if (c.seq < b.next || b.items.size >= MAX_BUFFERED) return;
      b.items.set(c.seq, { type: ev.getType(), sender: ev.getSender(), c });
      while (b.items.has(b.next)) {
        const m = b.items.get(b.next);
        b.items.delete(b.next);
        b.next++;
        this.dispatch(m.type, m.sender, m.c);
      }
    }

    dispatch(type, sender, c) {
      this.fc.log("in-mesh", type, c);
      if (type === "m.call.invite") { this.onInvite(sender, c); return; }
      const k = this.key(sender, c.device_id);
      const leg = this.legs.get(k);
      if (!leg || leg.callId !== c.call_id) {
        if (type === "m.call.hangup" || type === "m.call.reject") {
          this.held = this.held.filter((h) => h.content.call_id !== c.call_id);
          this.remember(c.call_id);
        }
        return;
      }
      switch (type) {
        case "m.call.answer":
          this.serial(leg, async () => {
            if (leg.remoteSet || !c.answer) return;
            await leg.pc.setRemoteDescription(c.answer);
            leg.remoteSet = true;
            if (c[MD_KEY]) leg.metadata = c[MD_KEY];
            for (const cand of leg.pending.splice(0)) await this.addCandidate(leg, cand);
            await this.send(leg, "m.call.select_answer", { selected_party_id: c.party_id });
            this.renderTile(leg);
          });
          break;
        case "m.call.candidates":
          this.serial(leg, async () => {
            for (const cand of Array.isArray(c.candidates) ? c.candidates : []) {
              if (leg.remoteSet) await this.addCandidate(leg, cand); else if (leg.pending.length < 256) leg.pending.push(cand);
            }
          });
          break;
        case "m.call.negotiate":
          this.serial(leg, async () => {
            const d = c.description;
            if (!d) return;
            if (c[MD_KEY]) leg.metadata = c[MD_KEY];
            if (d.type === "offer") {
              await leg.pc.setRemoteDescription(d);
              await leg.pc.setLocalDescription(await leg.pc.createAnswer());
              await this.send(leg, "m.call.negotiate", { lifetime: LIFETIME,
                description: { type: "answer", sdp: leg.pc.localDescription.sdp }, [MD_KEY]: this.localMetadata() });
            } else if (d.type === "answer" && leg.pc.signalingState === "have-local-offer") {
              await leg.pc.setRemoteDescription(d);
            }
            this.renderTile(leg);
          });
          break;
        case "m.call.sdp_stream_metadata_changed":
        case "org.matrix.call.sdp_stream_metadata_changed":
          if (c[MD_KEY]) { leg.metadata = c[MD_KEY]; this.renderTile(leg); }
          break;
        case "m.call.hangup":
        case "m.call.reject":
          this.close(leg);
          break;
      }
    }

    onInvite(sender, c) {
      if (c.invitee && c.invitee !== this.fc.userId) return;
      if (!c.offer || c.offer.type !== "offer" || !isStr(c.offer.sdp) || !isStr(c.sender_session_id)) return;
      const k = this.key(sender, c.device_id);
      const p = this.participants().get(k);
      if (!p || p.session_id !== c.sender_session_id) {
        // Its member event has not reached us yet: hold the invite (bounded), answer when it does.
        if (this.held.some((h) => h.content.call_id === c.call_id)) return;
        this.held = this.held.filter((h) => !(h.sender === sender && h.content.device_id === c.device_id));
        if (this.held.length >= MAX_HELD) return;
        this.counters.held++;
        this.held.push({ sender, content: c, until: Date.now() + HOLD_MS });
        return;
      }
      if (p.usesFocus) {  // we reach it through the focus
        this.counters.invites_rejected_focus_user++;
        this.reject(sender, c, "");
        return;
      }
      const existing = this.legs.get(k);
      if (existing) {
        if (existing.outgoing && !existing.remoteSet && existing.callId < c.call_id) {  // glare: lower call id wins
          this.reject(sender, c, "replaced", "m.call.hangup");
          return;
        }
        this.hangup(existing, "replaced");
      }
      if (this.legs.size >= this.maxPeers) {
        this.counters.invites_rejected_cap++;
        this.reject(sender, c, "mesh_peer_limit");
        return;
      }
      const leg = this.newLeg(p, c.call_id, false);
      if (c[MD_KEY]) leg.metadata = c[MD_KEY];
      this.serial(leg, async () => {
        await leg.pc.setRemoteDescription(c.offer);
        leg.remoteSet = true;
        await leg.pc.setLocalDescription(await leg.pc.createAnswer());
        for (let i = 0; i < 20 && leg.pc.iceGatheringState !== "complete"; i++) await sleep(10);
        if (leg.closed) return;
        await this.send(leg, "m.call.answer", { answer: { type: "answer", sdp: leg.pc.localDescription.sdp },
          capabilities: CAPS, [MD_KEY]: this.localMetadata() });
        leg.inviteSent = true;  // our candidates follow the answer
        this.scheduleCandidates(leg);
        this.renderTile(leg);
      });
    }

    serial(leg, fn) {
      const p = leg.sigQueue.then(() => (leg.closed ? null : fn()));
      leg.sigQueue = p.catch((e) => console.warn("mesh signalling", e));
      return p;
    }

    async addCandidate(leg, cand) {
      try {
        if (!cand || !cand.candidate) await leg.pc.addIceCandidate(null).catch(() => {});
        else await leg.pc.addIceCandidate(cand);
      } catch (e) { console.warn("mesh addIceCandidate", e); }
    }

    hangup(leg, reason) {
      if (leg.closed) return;
      this.send(leg, "m.call.hangup", { reason });
      this.close(leg);
    }

    close(leg) {
      if (leg.closed) return;
      leg.closed = true;
      this.remember(leg.callId);
      if (leg.batchTimer) clearTimeout(leg.batchTimer);
      try { leg.pc.close(); } catch {}
      const k = this.key(leg.user, leg.device);
      if (this.legs.get(k) === leg) this.legs.delete(k);
      if (leg.tile) { ChorusTiles.remove(leg.tile); leg.tile = null; }
    }

    // Mute changes: tell every mesh peer (js-sdk's org.matrix.call.sdp_stream_metadata_changed).
    metadataChanged() {
      for (const leg of this.legs.values()) {
        if (leg.inviteSent && !leg.closed) {
          this.send(leg, "org.matrix.call.sdp_stream_metadata_changed", { [MD_KEY]: this.localMetadata() });
        }
      }
    }

    renderTile(leg) {
      if (leg.closed) return;
      if (!leg.tile) {
        leg.tile = this.fc.makeTile("tile-mesh-" + leg.user + "-" + leg.device);
        leg.tile.dataset.user = leg.user;
        leg.tile.dataset.device = leg.device;
        leg.tile.dataset.via = "mesh";
      }
      const tracks = leg.pc.getReceivers().map((r) => r.track).filter((t) => t && t.readyState === "live");
      ChorusTiles.setTracks(leg.tile, tracks);
      const md = Object.values(leg.metadata || {}).find((m) => m && m.purpose === "m.usermedia") || {};
      const member = this.fc.room.getMember(leg.user);
      ChorusTiles.setInfo(leg.tile, { name: (member?.name || leg.user) + " (mesh)", audioMuted: !!md.audio_muted,
        videoMuted: !!md.video_muted });
    }

    async pollStats() {
      const out = [];
      for (const leg of [...this.legs.values()]) {
        let video = 0, audio = 0, audioPackets = 0, w = 0, h = 0;
        try {
          (await leg.pc.getStats()).forEach((s) => {
            if (s.type !== "inbound-rtp") return;
            if (s.kind === "video") { video = Math.max(video, s.framesDecoded || 0); w = s.frameWidth || w; h = s.frameHeight || h; }
            if (s.kind === "audio") { audio += s.totalSamplesReceived || 0; audioPackets += s.packetsReceived || 0; }
          });
        } catch { continue; }
        const md = Object.values(leg.metadata || {}).find((m) => m && m.purpose === "m.usermedia") || {};
        out.push({ user_id: leg.user, device_id: leg.device, via: "mesh", call_id: leg.callId, outgoing: leg.outgoing,
          state: leg.state, framesDecoded: video, frameWidth: w, frameHeight: h, audioSamplesReceived: audio,
          audioPacketsReceived: audioPackets, audio_muted: !!md.audio_muted, video_muted: !!md.video_muted });
      }
      this.stats = out;
    }

    snapshot() {
      return { maxPeers: this.maxPeers, peers: this.stats, counters: this.counters, held: this.held.length,
        legs: [...this.legs.values()].map((l) => ({ user_id: l.user, device_id: l.device, call_id: l.callId,
          outgoing: l.outgoing, state: l.state })) };
    }

    leave(keepAlive = false) {
      clearInterval(this.retryTimer);
      clearInterval(this.statsTimer);
      for (const leg of [...this.legs.values()]) {
        if (keepAlive) {
          const content = { version: "1", call_id: leg.callId, party_id: this.fc.deviceId, conf_id: this.fc.confId,
            device_id: this.fc.deviceId, sender_session_id: this.fc.sessionId, dest_session_id: leg.session,
            seq: leg.seq++, reason: "user_hangup" };
          const path = "/sendToDevice/m.call.hangup/" + encodeURIComponent(this.fc.client.makeTxnId());
          this.fc.client.http.authedRequest("PUT", path, undefined,
            { messages: { [leg.user]: { [leg.device]: content } } }, { keepAlive: true }).catch(() => {});
          this.close(leg);
        } else {
          this.hangup(leg, "user_hangup");
        }
      }
      this.held = [];
    }
  }

  window.ChorusMesh = { MeshLegs, DEFAULT_MAX_PEERS: 8 };
})();
