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
const common = require('./peer_common.js');

const USAGE = `usage: ort_bench.js [--model PATH] [--seq 128,512] [--batch 1] [--threads 2]
                   [--repeats 20] [--warmup 3] [--json]
                   [--layers 12] [--hidden 768] [--ffn 3072]   (for the FLOP count only)`;

function parseArgs(argv) {
  const [a, given] = common.parseFlags(argv, {
    '--model': ['model', 'string'], '--seq': ['seq', 'ints'], '--batch': ['batch', 'int'],
    '--threads': ['threads', 'int'], '--repeats': ['repeats', 'int'], '--warmup': ['warmup', 'int'],
    '--json': ['json', 'flag'], '--layers': ['layers', 'int'], '--hidden': ['hidden', 'int'], '--ffn': ['ffn', 'int'],
  }, { model: path.join(__dirname, 'bert-base.onnx'), seq: [128, 512], batch: 1, threads: 2, repeats: 20, warmup: 3,
    json: false }, USAGE);
  if (a.seq.length === 0 || a.seq.some((n) => n < 1)) throw new Error('--seq: need lengths >= 1');
  if (a.batch < 1 || a.repeats < 1) throw new Error('--batch and --repeats must be >= 1');
  // model shape for the FLOP count: defaults, then the export's ref.json, then flags
  const { shape, recorded } = common.shapeFromRef(a.model, { layers: 12, hidden: 768, ffn: 3072, max_pos: 512, vocab: 30522 });
  a.cfg = shape;
  for (const key of ['layers', 'hidden', 'ffn']) {
    if (!given.has(key)) continue;
    if (recorded[key] && recorded[key] !== a[key]) {
      console.error(`warning: --${key} ${a[key]} overrides ${key} ${recorded[key]} recorded in ${a.model}.ref.json`);
    }
    a.cfg[key] = a[key];
  }
  return a;
}

// Matmul FLOPs of one encoder forward over `batch` sequences of n tokens.
function encoderFlops(n, batch, { layers, hidden: d, ffn: f }) {
  const perLayer = 2 * n * d * 3 * d + 2 * n * n * d * 2 + 2 * n * d * d + 2 * n * d * f * 2;
  return perLayer * layers * batch;
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

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const version = ort.env.versions.node;
  if (!fs.existsSync(a.model)) throw new Error(`model not found: ${a.model} (run export_bert_onnx.py)`);
  const session = await common.createSession(ort, a.model, a.threads);
  if (!a.json) {
    console.log(`onnxruntime-node ${version} | model ${a.model} | layers ${a.cfg.layers} d ${a.cfg.hidden} ` +
      `f ${a.cfg.ffn} | batch ${a.batch} threads ${a.threads} warmup ${a.warmup} repeats ${a.repeats}`);
    console.log('GFLOP/s counts encoder matmuls only (QKV, scores, PV, out proj, FFN); ' +
      'embeddings/pooler/classifier excluded');
    console.log(common.TABLE_HEADER);
  }
  for (const seq of a.seq) {
    if (seq > a.cfg.max_pos) throw new Error(`seq ${seq} > max positions ${a.cfg.max_pos}`);
    const stats = await common.timeRuns(session, makeInputs(seq, a.batch, a.cfg.vocab), a.warmup, a.repeats);
    const flops = encoderFlops(seq, a.batch, a.cfg);
    if (a.json) {
      console.log(JSON.stringify({
        runtime: 'onnxruntime-node', version, seq, batch: a.batch, threads: a.threads, ...common.statsJson(stats, flops),
      }));
    } else {
      console.log(common.tableRow(seq, stats, flops));
    }
  }
  await session.release();
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
