// latte's reading of a T5 tokenizer.json against Hugging Face tokenizers (the Node binding
// @anush008/tokenizers), text by text. Not committed data: run it by hand after changing
// src/tokenizers/{unigram,metaspace_pipeline,sentencepiece_tokenizer}.cpp.
//
//   cd tools/golden && npm ci
//   node t5_tokenizer_json_sweep.js LATTE MODEL_DIR [DATA_DIR]
//
// MODEL_DIR holds the tokenizer.json (tests/data/t5_tokenizer_json); DATA_DIR is what
// `latte data fetch` writes (default /work/data). Encodes every 4th of the first 12,000 lines of
// lm/train.txt, the first 2,000 texts of brown-genre/train.jsonl and of spam/train.jsonl (whole
// e-mails, line breaks and all) and 6,000 random strings drawn from Latin, Greek, Cyrillic,
// combining marks, punctuation, spaces, CJK, full-width, ligatures, Hangul jamo, Devanagari,
// emoji, ZWJ and variation selectors, with `latte tokenize --json` and with the binding; prints
// the texts whose ids or tokens differ (both cut to 512 tokens) and exits 1 if any do.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const tk = require('@anush008/tokenizers');

const kMaxLength = 512;  // latte's cap for T5 inputs; longer texts are cut by both

// A small deterministic generator (mulberry32), so that every run draws the same strings.
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function texts(dataDir) {
  const lm = fs.readFileSync(path.join(dataDir, 'lm', 'train.txt'), 'utf8').split('\n').slice(0, 12000);
  const out = lm.filter((_, i) => i % 4 === 0);
  for (const corpus of ['brown-genre', 'spam']) {
    const lines = fs.readFileSync(path.join(dataDir, corpus, 'train.jsonl'), 'utf8').split('\n');
    for (const line of lines.slice(0, 2000)) if (line) out.push(JSON.parse(line).text);
  }
  const blocks = [[0x20, 0x250], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x4ff], [0x900, 0x97f],
    [0x1100, 0x11ff], [0x2000, 0x206f], [0x3000, 0x30ff], [0xff00, 0xffef], [0xfb00, 0xfb4f]];
  const pool = [];
  for (const [lo, hi] of blocks) for (let c = lo; c < hi; ++c) pool.push(String.fromCodePoint(c));
  for (const c of [0x1f600, 0x1f44d, 0x1f3fd, 0x2764, 0xfe0f, 0x200d, 0x1f1eb, 0x1f1f7, 0x20e3, 0xa0, 0x9, 0xa,
    0xd, 0x2581, 0x20, 0x20, 0x20]) {
    pool.push(String.fromCodePoint(c));
  }
  const draw = random(3);
  for (let i = 0; i < 6000; ++i) {
    let text = '';
    const length = 1 + Math.floor(draw() * 30);
    for (let j = 0; j < length; ++j) text += pool[Math.floor(draw() * pool.length)];
    out.push(text);
  }
  return out;
}

async function main() {
  if (process.argv.length < 4 || process.argv.length > 5) {
    console.error('usage: node t5_tokenizer_json_sweep.js LATTE MODEL_DIR [DATA_DIR]');
    process.exit(2);
  }
  const [latte, modelDir] = process.argv.slice(2, 4);
  const dataDir = process.argv[4] || '/work/data';
  const inputs = texts(dataDir);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 't5-sweep-')), 'texts.jsonl');
  fs.writeFileSync(file, inputs.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  const out = execFileSync(latte, ['tokenize', '--model', modelDir, '--input', file, '--format', 'jsonl', '--json',
    '--max-length', String(kMaxLength)], { maxBuffer: 1 << 30, encoding: 'utf8' });
  const got = out.trim().split('\n').map((line) => JSON.parse(line));
  if (got.length !== inputs.length) throw new Error(`latte printed ${got.length} lines for ${inputs.length} texts`);
  const tokenizer = tk.Tokenizer.fromFile(path.join(modelDir, 'tokenizer.json'));
  tokenizer.setTruncation(kMaxLength, { strategy: tk.TruncationStrategy.LongestFirst });
  let compared = 0;
  let differ = 0;
  for (let i = 0; i < inputs.length; ++i) {
    const encoding = await tokenizer.encode(inputs[i]);
    const ids = encoding.getIds();
    ++compared;
    const same = JSON.stringify(ids) === JSON.stringify(got[i].ids) &&
      JSON.stringify(encoding.getTokens()) === JSON.stringify(got[i].tokens);
    if (!same) {
      ++differ;
      if (differ <= 10) {
        console.log(`${JSON.stringify(inputs[i])}\n  tokenizers ${JSON.stringify(ids)}\n  latte      ${JSON.stringify(got[i].ids)}`);
      }
    }
  }
  console.log(`${compared} texts compared, ${differ} differ`);
  process.exit(differ ? 1 : 0);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
