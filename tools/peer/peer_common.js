// What the ONNX Runtime peer scripts share: flag parsing, the session options, the timing loop
// and its statistics, the table they print, the benchmarks' token ids, logit comparison, and
// latte's first logits on the same ids.
//
// Session options (every script): intraOpNumThreads = --threads, interOpNumThreads = 1,
// graphOptimizationLevel 'all', executionMode 'sequential' (ORT defaults otherwise). Each timed
// run is one session.run(), measured with process.hrtime.bigint(); input tensors are made once,
// outside the timed region.
'use strict';

// Parses argv against `spec`: {'--flag': [key, kind]} with kind one of
//   'string', 'int' (non-negative integer), 'number', 'ints' (comma-separated non-negative
//   integers), 'flag' (no value; sets true).
// Starts from a copy of `defaults`; '-h'/'--help' prints `usage` and exits 0; an unknown flag or
// a malformed value throws an Error naming the flag. Returns [values, keys given on the line].
function parseFlags(argv, spec, defaults, usage) {
  const values = { ...defaults };
  const given = new Set();
  const integer = (flag, text) => {
    const n = Number(text);
    if (text === '' || !Number.isInteger(n) || n < 0) {
      throw new Error(`${flag}: expected a non-negative integer, got ${text}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === '-h' || flag === '--help') {
      console.log(usage);
      process.exit(0);
    }
    if (!Object.prototype.hasOwnProperty.call(spec, flag)) throw new Error(`unknown option ${flag}\n${usage}`);
    const [key, kind] = spec[flag];
    given.add(key);
    if (kind === 'flag') {
      values[key] = true;
      continue;
    }
    if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
    const text = argv[++i];
    if (kind === 'string') values[key] = text;
    else if (kind === 'int') values[key] = integer(flag, text);
    else if (kind === 'ints') values[key] = text.split(',').filter((s) => s !== '').map((s) => integer(flag, s));
    else if (kind === 'number') {
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new Error(`${flag}: expected a number, got ${text}`);
      values[key] = n;
    } else {
      throw new Error(`parseFlags: unknown kind ${kind} for ${flag}`);
    }
  }
  return [values, given];
}

// The model shape recorded by an export script in <model>.ref.json ("config"), over `defaults`:
// only the keys of `defaults` are taken. Missing or unreadable file: the defaults.
function shapeFromRef(model, defaults) {
  const shape = { ...defaults };
  let ref = null;
  try {
    ref = JSON.parse(require('fs').readFileSync(model + '.ref.json', 'utf8'));
  } catch (_) {
    return { shape, recorded: {} };
  }
  const recorded = (ref && ref.config) || {};
  for (const key of Object.keys(shape)) if (recorded[key] !== undefined && recorded[key] !== null) shape[key] = recorded[key];
  return { shape, recorded };
}

function createSession(ort, model, threads) {
  return ort.InferenceSession.create(model, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
}

// Linear-interpolated percentile of a sorted array (p in [0, 100]).
function percentile(sorted, p) {
  if (sorted.length === 1) return sorted[0];
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

// `warmup` untimed runs, then `repeats` timed ones: {median, p10, p90, min} in ms.
async function timeRuns(session, feeds, warmup, repeats) {
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const ms = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    ms.push(Number(t1 - t0) / 1e6);
  }
  ms.sort((x, y) => x - y);
  return { median: percentile(ms, 50), p10: percentile(ms, 10), p90: percentile(ms, 90), min: ms[0] };
}

const round = (x, digits = 3) => Number(x.toFixed(digits));

const TABLE_HEADER = '   seq   median_ms    p10_ms    p90_ms    min_ms   GFLOP/run  GFLOP/s';

// One row of the table under TABLE_HEADER.
function tableRow(seq, stats, flops) {
  const gflops = flops / (stats.median * 1e-3) / 1e9;
  return `${String(seq).padStart(6)} ${stats.median.toFixed(2).padStart(11)} ${stats.p10.toFixed(2).padStart(9)} ` +
    `${stats.p90.toFixed(2).padStart(9)} ${stats.min.toFixed(2).padStart(9)} ${(flops / 1e9).toFixed(2).padStart(11)} ` +
    `${gflops.toFixed(1).padStart(8)}`;
}

// The JSON fields of a timed length every script prints.
function statsJson(stats, flops) {
  return {
    median_ms: round(stats.median), p10_ms: round(stats.p10), p90_ms: round(stats.p90), min_ms: round(stats.min),
    gflops: round(flops / (stats.median * 1e-3) / 1e9, 1),
  };
}

// n deterministic token ids in [0, vocab - 1) (a small LCG, its high bits scaled to the range;
// the id vocab-1 avoided: GPT-2's end-of-text).
function benchIds(n, vocab) {
  const ids = new Array(n);
  let s = 12345;
  for (let t = 0; t < n; t++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    ids[t] = Math.floor((s / 2147483648) * (vocab - 1));
  }
  return ids;
}

// Largest |x[i] - y[i]|; a NaN on either side counts as Infinity.
function maxAbsDiff(x, y) {
  if (x.length !== y.length) throw new Error(`length mismatch ${x.length} vs ${y.length}`);
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i] - y[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

function maxAbs(x) { let m = 0; for (const v of x) m = Math.max(m, Math.abs(v)); return m; }
function argmax(x) { let b = 0; for (let i = 1; i < x.length; i++) if (x[i] > x[b]) b = i; return b; }
// The first four values, for a printed line.
const head4 = (xs) => Array.from(xs.slice(0, 4), (x) => x.toFixed(6)).join(' ');

// `latte generate --model DIR --prompt-ids IDS --max-new-tokens 1 --json --logits`: its
// "first_logits" (a decoder's prefill logits of the last position; T5's first decoder step), its
// "kept" and whether every layer kept every prompt row (dense: no elimination flags are given).
function latteFirstLogits(latte, modelDir, ids, threads) {
  const { execFileSync } = require('child_process');
  const args = ['generate', '--model', modelDir, '--prompt-ids', ids.join(','), '--max-new-tokens', '1',
    '--json', '--logits', '--threads', String(threads)];
  let text;
  try {
    text = execFileSync(latte, args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (e) {
    throw new Error(`latte generate on ${ids.length} tokens failed (exit ${e.status}); see its message above`);
  }
  const lines = text.split('\n').filter((l) => l.trim().startsWith('{'));
  if (lines.length !== 1) throw new Error(`latte generate printed ${lines.length} JSON lines, expected 1`);
  const res = JSON.parse(lines[0]);
  if (!Array.isArray(res.first_logits)) throw new Error('latte generate: no "first_logits" in its JSON');
  const kept = res.kept;
  const dense = Array.isArray(kept) && kept.every((k) => k === ids.length);
  return { logits: res.first_logits, kept, dense, result: res };
}

module.exports = {
  parseFlags, shapeFromRef, createSession, percentile, timeRuns, round, TABLE_HEADER, tableRow, statsJson, benchIds,
  maxAbsDiff, maxAbs, argmax, head4, latteFirstLogits,
};
