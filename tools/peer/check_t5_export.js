#!/usr/bin/env node
// Check the exported T5 encoder against torch and against latte, on the same weights.
//
//   node tools/peer/check_t5_export.js [--model tools/peer/t5-encoder.onnx] [--ref PATH]
//        [--tol 1e-4] [--latte build/latte] [--model-dir DIR] [--latte-tol 1e-4] [--no-latte]
//        [--seq 128,512] [--threads 2]
//
// export_t5_onnx.py writes <model>.ref.json (the folder it read, an input [2, T] with row 1
// padded and masked, torch's last_hidden_state and torch's first-step logits of row 0) and the
// first decoder step as <model stem>.first-step.onnx. This script
//   1. runs the encoder graph with onnxruntime-node on that input: max |ort - torch| over
//      last_hidden_state <= --tol;
//   2. runs the first-step graph on ORT's own encoder output of row 0: max |ort - torch| over
//      the logits <= --tol (relative to the largest |logit|: random T5 weights give logits of
//      tens); prints the float64 t5_reference.py logits' distance too;
//   3. latte has no command that prints the encoder's output, but `latte generate --logits`
//      prints the first decoder step's logits, which are a function of it: for row 0 and for the
//      benchmark's own input at each --seq N (t5_ort_bench.js's ids), ORT's encoder -> ORT's
//      first step is compared with `latte generate --model DIR --prompt-ids <ids>
//      --max-new-tokens 1 --json --logits`'s first_logits: max |ort - latte| <= --latte-tol,
//      relative to the largest |logit| as in 2; latte must keep every row (dense). For row 0
//      also latte vs the float64 reference, and a control that must FAIL the tolerance: ORT
//      with the final </s> masked out of the encoder's keys (how much a small change of the
//      encoder moves the logits).
// Exit status 1 on any mismatch, 2 on an error.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const common = require('./peer_common.js');
const { benchIds } = require('./t5_ort_bench.js');

const USAGE = `usage: check_t5_export.js [--model PATH] [--ref PATH] [--tol 1e-4] [--latte BIN]
       [--model-dir DIR] [--latte-tol 1e-4] [--no-latte] [--seq 128,512] [--threads 2]`;

function parseArgs(argv) {
  const root = path.resolve(__dirname, '..', '..');
  const [a] = common.parseFlags(argv, {
    '--model': ['model', 'string'], '--ref': ['ref', 'string'], '--tol': ['tol', 'number'],
    '--latte': ['latte', 'string'], '--model-dir': ['modelDir', 'string'], '--latte-tol': ['latteTol', 'number'],
    '--no-latte': ['noLatte', 'flag'], '--seq': ['seq', 'ints'], '--threads': ['threads', 'int'],
  }, {
    model: path.join(__dirname, 't5-encoder.onnx'), tol: 1e-4, latteTol: 1e-4, threads: 2,
    latte: path.join(root, 'build', 'latte'), noLatte: false, seq: [],
  }, USAGE);
  if (!a.ref) a.ref = a.model + '.ref.json';
  return a;
}

// Encoder graph on ids [rows, T] (flat) with the mask when the graph takes one.
async function ortEncode(session, ids, shape, mask) {
  const feeds = { input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), shape) };
  if (session.inputNames.includes('attention_mask')) {
    feeds.attention_mask = new ort.Tensor('int64', BigInt64Array.from(mask || ids.map(() => 1), BigInt), shape);
  }
  return (await session.run(feeds)).last_hidden_state;
}

async function ortFirstLogits(step, hidden, T, d) {
  const t = new ort.Tensor('float32', hidden.slice(0, T * d), [1, T, d]);
  return (await step.run({ encoder_hidden_states: t })).logits.data;
}

// "PASS"/"FAIL" line of a logits comparison relative to the largest |logit| of `want`.
function compareLogits(label, got, want, tol) {
  const d = common.maxAbsDiff(got, want);
  const scale = Math.max(1, common.maxAbs(want));
  const pass = d / scale <= tol;
  return {
    pass, d, scale,
    line: `${pass ? 'PASS' : 'FAIL'}: ${label} max |diff| = ${d.toExponential(3)}, ${(d / scale).toExponential(3)} ` +
      `of max |logit| ${scale.toFixed(3)} (tolerance ${tol} relative); argmax ${common.argmax(got)} vs ${common.argmax(want)}`,
  };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ref = JSON.parse(fs.readFileSync(a.ref, 'utf8'));
  if (ref.family !== 't5') throw new Error(`${a.ref}: not a T5 export (family ${ref.family})`);
  const modelDir = a.modelDir || ref.model_dir;
  const session = await common.createSession(ort, a.model, a.threads);
  const stepPath = ref.first_step_model ? path.join(path.dirname(a.model), ref.first_step_model) : null;
  const step = stepPath && fs.existsSync(stepPath) ? await common.createSession(ort, stepPath, a.threads) : null;
  const [rows, T] = ref.shape;
  const d = ref.config.hidden;
  let ok = true;
  console.log(`model   ${a.model} (from ${modelDir})`);
  console.log(`input   [${ref.shape}] random ids${rows > 1 ? ', row 1 padded over its last 4 positions' : ''}, ` +
    `onnxruntime-node ${ort.env.versions.node}, torch ${ref.torch_version}`);

  // 1. encoder: ORT vs torch
  const hidden = await ortEncode(session, ref.input_ids, ref.shape, ref.attention_mask);
  if (JSON.stringify(hidden.dims) !== JSON.stringify(ref.hidden_shape)) {
    console.error(`FAIL: last_hidden_state shape ${JSON.stringify(hidden.dims)} != ${JSON.stringify(ref.hidden_shape)}`);
    process.exit(1);
  }
  const dEnc = common.maxAbsDiff(hidden.data, ref.last_hidden_state);
  console.log(`torch   ${common.head4(ref.last_hidden_state)} ...  max |value| ${common.maxAbs(ref.last_hidden_state).toFixed(4)}`);
  console.log(`ort     ${common.head4(hidden.data)} ...`);
  const okEnc = dEnc <= a.tol;
  ok = ok && okEnc;
  console.log(`${okEnc ? 'PASS' : 'FAIL'}: encoder [${ref.shape}] max |ort - torch| = ${dEnc.toExponential(3)} (tolerance ${a.tol})`);
  if (ref.reference) {
    console.log(`note:   export's torch f32 vs t5_reference.py f64 (row 0): encoder ${ref.reference.encoder_max_abs_diff.toExponential(3)}` +
      (ref.reference.first_logits_max_abs_diff !== undefined
        ? `, first-step logits ${ref.reference.first_logits_max_abs_diff.toExponential(3)}` : ''));
  }
  if (!step) {
    console.log(`note: no first-step graph (${stepPath || 'exported with --no-first-step'}): ORT vs latte not checked`);
    process.exit(ok ? 0 : 1);
  }

  // 2. first decoder step: ORT (on ORT's encoder output) vs torch and the f64 reference
  const ortRow0 = await ortFirstLogits(step, hidden.data, T, d);
  const vsTorch = compareLogits('first-step logits, ort vs torch', ortRow0, ref.first_logits, a.tol);
  ok = ok && vsTorch.pass;
  console.log(`torch   ${common.head4(ref.first_logits)} ...  argmax ${common.argmax(ref.first_logits)}`);
  console.log(`ort     ${common.head4(ortRow0)} ...  argmax ${common.argmax(ortRow0)}`);
  console.log(vsTorch.line);
  if (ref.reference && ref.reference.first_logits) {
    const r = compareLogits('first-step logits, ort vs t5_reference.py f64', ortRow0, ref.reference.first_logits, a.tol);
    ok = ok && r.pass;
    console.log(r.line);
  }

  // 3. ORT vs latte
  if (!a.noLatte) {
    if (!fs.existsSync(a.latte)) throw new Error(`latte binary not found: ${a.latte} (build it, or --no-latte)`);
    const inputs = [{ name: `ref row 0 T=${T}`, ids: ref.input_ids.slice(0, T), ortOut: ortRow0 }];
    for (const n of a.seq) inputs.push({ name: `bench seq ${n}`, ids: benchIds(n, ref.config.vocab) });
    for (const inp of inputs) {
      let o = inp.ortOut;
      if (!o) o = await ortFirstLogits(step, (await ortEncode(session, inp.ids, [1, inp.ids.length])).data, inp.ids.length, d);
      const l = common.latteFirstLogits(a.latte, modelDir, inp.ids, a.threads);
      if (inp.ortOut) console.log(`latte   ${common.head4(l.logits)} ...  argmax ${common.argmax(l.logits)}`);
      const c = compareLogits(`${inp.name}, ort vs latte`, o, l.logits, a.latteTol);
      const pass = c.pass && l.dense;
      ok = ok && pass;
      console.log(`${pass ? 'PASS' : 'FAIL'}${c.line.slice(4)}; latte kept ${l.dense ? 'all rows (dense)' : JSON.stringify(l.kept)}`);
      if (!inp.ortOut) continue;
      if (ref.reference && ref.reference.first_logits) {
        const r = compareLogits(`${inp.name}, latte vs t5_reference.py f64`, l.logits, ref.reference.first_logits, a.latteTol);
        ok = ok && r.pass;
        console.log(r.line);
      }
      if (session.inputNames.includes('attention_mask')) {
        // How far a small change of the encoder moves these logits: the same ids with the final
        // </s> masked out of every key. The comparison above must be far tighter than this.
        const mask = inp.ids.map((_, t) => (t === inp.ids.length - 1 ? 0 : 1));
        const moved = await ortFirstLogits(step, (await ortEncode(session, inp.ids, [1, inp.ids.length], mask)).data,
          inp.ids.length, d);
        const m = compareLogits(`${inp.name}, control: ort with </s> masked vs latte`, moved, l.logits, a.latteTol);
        ok = ok && !m.pass;
        console.log(`${m.pass ? 'FAIL' : 'PASS'}${m.line.slice(4)} (must exceed the tolerance)`);
      }
    }
  }
  process.exit(ok ? 0 : 1);
}

main().catch((e) => { console.error(e.message || e); process.exit(2); });
