#!/usr/bin/env node
// Peer benchmark: ONNX Runtime (CPU, onnxruntime-node) on a GPT-2 prefill exported by
// export_gpt2_onnx.py (input_ids [1, n] -> last-position logits [1, vocab]): the time to
// first token, the same work as `latte bench --decode-tokens 0`'s dense prefill.
//
//   node tools/peer/gpt2_ort_bench.js [--model tools/peer/gpt2.onnx] [--seq 512,1024]
//        [--threads 2] [--repeats 10] [--warmup 3] [--json]
//
// Session: intraOpNumThreads = --threads, interOpNumThreads = 1, graphOptimizationLevel
// 'all', executionMode 'sequential' (ORT defaults otherwise), as ort_bench.js (BERT).
// Input: exactly n deterministic token ids (peer_common.js benchIds; batch 1), made once
// outside the timed region. Each timed run is one session.run(), measured with process.hrtime.bigint().
//
// GFLOP/s counts the matmuls of the prefill, per layer for n tokens, hidden d, FFN f:
//   2*n*d*3d (QKV) + 2*n*n*d*2 (scores + P*V, full n x n, the causal half not subtracted)
//   + 2*n*d*d (out proj) + 2*n*d*f*2 (FFN), times layers, plus 2*d*vocab (LM head, last row).
// The shape comes from <model>.ref.json (export_gpt2_onnx.py writes it; GPT-2 124M if absent).
'use strict';
const fs = require('fs');
const path = require('path');
const common = require('./peer_common.js');

const USAGE = `usage: gpt2_ort_bench.js [--model PATH] [--seq 512,1024] [--threads 2]
                        [--repeats 10] [--warmup 3] [--json]`;

function parseArgs(argv) {
  const [a] = common.parseFlags(argv, {
    '--model': ['model', 'string'], '--seq': ['seq', 'ints'], '--threads': ['threads', 'int'],
    '--repeats': ['repeats', 'int'], '--warmup': ['warmup', 'int'], '--json': ['json', 'flag'],
  }, { model: path.join(__dirname, 'gpt2.onnx'), seq: [512, 1024], threads: 2, repeats: 10, warmup: 3, json: false },
  USAGE);
  if (a.seq.length === 0 || a.seq.some((n) => n < 1)) throw new Error('--seq: need lengths >= 1');
  if (a.repeats < 1 || a.threads < 1) throw new Error('--repeats and --threads must be >= 1');
  a.cfg = common.shapeFromRef(a.model, { layers: 12, hidden: 768, ffn: 3072, vocab: 50257, max_pos: 1024 }).shape;
  return a;
}

function prefillFlops(n, { layers, hidden: d, ffn: f, vocab }) {
  const perLayer = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * n * d * f * 2;
  return perLayer * layers + 2 * d * vocab;
}

async function main() {
  const ort = require('onnxruntime-node');
  const a = parseArgs(process.argv.slice(2));
  const version = ort.env.versions.node;
  if (!fs.existsSync(a.model)) throw new Error(`model not found: ${a.model} (run export_gpt2_onnx.py)`);
  const session = await common.createSession(ort, a.model, a.threads);
  if (!a.json) {
    console.log(`onnxruntime-node ${version} | model ${a.model} | GPT-2 prefill, layers ${a.cfg.layers} d ${a.cfg.hidden} ` +
      `f ${a.cfg.ffn} vocab ${a.cfg.vocab} | batch 1 threads ${a.threads} warmup ${a.warmup} repeats ${a.repeats}`);
    console.log('GFLOP/s counts the matmuls (QKV, full n x n scores and PV, out proj, FFN, LM head of the last row)');
    console.log(common.TABLE_HEADER);
  }
  for (const seq of a.seq) {
    if (seq > a.cfg.max_pos) throw new Error(`seq ${seq} > n_positions ${a.cfg.max_pos}`);
    const ids = common.benchIds(seq, a.cfg.vocab);
    const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, seq]) };
    const stats = await common.timeRuns(session, feeds, a.warmup, a.repeats);
    const flops = prefillFlops(seq, a.cfg);
    if (a.json) {
      console.log(JSON.stringify({
        runtime: 'onnxruntime-node', version, model: 'gpt2', task: 'prefill', seq, batch: 1, threads: a.threads,
        repeats: a.repeats, ...common.statsJson(stats, flops),
      }));
    } else {
      console.log(common.tableRow(seq, stats, flops));
    }
  }
  await session.release();
}

module.exports = { prefillFlops };

if (require.main === module) main().catch((e) => { console.error(e.message || e); process.exit(2); });
