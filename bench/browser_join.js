// Shared by the browser benchmarks (focus_browsers.js, janus_browsers.js): a page with its console kept in a
// file, the join measurement, and the hold (an SFU process's CPU and RSS while the call goes on). A page being measured defines window.benchJoin = { start: <ms on its
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

const TICK = 100;  // sysconf(_SC_CLK_TCK) on Linux
// CPU time of a process so far, all threads (utime + stime of /proc/<pid>/stat), in s.
function procCpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICK;
}
// A "<key>: N kB" line of /proc/<pid>/status (VmRSS, RssAnon, ...), in KiB.
function procStatusKib(pid, key) {
  const m = new RegExp(key + ':\\s+(\\d+) kB').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// The hold: `holdS` seconds of the call, `pid`'s RSS (VmRSS) sampled every second. Wall time and CPU time in s,
// RSS max and mean in KiB.
async function holdAndMeasure(pid, holdS) {
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const cpu0 = procCpuSeconds(pid);
  const w0 = Date.now();
  let rssMax = 0, rssSum = 0, samples = 0;
  while (Date.now() - w0 < holdS * 1000) {
    await sleep(1000);
    const r = procStatusKib(pid, 'VmRSS');
    rssMax = Math.max(rssMax, r); rssSum += r; samples++;
  }
  return { wallS: (Date.now() - w0) / 1000, cpuS: procCpuSeconds(pid) - cpu0, rssMaxKib: rssMax,
    rssMeanKib: samples ? rssSum / samples : 0 };
}

module.exports = { openLoggedPage, measureJoin, procStatusKib, holdAndMeasure };
