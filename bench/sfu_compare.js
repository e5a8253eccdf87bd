// Benchmark (not a test): `chorus focus` against Janus's VideoRoom on the same small call, in the same sitting.
// Runs bench/focus_browsers.js and bench/janus_browsers.js one after the other, `rounds` times, alternating (so
// that a machine that gets slower or faster during the run weighs on both), and prints each run's figures and
// the ratios of the medians: the focus's CPU and RSS over Janus's. The aim (DEVELOPERS.md): the focus keeps its
// CPU lead, about a third of Janus's on the same call or less. Both SFUs take their media on 198.18.0.1 (t0).
//
// Usage (inside a private network namespace; needs Debian's `janus` package):
//   tests/netns/run.sh node bench/sfu_compare.js build/default/apps/chorus/chorus web [hold_s] [participants] [rounds]
'use strict';
const path = require('path');
const { execFile } = require('child_process');

const [chorus, webRoot] = process.argv.slice(2, 4);
const holdS = String(process.argv[4] || 20);
const participants = String(process.argv[5] || 3);
const rounds = Number(process.argv[6] || 2);
const run = (script, args, env) => new Promise((resolve) => {
  execFile(process.execPath, [path.join(__dirname, script), ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 },
    (err, stdout, stderr) => {
      const i = stdout.indexOf('{');
      try { resolve(JSON.parse(stdout.slice(i, stdout.lastIndexOf('}') + 1))); }
      catch { resolve({ error: (err ? String(err) : 'no output') + '\n' + stderr.slice(-2000) }); }
    });
});
const median = (xs) => {
  const s = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (!s.length) return null;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

(async () => {
  const focus = [], janus = [];
  for (let r = 0; r < rounds; r++) {
    const f = await run('focus_browsers.js', [chorus, webRoot, holdS, participants], { CHORUS_BENCH_BIND: '198.18.0.1' });
    focus.push({ cpu_percent_of_one_core: f.focus_cpu_percent_of_one_core, rss_max_mib: f.focus_rss_max_mib,
      joins_worst: f.joins_worst, forwarded_pps: f.forwarded_pps, cpu_us_per_forwarded_packet: f.cpu_us_per_forwarded_packet,
      layers: f.layers_received && f.layers_received[Object.keys(f.layers_received)[0]], error: f.error });
    const j = await run('janus_browsers.js', [holdS, participants], {});
    janus.push({ cpu_percent_of_one_core: j.sfu_cpu_percent_of_one_core, rss_max_mib: j.sfu_rss_max_mib,
      joins_worst: j.joins_worst, forwarded_pps: j.forwarded_pps, cpu_us_per_forwarded_packet: j.cpu_us_per_forwarded_packet,
      layers: j.layers_received && j.layers_received[Object.keys(j.layers_received)[0]], error: j.error, logs: j.logs });
  }
  const cpuF = median(focus.map((x) => x.cpu_percent_of_one_core));
  const cpuJ = median(janus.map((x) => x.cpu_percent_of_one_core));
  const rssF = median(focus.map((x) => x.rss_max_mib));
  const rssJ = median(janus.map((x) => x.rss_max_mib));
  const usF = median(focus.map((x) => x.cpu_us_per_forwarded_packet));
  const usJ = median(janus.map((x) => x.cpu_us_per_forwarded_packet));
  const ratio = (a, b) => (a !== null && b ? Number((a / b).toFixed(3)) : null);
  console.log(JSON.stringify({
    participants: Number(participants), hold_s: Number(holdS), rounds,
    focus, janus,
    median_cpu_percent_of_one_core: { focus: cpuF, janus: cpuJ },
    median_rss_max_mib: { focus: rssF, janus: rssJ },
    focus_over_janus_cpu: ratio(cpuF, cpuJ),
    focus_over_janus_rss: ratio(rssF, rssJ),
    // Per packet forwarded (the focus's counter; for Janus, what its subscribers received).
    median_cpu_us_per_forwarded_packet: { focus: usF, janus: usJ },
    focus_over_janus_cpu_per_packet: ratio(usF, usJ),
    aim: 'focus_over_janus_cpu at most about 1/3 (the lead DEVELOPERS.md asks to keep)',
  }, null, 1));
})().catch((e) => { console.error(e); process.exit(1); });
