// Makes tests/data/t5_tokenizer_json/t5_json_golden.jsonl, which tests/test_sentencepiece_tokenizer.cpp
// checks latte's reading of a T5 tokenizer.json against, token for token.
//
// Run from the repository root (needs only the npm registry):
//   cd tools/golden && npm ci && node make_t5_tokenizer_json_golden.js
//
// The reference is @anush008/tokenizers, a Node binding of Hugging Face's Rust `tokenizers`
// (0.22), loading tests/data/t5_tokenizer_json/tokenizer.json as T5TokenizerFast does
// (Tokenizer.from_file). The inputs are those of tests/data/t5_tokenizer/t5_golden.jsonl (text,
// pair, max_length) plus cases where tokenizers and SentencePiece part ways: the Precompiled
// normaliser applied per grapheme, combining marks, runs of spaces, ▁ written in the text, the
// added tokens' edges. Each line: {text, [pair], [max_length], ids, tokens, decoded}, where
// max_length truncates longest-first with the </s> of the template counted (transformers'
// truncation=True), and decoded is decode(ids, skip_special_tokens=true).
'use strict';

const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const kRoot = path.join(__dirname, '..', '..');
const kFolder = path.join(kRoot, 'tests', 'data', 't5_tokenizer_json');
const kSpieceGolden = path.join(kRoot, 'tests', 'data', 't5_tokenizer', 't5_golden.jsonl');

// Cases beyond the spiece.model goldens' inputs.
const kExtraTexts = [
  'e\u0301 cafe\u0301 a\u0308\u0301',           // base + combining marks: one grapheme each
  '\uFF21\u0301 \uFF45\u0301\u0300',            // full-width letter + combining: a rule on its first character
  '\uFB01\u0301 \u00BD\u0300',                  // a ligature and a fraction with a combining mark
  'line\r\nbreak\r\n\r\nCRLF',                  // \r\n is one grapheme
  '1\uFE0F\u20E3 keycap and \u2764\uFE0F heart', // variation selectors
  'family \uD83D\uDC68\u200D\uD83D\uDC69\u200D\uD83D\uDC67 and flag \uD83C\uDDEB\uD83C\uDDF7',
  '\u0915\u094D\u0937 \u0915\u093F \uD55C\uAD6D\uC5B4 \u1100\u1161\u11A8', // Devanagari, Hangul syllables and jamo
  'a\u200Db a\u200Cb',                          // ZWJ, ZWNJ
  '\u2581 literal \u2581\u2581 metaspace\u2581',
  'a\u2581\u2581b \u2581word',
  '  two leading',
  ' one leading',
  'trailing one ',
  'a  b   c    d',
  'a \t b\t\tc',
  'x\u00A0\u00A0y\u3000\u3000z',
  'Hello</s>',
  '</s>Hello',
  'Hello </s> world',
  'Hello  </s>  world',
  '<extra_id_0>Hello',
  'Hello<extra_id_0>',
  ' <extra_id_0> ',
  '<extra_id_1>  <extra_id_2>',
  '<unk>',
  'x<unk>y',
  '\u0378\u0379 unassigned and \uE000 private use',
  'unknown \u2603\u2604\u2605 run and \uD83E\uDD84\uD83E\uDD84',
  'mixed\u2603x\u2603\u2603y',
  '\u00AD soft hyphen and \u200B zero width',
  'I\u0307stanbul \u0130stanbul \u03A3\u03C3\u03C2',
  '\u212B \u2126 \u00C5 \u03A9',                // singletons NFKC maps
  'tab\there',
  'ends with newline\n',
  '\u3000leading ideographic space',
];

const kExtraPairs = [
  ['  spaced  ', '  pair  ', null],
  ['Hello <extra_id_0>', '<extra_id_1> world', null],
  ['a\u0301', 'b\u0301', null],
  ['one two three four five six', 'seven eight', 7],
];

// Variants of the file that T5 folders also come with, made by editing it; each runs the extra
// texts and pairs. tests/test_sentencepiece_tokenizer.cpp makes the same edits.
const kVariants = {
  // legacy=False tokenizers (transformers' _get_prepend_scheme): only the input's start gets ▁.
  first: (root) => {
    root.pre_tokenizer.prepend_scheme = 'first';
    root.decoder.prepend_scheme = 'first';
  },
  // The files on the Hub from older converters (t5-small, flan-t5): Precompiled alone, then
  // WhitespaceSplit and a Metaspace with add_prefix_space.
  older: (root) => {
    root.normalizer = root.normalizer.normalizers[0];
    const metaspace = { type: 'Metaspace', replacement: '\u2581', add_prefix_space: true };
    root.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] };
    root.decoder = { ...metaspace };
  },
  // Byte fallback: the last 256 pieces before the sentinels become <0x00> .. <0xFF>.
  byte_fallback: (root) => {
    root.model.byte_fallback = true;
    for (let byte = 0; byte < 256; ++byte) {
      const hex = byte.toString(16).toUpperCase().padStart(2, '0');
      root.model.vocab[1744 + byte] = [`<0x${hex}>`, 0.0];
    }
  },
};

function readCases() {
  const cases = fs.readFileSync(kSpieceGolden, 'utf8').trim().split('\n').map((line) => {
    const golden = JSON.parse(line);
    const c = { text: golden.text };
    if (golden.pair !== undefined) c.pair = golden.pair;
    if (golden.max_length !== undefined) c.max_length = golden.max_length;
    return c;
  });
  for (const text of kExtraTexts) cases.push({ text });
  for (const [text, pair, maxLength] of kExtraPairs) {
    const c = { text, pair };
    if (maxLength !== null) c.max_length = maxLength;
    cases.push(c);
  }
  return cases;
}

async function encodeAll(tokenizer, cases, variant, lines) {
  for (const c of cases) {
    if (c.max_length !== undefined) {
      tokenizer.setTruncation(c.max_length, { strategy: tk.TruncationStrategy.LongestFirst });
    } else {
      tokenizer.disableTruncation();
    }
    const encoding = await tokenizer.encode(c.text, c.pair === undefined ? null : c.pair);
    const ids = encoding.getIds();
    const out = { ...(variant ? { variant } : {}), ...c, ids, tokens: encoding.getTokens(),
      decoded: await tokenizer.decode(ids, true) };
    lines.push(JSON.stringify(out));
  }
}

async function main() {
  const file_ = path.join(kFolder, 'tokenizer.json');
  const lines = [];
  await encodeAll(tk.Tokenizer.fromFile(file_), readCases(), null, lines);
  const extra = kExtraTexts.map((text) => ({ text }))
    .concat(kExtraPairs.map(([text, pair]) => ({ text, pair })))
    .concat([{ text: 'Hello world' }, { text: '' }, { text: 'caf\u00E9 \u2603 <extra_id_3> x' }]);
  for (const [name, edit] of Object.entries(kVariants)) {
    const root = JSON.parse(fs.readFileSync(file_, 'utf8'));
    edit(root);
    await encodeAll(tk.Tokenizer.fromString(JSON.stringify(root)), extra, name, lines);
  }
  const file = path.join(kFolder, 't5_json_golden.jsonl');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  console.log(`wrote ${lines.length} cases to ${file}`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
