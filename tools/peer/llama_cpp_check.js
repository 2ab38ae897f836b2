#!/usr/bin/env node
// llama.cpp (node-llama-cpp, CPU prebuilt) on a GGUF file: feeds prompt token ids, greedy-decodes
// and prints {ids, prefill_ms, decode_ms_per_token} as one JSON line, so a shell script can set
// it beside `latte generate --json` on the same ids.
// Usage: node llama_cpp_check.js MODEL.gguf --prompt-ids 1,2,3 [--max-new-tokens 8] [--threads 1]
'use strict';

function fail(message) {
  console.error(`latte: error: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {model: null, promptIds: null, maxNew: 8, threads: 1};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${flag} needs a value`);
      return argv[++i];
    };
    const positive = (text) => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) fail(`${flag}: ${text} is not a positive integer`);
      return n;
    };
    if (flag === '--prompt-ids') {
      args.promptIds = value().split(',').map((t) => {
        const n = Number(t);
        if (t === '' || !Number.isInteger(n) || n < 0) fail(`--prompt-ids: ${t} is not a token id`);
        return n;
      });
    } else if (flag === '--max-new-tokens') {
      args.maxNew = positive(value());
    } else if (flag === '--threads') {
      args.threads = positive(value());
    } else if (flag.startsWith('--')) {
      fail(`unknown flag ${flag}`);
    } else if (args.model === null) {
      args.model = flag;
    } else {
      fail(`unexpected argument ${flag}`);
    }
  }
  if (args.model === null) fail('give a GGUF file');
  if (args.promptIds === null) fail('give --prompt-ids');
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (!require('fs').existsSync(args.model)) fail(`${args.model}: no such file`);
  const {getLlama, LlamaLogLevel} = await import('node-llama-cpp');
  // build "never": use the prebuilt CPU binaries from npm, never compile llama.cpp here
  const llama = await getLlama({gpu: false, build: 'never', logLevel: LlamaLogLevel.error});
  const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0});
  const total = args.promptIds.length + args.maxNew;
  const context = await model.createContext({
    contextSize: total, batchSize: args.promptIds.length, threads: args.threads, sequences: 1});
  const sequence = context.getSequence();
  const ids = [];
  const start = performance.now();
  let firstAt = 0;
  // temperature 0 is greedy (argmax); the loop ignores end-of-generation tokens on purpose so
  // the caller decides where to compare
  for await (const token of sequence.evaluate(args.promptIds, {temperature: 0})) {
    if (ids.length === 0) firstAt = performance.now();
    ids.push(token);
    if (ids.length >= args.maxNew) break;
  }
  const end = performance.now();
  const out = {
    ids,
    prefill_ms: firstAt - start,
    decode_ms_per_token: ids.length > 1 ? (end - firstAt) / (ids.length - 1) : null,
    threads: args.threads,
  };
  console.log(JSON.stringify(out));
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().catch((e) => fail(e && e.message ? e.message : String(e)));
