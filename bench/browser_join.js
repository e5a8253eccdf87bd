// Shared by the browser benchmarks (focus_browsers.js, janus_browsers.js): a page with its console kept in a
// file, and the join measurement. A page being measured defines window.benchJoin = { start: <ms on its
// performance clock, or 0 while not yet known>, counts: async () => ({ <participant>: { frames, audio } }) }.
'use strict';
const fs = require('fs');
const path = require('path');

// A new page of `ctx` whose console goes to <logDir>/<user>.console.log (for a post-mortem).
async function openLoggedPage(ctx, logDir, user) {
  const page = await ctx.newPage();
  const pageLog = fs.createWriteStream(path.join(logDir, `${user}.console.log`));
  page.on('console', (m) => pageLog.write(`${Date.now()} ${m.type()} ${m.text()}\n`));
  page.on('pageerror', (e) => pageLog.write(`${Date.now()} pageerror ${e}\n`));
  return page;
}

// In the page: from window.benchJoin.start (waited for up to 30 s), the first frame from any of `present` and
// > 10 frames plus audio from every one of them (fresh counts every ~50 ms, for up to 30 s). Null when the start
// never came; all_over_10_frames_s null when that did not happen in time.
const measureJoin = (page, present) => page.evaluate(async (present) => {
  const sleepMs = (ms) => new Promise((r) => setTimeout(r, ms));
  const j = () => window.benchJoin;
  for (let i = 0; i < 1200 && !(j() && j().start); i++) await sleepMs(25);
  if (!(j() && j().start)) return null;
  const start = j().start;
  const s = (ms) => Number((ms / 1000).toFixed(3));
  let first = null;
  while (performance.now() - start < 30000) {
    const c = await j().counts();
    const now = performance.now();
    if (first === null && present.some((u) => c[u] && c[u].frames >= 1)) first = now - start;
    if (present.every((u) => c[u] && c[u].frames > 10 && c[u].audio > 0)) {
      return { first_remote_frame_s: s(first), all_over_10_frames_s: s(now - start) };
    }
    await sleepMs(50);
  }
  return { first_remote_frame_s: first === null ? null : s(first), all_over_10_frames_s: null };
}, present);

module.exports = { openLoggedPage, measureJoin };
