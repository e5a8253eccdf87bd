// Participant tiles, shared by the mesh (app.js) and focus (focus.js) modes: the video, a bar with the
// participant's name, a level meter and microphone/camera-off marks, an initial in place of a turned-off camera,
// and a "speaking" highlight from the audio level measured on the tile's audio track.
//
// Audio level: one AudioContext; per tile a MediaStreamAudioSourceNode -> AnalyserNode (fftSize 2048, 43 ms at
// 48 kHz), read every 50 ms (so even a 20 ms beep is seen); level = RMS of the window. Speaking: RMS above
// SPEAKING_RMS (-40 dBFS), held for HOLD_MS after the last such window. The tile carries what was measured:
//   data-speaking="true|false", data-level (RMS, 0..1, the last window), data-peak (highest RMS seen),
//   data-audio-muted / data-video-muted / data-video-paused ("true|false"), class "speaking".
// Remote tracks feed Web Audio in Chromium only while they also play in a media element: the tile's <video> does.
"use strict";
(function () {
  const SPEAKING_RMS = 0.01;
  const HOLD_MS = 1000;
  const POLL_MS = 50;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICONS = {
    mic: "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.92V21h2v-3.08A7 7 0 0 0 19 11h-2z",
    cam: "M17 10.5V7a1 1 0 0 0-1-1H4a1 1 0 0 0-1 1v10a1 1 0 0 0 1 1h12a1 1 0 0 0 1-1v-3.5l4 4v-11l-4 4z",
  };

  let ctx = null;
  const metered = new Set();  // tiles with a meter
  let pollTimer = null;

  function audioContext() {
    if (ctx) return ctx;
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
    // Browsers may start it suspended until the page gets a click; the join click usually counts already.
    const resume = () => { if (ctx.state === "suspended") ctx.resume().catch(() => {}); };
    document.addEventListener("click", resume);
    document.addEventListener("keydown", resume);
    resume();
    return ctx;
  }

  function icon(kind, title) {
    const span = document.createElement("span");
    span.className = "mark " + kind;
    span.title = title;
    span.setAttribute("role", "img");
    span.setAttribute("aria-label", title);
    const svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    const p = document.createElementNS(SVG_NS, "path");
    p.setAttribute("d", ICONS[kind]);
    svg.appendChild(p);
    for (const cls of ["cut", "slash"]) {  // a dark gap, then the red stroke: the slash reads on the icon
      const line = document.createElementNS(SVG_NS, "line");
      for (const [k, v] of Object.entries({ x1: 3, y1: 3, x2: 21, y2: 21 })) line.setAttribute(k, v);
      line.setAttribute("class", cls);
      svg.appendChild(line);
    }
    span.appendChild(svg);
    return span;
  }

  // A tile element (not yet in the document): <div class="tile" id=...> video, initial, bar.
  function make(id, { local = false } = {}) {
    const tile = document.createElement("div");
    tile.className = "tile" + (local ? " local" : "");
    tile.id = id;
    tile.dataset.speaking = "false";
    tile.dataset.level = "0";
    tile.dataset.peak = "0";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = local;  // never play our own microphone back
    const initial = document.createElement("div");
    initial.className = "initial";
    const bar = document.createElement("div");
    bar.className = "bar";
    const meter = document.createElement("span");
    meter.className = "meter";
    meter.title = "audio level";
    const fill = document.createElement("span");
    fill.className = "fill";
    meter.appendChild(fill);
    const who = document.createElement("span");
    who.className = "name";
    bar.append(meter, who, icon("mic", "microphone off"), icon("cam", "camera off"));
    const paused = document.createElement("div");
    paused.className = "paused";
    paused.textContent = "video paused: your connection is too slow";
    tile.append(video, initial, paused, bar);
    return tile;
  }

  // name: shown as is; the initial (shown when the camera is off) is its first letter or digit.
  // videoPaused: the focus does not send this video now (the viewer's downlink cannot carry it).
  function setInfo(tile, { name, audioMuted = false, videoMuted = false, videoPaused = false }) {
    const who = tile.querySelector(".name");
    if (who.textContent !== name) who.textContent = name;
    tile.title = name;
    const m = /[\p{L}\p{N}]/u.exec(String(name).replace(/^@/, ""));
    tile.querySelector(".initial").textContent = m ? m[0].toUpperCase() : "?";
    tile.dataset.audioMuted = String(!!audioMuted);
    tile.dataset.videoMuted = String(!!videoMuted);
    tile.classList.toggle("audio-muted", !!audioMuted);
    tile.classList.toggle("video-muted", !!videoMuted);
    tile.dataset.videoPaused = String(!!videoPaused);
    tile.classList.toggle("video-paused", !!videoPaused);
  }

  // Meters the first audio track of `stream` (null: none) on this tile.
  function setAudio(tile, stream) {
    const track = stream ? stream.getAudioTracks()[0] || null : null;
    const m = tile._chorusMeter;
    if (m && m.track === track) return;
    if (m) detach(tile);
    if (!track) { show(tile, 0, false); return; }
    const ac = audioContext();
    if (!ac) return;
    let source, analyser;
    try {
      source = ac.createMediaStreamSource(new MediaStream([track]));
      analyser = ac.createAnalyser();
      analyser.fftSize = 2048;
      source.connect(analyser);  // not to the destination: the tile's <audio> (or <video>) plays the sound
    } catch (e) {
      console.warn("audio level meter", e);
      return;
    }
    tile._chorusMeter = { track, source, analyser, buf: new Float32Array(analyser.fftSize), lastLoud: 0, shown: 0 };
    metered.add(tile);
    if (!pollTimer) pollTimer = setInterval(poll, POLL_MS);
  }

  function detach(tile) {
    const m = tile._chorusMeter;
    if (!m) return;
    try { m.source.disconnect(); } catch {}
    tile._chorusMeter = null;
    metered.delete(tile);
    if (!metered.size && pollTimer) { clearInterval(pollTimer); pollTimer = null; }
  }

  function show(tile, rms, speaking) {
    tile.dataset.level = rms.toFixed(4);
    if (rms > Number(tile.dataset.peak)) tile.dataset.peak = rms.toFixed(4);
    if (tile.dataset.speaking !== String(speaking)) {
      tile.dataset.speaking = String(speaking);
      tile.classList.toggle("speaking", speaking);
    }
    // Meter: -60..0 dBFS over the width, falling back slowly (about 20 dB/s) like a VU meter.
    const m = tile._chorusMeter;
    const db = rms > 0 ? 20 * Math.log10(rms) : -100;
    const target = Math.max(0, Math.min(1, (db + 60) / 60));
    const shown = m ? Math.max(target, m.shown - POLL_MS / 3000) : target;
    if (m) m.shown = shown;
    tile.querySelector(".meter .fill").style.width = (shown * 100).toFixed(1) + "%";
  }

  function poll() {
    const now = performance.now();
    for (const tile of metered) {
      if (!tile.isConnected) { detach(tile); continue; }
      const m = tile._chorusMeter;
      let rms = 0;
      if (m.track.readyState === "live") {
        m.analyser.getFloatTimeDomainData(m.buf);
        let sum = 0;
        for (let i = 0; i < m.buf.length; i++) sum += m.buf[i] * m.buf[i];
        rms = Math.sqrt(sum / m.buf.length);
      }
      if (rms >= SPEAKING_RMS) m.lastLoud = now;
      show(tile, rms, m.lastLoud > 0 && now - m.lastLoud < HOLD_MS);
    }
  }

  // A remote participant's tracks: video in the tile's <video>, audio in an <audio> of its own (made when
  // first needed), each given a new MediaStream only when its own tracks change. So a tile whose sound moves
  // (an audio slot taken by another speaker) keeps showing its video without a gap. Meters the audio.
  function setTracks(tile, tracks) {
    const video = tile.querySelector("video");
    assign(video, tracks.filter((t) => t.kind === "video"));
    const sound = tracks.filter((t) => t.kind === "audio");
    let audio = tile.querySelector("audio");
    if (!audio && sound.length) {
      audio = document.createElement("audio");
      audio.autoplay = true;
      tile.append(audio);
    }
    if (audio) assign(audio, sound);
    setAudio(tile, audio ? audio.srcObject : null);
  }

  function assign(el, tracks) {
    const cur = el.srcObject ? el.srcObject.getTracks() : [];
    if (cur.length === tracks.length && tracks.every((t) => cur.includes(t))) return;
    el.srcObject = tracks.length ? new MediaStream(tracks) : null;
  }

  function remove(tile) {
    detach(tile);
    tile.remove();
  }

  // What a test (or a person in the console) can read off a tile.
  function state(tile) {
    return { name: tile.querySelector(".name").textContent, speaking: tile.dataset.speaking === "true",
      level: Number(tile.dataset.level), peak: Number(tile.dataset.peak),
      audioMuted: tile.dataset.audioMuted === "true", videoMuted: tile.dataset.videoMuted === "true",
      videoPaused: tile.dataset.videoPaused === "true" };
  }

  window.ChorusTiles = { make, setInfo, setAudio, setTracks, remove, state, SPEAKING_RMS, HOLD_MS,
    audioContextState: () => (ctx ? ctx.state : "none") };
})();
