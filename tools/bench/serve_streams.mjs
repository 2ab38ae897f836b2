#!/usr/bin/env node
// Continuous batching through the server (issue 24, section 3): N clients each send completions
// one after another (closed loop, loopback only) and the aggregate generated tokens per second is
// measured over the whole run. Compare --concurrency 1 with 4 on one server (`--max-streams 4`),
// and 4 clients on a server with `--max-streams 1` (one generation at a time).
//
//   node tools/bench/serve_streams.mjs --url http://127.0.0.1:PORT --concurrency 4 --requests 3 \
//     --max-tokens 64 [--prompt "The quick brown fox"]
//
// Prints one JSON object: generated tokens, seconds, tokens/s, the mean of the answers'
// decode_ms_per_token and time to first token (measured_ms), and the most streams decoded together.
import {completionClient, parseFlags} from './loopback.mjs';

const args = parseFlags('serve_streams', process.argv,
                        {concurrency: 1, requests: 3, maxTokens: 64, prompt: 'The quick brown fox jumps over the lazy dog.'},
                        {'--url': 'url', '--concurrency': 'concurrency', '--requests': 'requests',
                         '--max-tokens': 'maxTokens', '--prompt': 'prompt'},
                        ['url', 'prompt']);
if (!(args.concurrency >= 1 && args.concurrency <= 64 && args.requests >= 1 && args.requests <= 1000)) {
  throw new Error('serve_streams: --concurrency in 1..64, --requests in 1..1000');
}
const completions = completionClient(args, args.concurrency);
const complete = async (body) => JSON.parse(await completions.complete(body));

const answers = [];
const start = process.hrtime.bigint();
await Promise.all(Array.from({length: args.concurrency}, async (_, client) => {
  for (let i = 0; i < args.requests; ++i) {
    // Greedy, no stop: each request generates max_tokens (a random model rarely picks its eos).
    answers.push(await complete({prompt: `${args.prompt} ${client}`, max_tokens: args.maxTokens, temperature: 0}));
  }
}));
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const tokens = answers.reduce((sum, a) => sum + a.usage.completion_tokens, 0);
const mean = (key) => answers.reduce((sum, a) => sum + a.latte[key], 0) / answers.length;
console.log(JSON.stringify({concurrency: args.concurrency, requests: answers.length, tokens, seconds: +seconds.toFixed(3),
                            tokens_per_s: +(tokens / seconds).toFixed(2), decode_ms_per_token: +mean('decode_ms_per_token').toFixed(3),
                            ttft_ms: +mean('measured_ms').toFixed(2),
                            most_streams: Math.max(...answers.map((a) => a.latte.streams))}));
completions.close();
