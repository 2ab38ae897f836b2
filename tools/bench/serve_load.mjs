#!/usr/bin/env node
// An open-loop load generator for `latte serve` (issue 24): requests arrive as a Poisson process
// at a fixed rate whatever the server does (so a slow server meets a growing line, as real
// traffic makes it), bounded by a count and a duration, on loopback only. Latency is measured from
// each request's scheduled arrival (no coordinated omission).
//
//   node tools/bench/serve_load.mjs --url http://127.0.0.1:PORT --route predict \
//     --data spam/test.jsonl --text-field text --label-field label --rate 40 --count 400 \
//     --duration 20 [--seed 1] [--max-tokens 8] [--closed N]
//
// --route predict: POST /predict {"inputs": text}; the answer's top label is compared with the
// label field (accuracy of the answers returned). --route completions: POST /v1/completions
// streamed; the latency is the time to the first token. --closed N: N requests one after another
// instead (the server's capacity is 1000 / mean ms per worker).
// Prints one JSON object: counts by status, p50/p95/p99/max latency (ms) of the answered requests,
// the server's own p50/p99 (/predict: arrival to answer ready), throughput, shed fraction,
// accuracy, mean speedup used.
import fs from 'node:fs';
import http from 'node:http';

import {parseFlags} from './loopback.mjs';

function parseArgs(argv) {
  const args = parseFlags('serve_load', argv,
    {route: 'predict', textField: 'text', labelField: 'label', seed: 1, maxTokens: 8, count: 200, duration: 30,
     rate: 10, closed: 0},
    {'--url': 'url', '--route': 'route', '--data': 'data', '--text-field': 'textField', '--label-field': 'labelField',
     '--rate': 'rate', '--count': 'count', '--duration': 'duration', '--seed': 'seed', '--max-tokens': 'maxTokens',
     '--closed': 'closed'},
    ['url', 'route', 'data', 'textField', 'labelField']);
  if (!(args.count > 0 && args.count <= 100000 && args.duration > 0 && args.duration <= 600)) {
    throw new Error('serve_load: --count must be in 1..100000 and --duration in (0, 600] seconds');
  }
  if (!args.closed && !(args.rate > 0)) throw new Error('serve_load: --rate must be positive');
  return args;
}

// A small deterministic generator (mulberry32), so a seed gives the same arrivals and texts.
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

function readExamples(path, textField, labelField) {
  const examples = [];
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const record = JSON.parse(line);
    examples.push({text: String(record[textField]), label: record[labelField]});
  }
  if (!examples.length) throw new Error(`serve_load: no examples in ${path}`);
  return examples;
}

const agent = new http.Agent({keepAlive: true, maxSockets: 1024});

// One request; resolves {status, ms, label, speedup} with ms from `start` to the answer (or, for a
// streamed completion, to its first token).
function send(args, example, start) {
  const body = args.route === 'predict'
    ? JSON.stringify({inputs: example.text, truncate: true})
    : JSON.stringify({prompt: example.text, max_tokens: args.maxTokens, temperature: 0, stream: true});
  const path = args.route === 'predict' ? '/predict' : '/v1/completions';
  return new Promise((resolve) => {
    const request = http.request({host: args.host, port: args.port, path, method: 'POST', agent,
                                  headers: {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body)}},
      (response) => {
        let text = '';
        let firstToken = null;
        response.setEncoding('utf8');
        response.on('data', (piece) => {
          text += piece;
          if (firstToken === null && args.route !== 'predict' && text.includes('data: ')) firstToken = performance.now();
        });
        response.on('end', () => {
          const end = performance.now();
          const result = {status: response.statusCode, ms: (firstToken ?? end) - start};
          try {
            if (response.statusCode === 200 && args.route === 'predict') {
              const answer = JSON.parse(text);
              result.label = answer[0].label;
              result.speedup = answer[0].latte.predicted_speedup;
              result.serverMs = answer[0].latte.server_ms;
            } else if (response.statusCode === 200) {
              const events = text.split('\n').filter((l) => l.startsWith('data: {')).map((l) => JSON.parse(l.slice(6)));
              const last = events.findLast((e) => e.latte);
              if (last) result.speedup = last.latte.predicted_speedup;
            }
          } catch (error) {
            result.status = -2;
          }
          resolve(result);
        });
      });
    request.on('error', () => resolve({status: -1, ms: performance.now() - start}));
    request.end(body);
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function main() {
  const args = parseArgs(process.argv);
  const examples = readExamples(args.data, args.textField, args.labelField);
  const next = random(args.seed);
  const pick = () => examples[Math.floor(next() * examples.length)];
  const results = [];
  const began = performance.now();
  if (args.closed) {
    for (let i = 0; i < args.closed; ++i) {
      const example = pick();
      results.push({...(await send(args, example, performance.now())), expected: example.label});
    }
  } else {
    // Poisson arrivals: exponential gaps at the given rate, until the count or the duration.
    const pending = [];
    let at = 0;
    for (let i = 0; i < args.count; ++i) {
      at += -Math.log(1 - next()) / args.rate * 1000;
      if (at > args.duration * 1000) break;
      const example = pick();
      const scheduled = began + at;
      const wait = scheduled - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      pending.push(send(args, example, scheduled).then((r) => results.push({...r, expected: example.label})));
    }
    await Promise.all(pending);
  }
  const elapsed = (performance.now() - began) / 1000;
  const answered = results.filter((r) => r.status === 200);
  const latencies = answered.map((r) => r.ms).sort((a, b) => a - b);
  const statuses = {};
  for (const r of results) statuses[r.status] = (statuses[r.status] || 0) + 1;
  const labelled = answered.filter((r) => r.label !== undefined && r.expected !== undefined);
  const correct = labelled.filter((r) => String(r.label) === String(r.expected)).length;
  const speedups = answered.filter((r) => r.speedup !== undefined).map((r) => r.speedup);
  // The server's own view (arrival to answer ready; /predict reports it): what the client adds is
  // the connection's wake-ups and the transfer.
  const serverMs = answered.filter((r) => r.serverMs !== undefined).map((r) => r.serverMs).sort((a, b) => a - b);
  const round = (x) => (x === null ? null : Math.round(x * 100) / 100);
  console.log(JSON.stringify({
    mode: args.closed ? 'closed' : 'open', rate: args.closed ? null : args.rate, sent: results.length,
    statuses, elapsed_s: round(elapsed), throughput: round(answered.length / elapsed),
    shed: round(results.filter((r) => r.status === 503).length / results.length),
    mean_ms: round(latencies.reduce((a, b) => a + b, 0) / Math.max(1, latencies.length)),
    p50_ms: round(percentile(latencies, 50)), p95_ms: round(percentile(latencies, 95)),
    p99_ms: round(percentile(latencies, 99)), max_ms: round(latencies[latencies.length - 1] ?? null),
    server_p50_ms: round(percentile(serverMs, 50)), server_p99_ms: round(percentile(serverMs, 99)),
    accuracy: labelled.length ? round(100 * correct / labelled.length) : null,
    mean_speedup: speedups.length ? round(speedups.reduce((a, b) => a + b, 0) / speedups.length) : null,
  }));
  agent.destroy();
}

main().catch((error) => {
  console.error(error.message);
  process.exit(1);
});
