#!/usr/bin/env node
// Peer benchmark: ONNX Runtime (CPU, onnxruntime-node) on a BERT-shaped ONNX model.
//
//   node tools/peer/ort_bench.js [--model tools/peer/bert-base.onnx] [--seq 128,512]
//        [--batch 1] [--threads 2] [--repeats 20] [--warmup 3] [--json]
//
// Session: intraOpNumThreads = --threads, interOpNumThreads = 1,
// graphOptimizationLevel 'all', executionMode 'sequential' (ORT defaults otherwise).
// Inputs: exactly seq tokens per row, attention_mask all ones, token_type_ids all zero,
// deterministic ids ([CLS] ... [SEP]). Each timed run is one session.run(), measured with
// process.hrtime.bigint(); tensors are created once, outside the timed region.
//
// GFLOP/s counts only the encoder matmuls, per layer and per sequence of n tokens:
//   2*n*d*3d (QKV) + 2*n*n*d*2 (scores + P*V) + 2*n*d*d (out proj) + 2*n*d*f*2 (FFN)
// summed over layers and multiplied by batch. Embeddings, softmax, LayerNorm, GELU,
// pooler and classifier are NOT counted. d / f / layers default to BERT-base
// (768 / 3072 / 12), are taken from <model>.ref.json when export_bert_onnx.py wrote one,
// and can be overridden with --hidden / --ffn / --layers.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const USAGE = `usage: ort_bench.js [--model PATH] [--seq 128,512] [--batch 1] [--threads 2]
                   [--repeats 20] [--warmup 3] [--json]
                   [--layers 12] [--hidden 768] [--ffn 3072]   (for the FLOP count only)`;

function parseArgs(argv) {
  const a = {
    model: path.join(__dirname, 'bert-base.onnx'),
    seq: [128, 512], batch: 1, threads: 2, repeats: 20, warmup: 3, json: false,
  };
  const over = {};
  const posInt = (k, s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${k}: expected a non-negative integer, got ${s}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    switch (k) {
      case '--model': a.model = v(); break;
      case '--seq': a.seq = v().split(',').filter((s) => s !== '').map((s) => posInt(k, s)); break;
      case '--batch': a.batch = posInt(k, v()); break;
      case '--threads': a.threads = posInt(k, v()); break;
      case '--repeats': a.repeats = posInt(k, v()); break;
      case '--warmup': a.warmup = posInt(k, v()); break;
      case '--json': a.json = true; break;
      case '--layers': over.layers = posInt(k, v()); break;
      case '--hidden': over.hidden = posInt(k, v()); break;
      case '--ffn': over.ffn = posInt(k, v()); break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown option ${k}\n${USAGE}`);
    }
  }
  if (a.seq.length === 0 || a.seq.some((n) => n < 1)) throw new Error('--seq: need lengths >= 1');
  if (a.batch < 1 || a.repeats < 1) throw new Error('--batch and --repeats must be >= 1');
  // model shape for the FLOP count: defaults, then the export's ref.json, then flags
  a.cfg = { layers: 12, hidden: 768, ffn: 3072, max_pos: 512, vocab: 30522 };
  let ref = null;
  try { ref = JSON.parse(fs.readFileSync(a.model + '.ref.json', 'utf8')); } catch (_) { /* BERT-base defaults */ }
  if (ref && ref.config) for (const key of Object.keys(a.cfg)) if (ref.config[key]) a.cfg[key] = ref.config[key];
  for (const [key, val] of Object.entries(over)) {
    if (ref && ref.config && ref.config[key] && ref.config[key] !== val) {
      console.error(`warning: --${key} ${val} overrides ${key} ${ref.config[key]} recorded in ${a.model}.ref.json`);
    }
    a.cfg[key] = val;
  }
  return a;
}

// Matmul FLOPs of one encoder forward over `batch` sequences of n tokens.
function encoderFlops(n, batch, { layers, hidden: d, ffn: f }) {
  const perLayer = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * n * d * f * 2;
  return perLayer * layers * batch;
}

// Linear-interpolated percentile of a sorted array (p in [0, 100]).
function percentile(sorted, p) {
  if (sorted.length === 1) return sorted[0];
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x), hi = Math.ceil(x);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo);
}

function makeInputs(seq, batch, vocab) {
  const n = seq * batch;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n), types = new BigInt64Array(n);
  let s = 12345;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      s = (s * 1103515245 + 12345) % 2147483648;            // small LCG, deterministic
      let id = 1000 + (s % (vocab - 1000));                   // avoid [PAD]/[unused]/special ids
      if (t === 0) id = 101;                                  // [CLS]
      else if (t === seq - 1) id = 102;                       // [SEP]
      ids[b * seq + t] = BigInt(id);
      mask[b * seq + t] = 1n;
      types[b * seq + t] = 0n;
    }
  }
  const dims = [batch, seq];
  return {
    input_ids: new ort.Tensor('int64', ids, dims),
    attention_mask: new ort.Tensor('int64', mask, dims),
    token_type_ids: new ort.Tensor('int64', types, dims),
  };
}

const round = (x, k = 3) => Number(x.toFixed(k));

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const version = ort.env.versions.node;
  if (!fs.existsSync(a.model)) throw new Error(`model not found: ${a.model} (run export_bert_onnx.py)`);
  const session = await ort.InferenceSession.create(a.model, {
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  if (!a.json) {
    console.log(`onnxruntime-node ${version} | model ${a.model} | layers ${a.cfg.layers} d ${a.cfg.hidden} ` +
      `f ${a.cfg.ffn} | batch ${a.batch} threads ${a.threads} warmup ${a.warmup} repeats ${a.repeats}`);
    console.log('GFLOP/s counts encoder matmuls only (QKV, scores, PV, out proj, FFN); ' +
      'embeddings/pooler/classifier excluded');
    console.log('   seq   median_ms    p10_ms    p90_ms    min_ms   GFLOP/run  GFLOP/s');
  }
  for (const seq of a.seq) {
    if (seq > a.cfg.max_pos) throw new Error(`seq ${seq} > max positions ${a.cfg.max_pos}`);
    const feeds = makeInputs(seq, a.batch, a.cfg.vocab);
    for (let i = 0; i < a.warmup; i++) await session.run(feeds);
    const ms = [];
    for (let i = 0; i < a.repeats; i++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      const t1 = process.hrtime.bigint();
      ms.push(Number(t1 - t0) / 1e6);
    }
    ms.sort((x, y) => x - y);
    const med = percentile(ms, 50), p10 = percentile(ms, 10), p90 = percentile(ms, 90);
    const flops = encoderFlops(seq, a.batch, a.cfg);
    const gflops = flops / (med * 1e-3) / 1e9;
    if (a.json) {
      console.log(JSON.stringify({
        runtime: 'onnxruntime-node', version, seq, batch: a.batch, threads: a.threads,
        median_ms: round(med), p10_ms: round(p10), p90_ms: round(p90), gflops: round(gflops, 1),
      }));
    } else {
      console.log(`${String(seq).padStart(6)} ${med.toFixed(2).padStart(11)} ${p10.toFixed(2).padStart(9)} ` +
        `${p90.toFixed(2).padStart(9)} ${ms[0].toFixed(2).padStart(9)} ${(flops / 1e9).toFixed(2).padStart(11)} ` +
        `${gflops.toFixed(1).padStart(8)}`);
    }
  }
  await session.release();
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
