#!/usr/bin/env node
// What a long prompt joining a continuous batch costs the streams already decoding (issue 24: the
// measure of chunked prefill, --max-stall-ms). N clients stream greedy completions of short
// prompts, one after another, while another client sends a long prompt (one token to generate)
// every --long-every-ms; the gaps between consecutive streamed tokens of the short streams are
// what a joining prefill stalls. Loopback only; bounded by --duration.
//
//   node tools/bench/serve_stall.mjs --url http://127.0.0.1:PORT --data lm/test.txt \
//     [--streams 3] [--max-tokens 64] [--long-words 600] [--long-every-ms 1500] [--duration 15]
//     [--long-speedup S]
//
// --long-every-ms 0: no long prompts (the gaps of the steps alone). --long-speedup S: the long
// prompts ask for speedup S (their prefill eliminates word-vectors, so it stalls the others less);
// 0 (the default): they carry no knob. Prints one JSON object: the
// short streams' token gaps (p50/p99/max ms), tokens/s, and the long prompts sent with their mean
// prefill as the server measured it, their mean time from sending to answer as the client saw it
// and (under --max-stall-ms) the mean pieces their prefills ran in.
import fs from 'node:fs';

import {completionClient, parseFlags} from './loopback.mjs';

const args = parseFlags('serve_stall', process.argv,
                        {streams: 3, maxTokens: 64, longWords: 600, longEveryMs: 1500, duration: 15, data: '',
                         longSpeedup: 0},
                        {'--url': 'url', '--data': 'data', '--streams': 'streams', '--max-tokens': 'maxTokens',
                         '--long-words': 'longWords', '--long-every-ms': 'longEveryMs', '--duration': 'duration',
                         '--long-speedup': 'longSpeedup'},
                        ['url', 'data']);
if (!(args.streams >= 1 && args.streams <= 64 && args.duration > 0 && args.duration <= 600 && args.longEveryMs >= 0)) {
  throw new Error('serve_stall: --streams in 1..64, --duration in (0, 600] s, --long-every-ms >= 0');
}
if (args.longEveryMs > 0 && !args.data) throw new Error('serve_stall: --data (a text file) gives the long prompts');
const words = args.data ? fs.readFileSync(args.data, 'utf8').split(/\s+/).filter((w) => w) : [];
const {complete, close} = completionClient(args, args.streams + 1);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const end = performance.now() + args.duration * 1000;
const gaps = [];
let tokens = 0;
const longTtft = [];  // the server's measured prefill (its pieces' time when chunked)
const longWall = [];  // the client's: sent to answered (a chunked prefill also waits for the steps between)
const longPieces = [];  // under --max-stall-ms: the pieces each long prefill ran in
const began = performance.now();
await Promise.all([
  ...Array.from({length: args.streams}, async (_, client) => {
    while (performance.now() < end) {
      let last = null;
      await complete({prompt: `The quick brown fox ${client}`, max_tokens: args.maxTokens, temperature: 0, stream: true},
                     (time) => {
                       ++tokens;
                       if (last !== null) gaps.push(time - last);
                       last = time;
                     });
    }
  }),
  (async () => {
    if (!args.longEveryMs) return;
    for (let i = 0; performance.now() < end; ++i) {
      await new Promise((resolve) => setTimeout(resolve, args.longEveryMs));
      const from = (i * args.longWords) % Math.max(1, words.length - args.longWords);
      const sent = performance.now();
      const answer = JSON.parse(await complete({prompt: words.slice(from, from + args.longWords).join(' '), max_tokens: 1,
                                                temperature: 0,
                                                ...(args.longSpeedup > 0 ? {latte: {speedup: args.longSpeedup}} : {})}));
      longWall.push(performance.now() - sent);
      if (answer.latte.prefill_pieces !== undefined) longPieces.push(answer.latte.prefill_pieces);
      longTtft.push(answer.latte.measured_ms ?? longWall[longWall.length - 1]);
    }
  })(),
]);
const seconds = (performance.now() - began) / 1000;
gaps.sort((a, b) => a - b);
const round = (x) => Math.round(x * 100) / 100;
const mean = (values) => values.length ? round(values.reduce((a, b) => a + b, 0) / values.length) : null;
console.log(JSON.stringify({streams: args.streams, long_every_ms: args.longEveryMs, long_words: args.longWords,
                            long_speedup: args.longSpeedup,
                            tokens, tokens_per_s: round(tokens / seconds), gap_p50_ms: round(percentile(gaps, 50)),
                            gap_p99_ms: round(percentile(gaps, 99)), gap_max_ms: round(gaps[gaps.length - 1]),
                            long_prompts: longTtft.length,
                            long_prefill_ms: mean(longTtft), long_answer_ms: mean(longWall),
                            long_pieces: mean(longPieces)}));
close();
