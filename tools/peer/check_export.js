#!/usr/bin/env node
// Check that the exported ONNX model matches the torch model it came from.
//
//   node tools/peer/check_export.js [--model tools/peer/bert-base.onnx] [--tol 1e-4]
//
// export_bert_onnx.py writes <model>.ref.json next to the model: a fixed input
// (batch 2, second row padded and with token_type 1 on its second half) and the
// torch logits for it. This runs the model with onnxruntime-node (same session
// options as ort_bench.js) and compares the logits elementwise. Exit status 1 on mismatch.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const { createSession, maxAbsDiff } = require('./peer_common.js');

function parseArgs(argv) {
  const a = { model: path.join(__dirname, 'bert-base.onnx'), tol: 1e-4, threads: 2 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--model') a.model = v();
    else if (k === '--ref') a.ref = v();
    else if (k === '--tol') a.tol = Number(v());
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '-h' || k === '--help') { console.log('usage: check_export.js [--model PATH] [--ref PATH] [--tol 1e-4] [--threads 2]'); process.exit(0); }
    else throw new Error(`unknown option ${k}`);
  }
  if (!a.ref) a.ref = a.model + '.ref.json';
  return a;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ref = JSON.parse(fs.readFileSync(a.ref, 'utf8'));
  const session = await createSession(ort, a.model, a.threads);
  const i64 = (xs) => new ort.Tensor('int64', BigInt64Array.from(xs, BigInt), ref.shape);
  const out = await session.run({
    input_ids: i64(ref.input_ids),
    attention_mask: i64(ref.attention_mask),
    token_type_ids: i64(ref.token_type_ids),
  });
  const got = out.logits;
  if (JSON.stringify(got.dims) !== JSON.stringify(ref.logits_shape)) {
    console.error(`FAIL: logits shape ${JSON.stringify(got.dims)} != ${JSON.stringify(ref.logits_shape)}`);
    process.exit(1);
  }
  const maxAbs = maxAbsDiff(got.data, ref.logits);
  const fmt = (xs) => Array.from(xs, (x) => x.toFixed(6)).join(' ');
  console.log(`model   ${a.model}`);
  console.log(`input   shape [${ref.shape}] (row 1 padded), onnxruntime-node ${ort.env.versions.node}, torch ${ref.torch_version}`);
  console.log(`torch   ${fmt(ref.logits)}`);
  console.log(`ort     ${fmt(got.data)}`);
  const ok = maxAbs <= a.tol;
  console.log(`${ok ? 'PASS' : 'FAIL'}: max |ort - torch| = ${maxAbs.toExponential(3)} (tolerance ${a.tol})`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e); process.exit(2); });
