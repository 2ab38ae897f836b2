#!/usr/bin/env node
// Check the exported GPT-2 prefill against torch and against latte, on the same weights.
//
//   node tools/peer/check_gpt2_export.js --model tools/peer/gpt2.onnx
//        [--ref MODEL.onnx.ref.json] [--tol 1e-4]
//        [--latte build/latte] [--model-dir DIR] [--latte-tol 1e-3] [--no-latte]
//        [--seq 512,...] [--threads 2]
//
// export_gpt2_onnx.py writes <model>.ref.json: the checkpoint folder it read, a random input
// [1, T] and torch's last-position logits. This script
//   1. runs the ONNX model with onnxruntime-node (session options as gpt2_ort_bench.js) on
//      that input and compares with torch: max |ort - torch| <= --tol (1e-4);
//   2. runs `latte generate --model DIR --prompt-ids <same ids> --max-new-tokens 1 --json
//      --logits` and compares its "first_logits" (the prefill's last-position logits) with
//      ORT's: max |ort - latte| <= --latte-tol (1e-3); latte must keep every prompt row
//      (dense prefill, no elimination flags given);
//   3. for each --seq N, the same ORT vs latte comparison on the benchmark's own input of N
//      tokens (gpt2_ort_bench.js's deterministic ids), so the timed lengths are checked too.
// Exit status 1 on any mismatch, 2 on an error.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const {
  createSession, benchIds, maxAbsDiff, maxAbs, argmax, head4: fmt, latteFirstLogits,
} = require('./peer_common.js');

const USAGE = `usage: check_gpt2_export.js [--model PATH] [--ref PATH] [--tol 1e-4] [--latte BIN]
       [--model-dir DIR] [--latte-tol 1e-3] [--no-latte] [--seq 512,1024] [--threads 2]`;

function parseArgs(argv) {
  const root = path.resolve(__dirname, '..', '..');
  const a = {
    model: path.join(__dirname, 'gpt2.onnx'), tol: 1e-4, latteTol: 1e-3, threads: 2,
    latte: path.join(root, 'build', 'latte'), useLatte: true, seq: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i]; };
    if (k === '--model') a.model = v();
    else if (k === '--ref') a.ref = v();
    else if (k === '--tol') a.tol = Number(v());
    else if (k === '--latte') a.latte = v();
    else if (k === '--model-dir') a.modelDir = v();
    else if (k === '--latte-tol') a.latteTol = Number(v());
    else if (k === '--no-latte') a.useLatte = false;
    else if (k === '--seq') a.seq = v().split(',').filter((s) => s !== '').map(Number);
    else if (k === '--threads') a.threads = Number(v());
    else if (k === '-h' || k === '--help') { console.log(USAGE); process.exit(0); }
    else throw new Error(`unknown option ${k}\n${USAGE}`);
  }
  if (!a.ref) a.ref = a.model + '.ref.json';
  return a;
}

async function ortLogits(session, ids) {
  const t = new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]);
  const out = await session.run({ input_ids: t });
  return out.logits;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ref = JSON.parse(fs.readFileSync(a.ref, 'utf8'));
  const modelDir = a.modelDir || ref.model_dir;
  const session = await createSession(ort, a.model, a.threads);
  let ok = true;
  console.log(`model   ${a.model} (from ${modelDir})`);
  console.log(`input   [${ref.shape}] random ids, onnxruntime-node ${ort.env.versions.node}, torch ${ref.torch_version}`);

  // 1. ORT vs torch
  const got = await ortLogits(session, ref.input_ids);
  if (JSON.stringify(got.dims) !== JSON.stringify(ref.logits_shape)) {
    console.error(`FAIL: logits shape ${JSON.stringify(got.dims)} != ${JSON.stringify(ref.logits_shape)}`);
    process.exit(1);
  }
  const dTorch = maxAbsDiff(got.data, ref.logits);
  console.log(`torch   ${fmt(ref.logits)} ...  max |logit| ${maxAbs(ref.logits).toFixed(4)}, argmax ${argmax(ref.logits)}`);
  console.log(`ort     ${fmt(got.data)} ...  argmax ${argmax(got.data)}`);
  const okTorch = dTorch <= a.tol;
  ok = ok && okTorch;
  console.log(`${okTorch ? 'PASS' : 'FAIL'}: T=${ref.shape[1]} max |ort - torch| = ${dTorch.toExponential(3)} (tolerance ${a.tol})`);

  // 2./3. ORT vs latte
  if (a.useLatte) {
    if (!fs.existsSync(a.latte)) throw new Error(`latte binary not found: ${a.latte} (build it, or --no-latte)`);
    const inputs = [{ name: 'ref', ids: ref.input_ids, ortOut: got.data }];
    for (const n of a.seq) {
      // latte generate needs room for its one new token: a prompt of at most n_positions - 1
      const m = Math.min(n, ref.config.max_pos - 1);
      if (m !== n) console.log(`note: bench seq ${n} checked on its first ${m} tokens (latte generate takes at most n_positions - 1 = ${m} prompt tokens)`);
      inputs.push({ name: `bench seq ${n}`, ids: benchIds(n, ref.config.vocab).slice(0, m) });
    }
    for (const inp of inputs) {
      const o = inp.ortOut || (await ortLogits(session, inp.ids)).data;
      const l = latteFirstLogits(a.latte, modelDir, inp.ids, a.threads);
      const d = maxAbsDiff(o, l.logits);
      if (inp.name === 'ref') console.log(`latte   ${fmt(l.logits)} ...  argmax ${argmax(l.logits)}`);
      const pass = d <= a.latteTol && l.dense;
      ok = ok && pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}: ${inp.name} T=${inp.ids.length} max |ort - latte| = ${d.toExponential(3)} ` +
        `(tolerance ${a.latteTol}); argmax ort ${argmax(o)} latte ${argmax(l.logits)}; ` +
        `latte kept ${l.dense ? 'all rows (dense)' : JSON.stringify(l.kept)}`);
    }
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
