#!/usr/bin/env node
// Peer benchmark: ONNX Runtime (CPU, onnxruntime-node) on a T5 encoder exported by
// export_t5_onnx.py (input_ids [1, n] (+ attention_mask) -> last_hidden_state [1, n, d_model] and,
// unless exported with --no-cross-kv, every decoder layer's cross-attention keys and values
// cross_kv.N [1, n, 2 * inner]): the work `latte bench` and `latte generate` report as
// encoder_ms, on the same weights.
//
//   node tools/peer/t5_ort_bench.js [--model tools/peer/t5-encoder.onnx] [--seq 128,512]
//        [--batch 1] [--threads 2] [--repeats 10] [--warmup 3] [--json]
//
// Session options and the timing loop are peer_common.js's (as the BERT and GPT-2 peers).
// Input: exactly n deterministic token ids per row (benchIds below: ids in [3, 32000) ending
// with </s> = 1, as a T5 tokenizer ends every input), attention_mask all ones when the graph
// has that input; made once, outside the timed region.
//
// GFLOP/s counts the encoder's matmuls, per layer for n tokens, d_model d, inner = heads * d_kv,
// d_ff f: 2*n*d*inner*3 (QKV) + 2*n*n*inner*2 (scores and P*V) + 2*n*inner*d (out proj)
// + 2*n*d*f*(3 gated | 2 not) (FFN), times layers, plus 2*n*d*inner*2 per decoder layer when
// the graph outputs cross_kv.N, times batch. The shape comes from <model>.ref.json
// (export_t5_onnx.py writes it; Flan-T5-base if absent).
'use strict';
const fs = require('fs');
const path = require('path');
const common = require('./peer_common.js');

const USAGE = `usage: t5_ort_bench.js [--model PATH] [--seq 128,512] [--batch 1] [--threads 2]
                      [--repeats 10] [--warmup 3] [--json]`;

const EOS = 1;

// n deterministic T5 source ids: n - 1 ids in [3, min(vocab, 32000)) (clear of pad 0, </s> 1,
// unk 2 and the sentinel rows at the top of T5's vocabulary), then </s>.
function benchIds(n, vocab) {
  const top = Math.min(vocab, 32000);
  const ids = common.benchIds(n - 1, top - 2).map((x) => x + 3);
  ids.push(EOS);
  return ids;
}

function encoderFlops(n, { layers, hidden: d, heads, d_kv: dkv, ffn: f, gated }, crossLayers = 0) {
  const inner = heads * dkv;
  const perLayer = 2 * n * d * inner * 3 + 2 * n * n * inner * 2 + 2 * n * inner * d + 2 * n * d * f * (gated ? 3 : 2);
  return perLayer * layers + 2 * n * d * inner * 2 * crossLayers;
}

function parseArgs(argv) {
  const [a] = common.parseFlags(argv, {
    '--model': ['model', 'string'], '--seq': ['seq', 'ints'], '--batch': ['batch', 'int'],
    '--threads': ['threads', 'int'], '--repeats': ['repeats', 'int'], '--warmup': ['warmup', 'int'],
    '--json': ['json', 'flag'],
  }, {
    model: path.join(__dirname, 't5-encoder.onnx'), seq: [128, 512], batch: 1, threads: 2, repeats: 10, warmup: 3,
    json: false,
  }, USAGE);
  if (a.seq.length === 0 || a.seq.some((n) => n < 1)) throw new Error('--seq: need lengths >= 1');
  if (a.repeats < 1 || a.threads < 1 || a.batch < 1) throw new Error('--repeats, --threads and --batch must be >= 1');
  a.cfg = common.shapeFromRef(a.model, {
    layers: 12, hidden: 768, heads: 12, d_kv: 64, ffn: 2048, vocab: 32128, gated: true,
  }).shape;
  return a;
}

async function main() {
  const ort = require('onnxruntime-node');
  const a = parseArgs(process.argv.slice(2));
  const version = ort.env.versions.node;
  if (!fs.existsSync(a.model)) throw new Error(`model not found: ${a.model} (run export_t5_onnx.py)`);
  const session = await common.createSession(ort, a.model, a.threads);
  const withMask = session.inputNames.includes('attention_mask');
  const crossLayers = session.outputNames.filter((name) => name.startsWith('cross_kv.')).length;
  if (!a.json) {
    console.log(`onnxruntime-node ${version} | model ${a.model} | T5 encoder, layers ${a.cfg.layers} d_model ` +
      `${a.cfg.hidden} heads ${a.cfg.heads} x d_kv ${a.cfg.d_kv} d_ff ${a.cfg.ffn}${a.cfg.gated ? ' gated' : ''} | ` +
      `batch ${a.batch} threads ${a.threads} warmup ${a.warmup} repeats ${a.repeats}` +
      `${withMask ? ' | attention_mask all ones' : ''}` +
      `${crossLayers ? ` | with ${crossLayers} decoder layers' cross-attention keys and values` : ' | encoder alone'}`);
    console.log('GFLOP/s counts the encoder matmuls (QKV, scores and PV, out proj, FFN' +
      `${crossLayers ? ', cross-attention K and V' : ''})`);
    console.log(common.TABLE_HEADER);
  }
  for (const seq of a.seq) {
    const row = benchIds(seq, a.cfg.vocab);
    const ids = BigInt64Array.from({ length: a.batch * seq }, (_, i) => BigInt(row[i % seq]));
    const feeds = { input_ids: new ort.Tensor('int64', ids, [a.batch, seq]) };
    if (withMask) feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(a.batch * seq).fill(1n), [a.batch, seq]);
    const stats = await common.timeRuns(session, feeds, a.warmup, a.repeats);
    const flops = encoderFlops(seq, a.cfg, crossLayers) * a.batch;
    if (a.json) {
      console.log(JSON.stringify({
        runtime: 'onnxruntime-node', version, model: 't5', task: crossLayers ? 'encoder+cross_kv' : 'encoder', seq, batch: a.batch, threads: a.threads,
        repeats: a.repeats, ...common.statsJson(stats, flops),
      }));
    } else {
      console.log(common.tableRow(seq, stats, flops));
    }
  }
  await session.release();
}

module.exports = { benchIds, encoderFlops };

if (require.main === module) main().catch((e) => { console.error(e.message || e); process.exit(2); });
