// `latte serve` as its clients use it: servers on free loopback ports (--port 0), checked with
// curl (mode "curl") or with the official `openai` npm package (mode "openai"; exit 77, a ctest
// skip, when tools/golden/node_modules/openai is missing). Answers are compared with the CLI's
// (`latte classify`, `latte generate`) on the same inputs. Every server is killed at the end.
//
//   node tests/serve_check.mjs LATTE SOURCE_DIR curl|openai
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [latte, source, mode] = process.argv.slice(2);
if (!latte || !source || !['curl', 'openai'].includes(mode)) {
  console.error('usage: node serve_check.mjs LATTE SOURCE_DIR curl|openai');
  process.exit(2);
}
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'latte-serve-'));
// No profile of this machine in a unit test: plans come from the FLOPs prior, the same for the
// server and the CLI runs it is compared with.
const env = { ...process.env, LATTE_NO_PROFILE: '1', LATTE_NUM_THREADS: '1' };
delete env.LATTE_API_KEY;
const servers = [];
let checks = 0;

function cleanup() {
  for (const server of servers) if (server.exitCode === null) server.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));
// The whole check is bounded: a hang fails it.
setTimeout(() => fail('timed out after 280 s'), 280_000).unref();

function fail(message) {
  console.error(`serve_check (${mode}): FAIL: ${message}`);
  process.exit(1);
}
function expect(condition, message) {
  ++checks;
  if (!condition) fail(message);
}
function expectEqual(actual, expected, message) {
  ++checks;
  const a = JSON.stringify(actual), e = JSON.stringify(expected);
  if (a !== e) fail(`${message}: got ${a}, expected ${e}`);
}

function run(args) {
  return execFileSync(latte, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// Starts `latte serve ARGS --port 0` and resolves with its base URL once the ready line is out.
function startServer(args, extraEnv = {}) {
  return new Promise((resolve, reject) => {
    const server = spawn(latte, ['serve', '--port', '0', ...args], {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    servers.push(server);
    let out = '', err = '';
    const timer = setTimeout(() => reject(new Error(`no ready line in 60 s; stderr: ${err}`)), 60_000);
    server.stdout.on('data', (data) => {
      out += data;
      const ready = out.match(/latte: serving (\S+) on (http:\/\/127\.0\.0\.1:(\d+))/);
      if (ready) {
        clearTimeout(timer);
        resolve({ process: server, name: ready[1], url: ready[2], stderr: () => err });
      }
    });
    server.stderr.on('data', (data) => (err += data));
    server.on('exit', (code) => reject(new Error(`latte serve exited with ${code} before it was ready: ${err}`)));
  });
}

// One request with curl: {status, headers (lower-cased names), body (text), json (parsed or null)}.
function curl(method, url, body, headers = {}) {
  const headerFile = path.join(work, 'headers.txt');
  const args = ['-s', '-S', '--max-time', '60', '-X', method, '-D', headerFile, '-o', '-'];
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}: ${value}`);
  let input;
  if (body !== undefined) {
    args.push('-H', 'Content-Type: application/json', '--data-binary', '@-');
    input = typeof body === 'string' ? body : JSON.stringify(body);
  }
  args.push(url);
  const text = execFileSync('curl', args, { input, encoding: 'utf8', maxBuffer: 64 << 20 });
  // The last header block: a large body is sent after an interim "100 Continue".
  const blocks = fs.readFileSync(headerFile, 'utf8').split('\r\n\r\n').filter((b) => b.length > 0);
  const lines = blocks[blocks.length - 1].split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const parsedHeaders = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) parsedHeaders[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status, headers: parsedHeaders, body: text, json };
}

// The same request without waiting: a promise of its status and body.
function curlAsync(method, url, body) {
  return new Promise((resolve) => {
    const child = spawn('curl', ['-s', '--max-time', '120', '-X', method, '-H', 'Content-Type: application/json',
      '--data-binary', '@-', '-o', '-', '-w', '\n%{http_code}', url]);
    let out = '';
    child.stdout.on('data', (data) => (out += data));
    // 'close', not 'exit': a process can exit before its stdout has been read to the end.
    child.on('close', () => {
      const cut = out.lastIndexOf('\n');
      resolve({ status: Number(out.slice(cut + 1)), body: out.slice(0, cut) });
    });
    child.stdin.end(JSON.stringify(body));
  });
}

function expectError(response, status, needle, what) {
  expectEqual(response.status, status, `${what}: status`);
  expect(response.json && response.json.error && typeof response.json.error.message === 'string' &&
         typeof response.json.error.type === 'string',
         `${what}: body ${response.body} is not {"error": {"message", "type"}}`);
  expect(response.json.error.message.includes(needle),
         `${what}: message "${response.json.error.message}" does not name "${needle}"`);
}

function metric(url, line) {
  const text = curl('GET', `${url}/metrics`).body;
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition, what) {
  for (let i = 0; i < 600; ++i) {
    if (condition()) return;
    await sleep(20);
  }
  fail(`timed out waiting for ${what}`);
}

// A GPT-2 with a real byte-level BPE tokenizer, and a Llama with Llama 3's tokenizer and chat
// template (latte init, as the generate tests make them).
function makeDecoders() {
  const gpt2 = path.join(work, 'gpt2');
  run(['init', '--family', 'gpt2', '--preset', 'tiny', '--tokenizer',
       path.join(source, 'tests/data/gpt2_tokenizer/small'), '--out', gpt2]);
  const llama = path.join(work, 'llama');
  const tokenizer = path.join(source, 'tests/data/llama3_tokenizer/small');
  run(['init', '--family', 'llama', '--preset', 'tiny', '--tokenizer', tokenizer, '--out', llama]);
  fs.copyFileSync(path.join(tokenizer, 'tokenizer_config.json'), path.join(llama, 'tokenizer_config.json'));
  return { gpt2, llama };
}

function generateCli(model, prompt, maxTokens, extra = []) {
  const line = run(['generate', '--model', model, '--max-new-tokens', String(maxTokens), '--json', ...extra, prompt]);
  return JSON.parse(line.trim().split('\n').pop());
}

function sseEvents(body) {
  const events = body.split('\n\n').filter((e) => e.length > 0);
  for (const event of events) expect(event.startsWith('data: '), `SSE event "${event}" does not start with "data: "`);
  return events.map((e) => e.slice(6));
}

async function checkEncoder() {
  const model = path.join(source, 'models/default');
  const server = await startServer(['--model', model, '--max-inputs', '1024']);
  const url = server.url;
  expectEqual(curl('GET', `${url}/health`).status, 200, '/health');
  // Keep-alive lasts as long as the client uses it: cpp-httplib's default closed each connection
  // after 5 requests, so a busy client paid a new connection every fifth request.
  const connects = execFileSync('curl', Array(12).fill(['-s', '-o', '/dev/null', '-w', '%{num_connects} ',
    '--data-binary', '{"inputs": "hello"}', `${url}/predict`]).flatMap((one, i) => (i ? ['--next', ...one] : one)),
  { encoding: 'utf8' }).trim().split(' ').map(Number);
  expectEqual(connects, [1, ...Array(11).fill(0)], 'twelve requests on one keep-alive connection');
  // A burst of connections is answered: cpp-httplib's listen backlog of 5 lost their SYNs (512 at
  // once: 112 failed, the slowest answered after 56 s, each lost SYN costing a second or more).
  const burst = await Promise.all(Array.from({ length: 512 }, () => new Promise((resolve) => {
    const began = performance.now();
    const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
    socket.setTimeout(30_000, () => socket.destroy(new Error('timed out')));
    socket.on('connect', () => socket.write('GET /health HTTP/1.1\r\nHost: latte\r\nConnection: close\r\n\r\n'));
    let answer = '';
    socket.on('data', (data) => (answer += data));
    socket.on('close', () => resolve({ ok: answer.startsWith('HTTP/1.1 200'), ms: performance.now() - began }));
    socket.on('error', () => {});
  })));
  expectEqual(burst.filter((one) => !one.ok).length, 0, 'a burst of 512 connections: all answered');
  const slowest = Math.max(...burst.map((one) => one.ms));
  expect(slowest < 10_000, `a burst of 512 connections: the slowest answered after ${slowest.toFixed(0)} ms`);

  const texts = ['WIN a FREE cruise!!! Call now to claim your prize',
                 'Hi Tom, the meeting moved to Thursday at 10, see you there'];
  const classify = (args) => run(['classify', '--model', model, ...args, ...texts]).trim().split('\n')
    .map((line) => line.split('\t')[0]);
  const dense = classify([]);
  const one = curl('POST', `${url}/predict`, { inputs: texts[0] });
  expectEqual(one.status, 200, '/predict one text');
  expect(Array.isArray(one.json) && one.json.length === 2, `/predict one text: ${one.body}`);
  expectEqual(one.json[0].label, dense[0], '/predict label vs latte classify');
  expect(Math.abs(one.json[0].score + one.json[1].score - 1) < 1e-4, '/predict probabilities sum to 1');
  expect(one.json[0].latte.server_ms >= one.json[0].latte.measured_ms,
         `/predict: the server's time covers the pass: ${JSON.stringify(one.json[0].latte)}`);
  expect(one.json[0].latte && Array.isArray(one.json[0].latte.kept) && one.json[0].latte.kept.length === 4 &&
         typeof one.json[0].latte.measured_ms === 'number' && typeof one.json[0].latte.predicted_ms === 'number',
         `/predict latte report: ${JSON.stringify(one.json[0].latte)}`);

  const batch = curl('POST', `${url}/predict`, { inputs: texts });
  expectEqual(batch.status, 200, '/predict batch');
  expectEqual(batch.json.map((list) => list[0].label), dense, '/predict batch labels vs latte classify');

  const fast = curl('POST', `${url}/predict`, { inputs: texts, latte: { speedup: 2 } });
  expectEqual(fast.status, 200, '/predict speedup 2');
  expectEqual(fast.json.map((list) => list[0].label), classify(['--speedup', '2']),
              '/predict speedup 2 labels vs latte classify --speedup 2');
  expectEqual(fast.json[0][0].latte.speedup, 2, '/predict reports the speedup it ran at');
  const denseKept = batch.json[0][0].latte.kept, fastKept = fast.json[0][0].latte.kept;
  expect(fastKept[fastKept.length - 1] < denseKept[denseKept.length - 1],
         `speedup 2 keeps fewer word-vectors: ${fastKept} vs ${denseKept}`);

  // Text pairs in text-embeddings-inference's batch form, against latte classify on the same pairs.
  const pairsFile = path.join(work, 'pairs.jsonl');
  fs.writeFileSync(pairsFile, [[texts[0], texts[1]], [texts[1], texts[0]]]
    .map(([text, pair]) => JSON.stringify({ text, text_pair: pair })).join('\n') + '\n');
  const pairCli = run(['classify', '--model', model, '--input', pairsFile, '--json']).trim().split('\n')
    .map((line) => JSON.parse(line));
  const pairs = curl('POST', `${url}/predict`, { inputs: [[texts[0], texts[1]], [texts[1], texts[0]], [texts[0]]] });
  expectEqual(pairs.status, 200, '/predict text pairs');
  for (let i = 0; i < 2; ++i) {
    expectEqual(pairs.json[i][0].label, pairCli[i].label, `/predict pair ${i} label vs latte classify --input`);
    expect(Math.abs(pairs.json[i][0].score - Math.max(...Object.values(pairCli[i].probs))) < 1e-4,
           `/predict pair ${i} score ${pairs.json[i][0].score} vs latte classify ${JSON.stringify(pairCli[i].probs)}`);
  }
  expect(Math.abs(pairs.json[0][0].score - one.json[0].score) > 1e-6, 'a pair is not its first text alone');
  expect(Math.abs(pairs.json[2][0].score - one.json[0].score) < 1e-4, '[[text]] is the text alone');
  expectError(curl('POST', `${url}/predict`, { inputs: [['a', 'b', 'c']] }), 400, '[text, text_pair]',
              'a pair of three');

  const raw = curl('POST', `${url}/predict`, { inputs: texts[0], raw_scores: true });
  expect(raw.status === 200 && Math.abs(raw.json[0].score + raw.json[1].score - 1) > 1e-3,
         `raw_scores gives logits: ${raw.body}`);

  const infer = curl('POST', `${url}/v2/models/${server.name}/infer`,
                     { id: 'r1', inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: texts }] });
  expectEqual(infer.status, 200, 'KServe infer');
  expectEqual(infer.json.outputs[0].data, dense, 'KServe labels vs latte classify');
  expectEqual(infer.json.id, 'r1', 'KServe echoes the id');
  expectEqual(infer.json.parameters.latte.length, 2, 'KServe latte reports');
  expectError(curl('POST', `${url}/v2/models/other/infer`, { inputs: [] }), 404, "no model named 'other'",
              'KServe unknown model');

  // Bad input, each class.
  expectError(curl('POST', `${url}/predict`, '{"inputs": '), 400, 'not valid JSON', 'malformed JSON');
  expectError(curl('POST', `${url}/predict`, { inputs: 7 }), 400, "'inputs'", 'wrong type');
  expectError(curl('POST', `${url}/predict`, { inputs: 'a', latte: { speed: 2 } }), 400, "unknown field 'speed'",
              'unknown latte field');
  expectError(curl('POST', `${url}/predict`, { inputs: 'a', latte: { speedup: 0.5 } }), 400, '>= 1',
              'speedup < 1');
  expectError(curl('POST', `${url}/predict`, '{"inputs": "a", "latte": {"speedup": NaN}}'), 400,
              'not valid JSON', 'speedup NaN');
  expectError(curl('POST', `${url}/predict`, { inputs: 'word '.repeat(400) }), 400, 'tokens',
              'input over the positions without truncate');
  expectEqual(curl('POST', `${url}/predict`, { inputs: 'word '.repeat(400), truncate: true }).status, 200,
              'over-long input with truncate');
  expectError(curl('POST', `${url}/predict`, { inputs: Array(1025).fill('a') }), 413, 'limit of 1024',
              'too many inputs');
  expectError(curl('POST', `${url}/predict`, { inputs: 'x'.repeat(1100000) }), 413, 'limit', 'body over the limit');
  expectError(curl('GET', `${url}/nowhere`), 404, 'no route', 'unknown route');
  expectError(curl('GET', `${url}/predict`), 405, 'use POST', 'wrong method');
  expectError(curl('POST', `${url}/v1/completions`, { prompt: 'x' }), 404, 'no route',
              'completions on an encoder');

  // The metrics moved.
  const metrics = curl('GET', `${url}/metrics`).body;
  expect(metric(url, 'latte_requests_total{route="/predict",status="200"}') >= 5, `predict 200s counted:\n${metrics}`);
  expect(metric(url, 'latte_requests_total{route="/predict",status="400"}') >= 5, 'predict 400s counted');
  expect(metric(url, 'latte_requests_total{route="other",status="404"}') >= 1, '404s counted');
  expect(metric(url, 'latte_speedup_count') >= 8, 'speedups observed');
  expect(metrics.includes('latte_request_duration_seconds_bucket{route="/predict",le="+Inf"}'), 'latency histogram');
  expectEqual(metric(url, 'latte_queue_depth'), 0, 'queue depth at rest');

  // One worker, no queue: while a long request holds the worker, another is refused with 503.
  const long = { inputs: Array(1024).fill('tell me more about the prize and the cruise '.repeat(6)) };
  const busy = await startServer(['--model', model, '--max-inputs', '1024', '--workers', '1', '--max-queue', '0']);
  const first = curlAsync('POST', `${busy.url}/predict`, long);
  await waitFor(() => metric(busy.url, 'latte_workers_busy') === 1, 'the worker to be busy');
  const refused = curl('POST', `${busy.url}/predict`, { inputs: 'a' });
  expectError(refused, 503, 'capacity', 'beyond the queue');
  expect(refused.headers['retry-after'] !== undefined, '503 carries Retry-After');
  // SIGTERM while it runs: the request in flight is answered, then the server exits 0.
  const exited = new Promise((resolve) => busy.process.on('exit', (code) => resolve(code)));
  busy.process.kill('SIGTERM');
  const answered = await first;
  expectEqual(answered.status, 200, 'the request in flight at SIGTERM');
  expectEqual(JSON.parse(answered.body).length, 1024, 'its answer is whole');
  expectEqual(await exited, 0, 'exit status after SIGTERM');

  // Requests that wait together run in one packed pass (--max-batch-tokens), each at its own knob,
  // each answered as it is alone.
  const packer = await startServer(['--model', model, '--max-inputs', '1024', '--workers', '1']);
  const asks = [0, 1, 2, 3, 4, 5].map((i) => ({
    inputs: `${texts[i % 2]} ${'again '.repeat(i)}`, raw_scores: true, ...(i % 3 === 1 ? { latte: { speedup: 2 } } : {}),
  }));
  const alone = asks.map((ask) => curl('POST', `${packer.url}/predict`, ask).json[0]);
  expect(alone.every((answer) => answer.latte.pass_inputs === 1), 'a request alone runs alone');
  // A request that holds the worker while the others arrive and wait together (not so long that a
  // sanitizer build takes minutes over it).
  const holder = curlAsync('POST', `${packer.url}/predict`, long);
  await waitFor(() => metric(packer.url, 'latte_workers_busy') === 1, 'the worker to be busy');
  const packed = await Promise.all(asks.map((ask) => curlAsync('POST', `${packer.url}/predict`, ask)));
  expectEqual((await holder).status, 200, 'the request holding the worker');
  const passes = packed.map((response) => (response.status === 200 ? JSON.parse(response.body)[0].latte.pass_inputs : 0));
  console.log(`serve_check: ${asks.length} requests waiting together ran in passes of ${passes}`);
  expect(Math.max(...passes) >= 2, `requests waiting together shared a pass (passes of ${passes})`);
  packed.forEach((response, i) => {
    expectEqual(response.status, 200, `packed request ${i}`);
    const answer = JSON.parse(response.body)[0];
    expectEqual(answer.latte.speedup, i % 3 === 1 ? 2 : 1, `request ${i} kept its own knob`);
    expectEqual(answer.latte.kept, alone[i].latte.kept, `request ${i}: kept word-vectors as alone`);
    expectEqual(answer.label, alone[i].label, `request ${i}: label as alone`);
    expect(Math.abs(answer.score - alone[i].score) < 1e-4, `request ${i}: score ${answer.score} vs ${alone[i].score}`);
  });

  // An API key: every route but /health needs it.
  const keyed = await startServer(['--model', model], { LATTE_API_KEY: 'sesame' });
  expectEqual(curl('GET', `${keyed.url}/health`).status, 200, '/health without a key');
  expectError(curl('POST', `${keyed.url}/predict`, { inputs: 'a' }), 401, 'API key', 'no key');
  expectError(curl('GET', `${keyed.url}/metrics`, undefined, { Authorization: 'Bearer wrong' }), 401, 'API key',
              'wrong key');
  expectEqual(curl('POST', `${keyed.url}/predict`, { inputs: 'a' }, { Authorization: 'Bearer sesame' }).status, 200,
              'the right key');

  // A latency objective (--slo-ms). With room to spare a request runs dense and says so.
  const text = 'win a free cruise now, reply with your bank details';
  const roomy = await startServer(['--model', model, '--slo-ms', '100000']);
  const relaxed = curl('POST', `${roomy.url}/predict`, { inputs: text }).json[0].latte;
  expectEqual([relaxed.speedup, relaxed.predicted_speedup, relaxed.objective_ms], [1, 1, 100000],
              'an objective with room: dense');
  expect(relaxed.budget_ms > 0 && relaxed.budget_ms <= 100000, `budget ${relaxed.budget_ms} within the objective`);
  const later = curl('POST', `${roomy.url}/predict`, { inputs: text }).json[0].latte;
  expectEqual(later.target_ms, 100000, 'answers in time: the objective aims at itself');
  // An objective nothing meets: the request runs the fastest schedule...
  const tight = await startServer(['--model', model, '--max-inputs', '1024', '--slo-ms', '0.001', '--workers', '1']);
  const rushed = curl('POST', `${tight.url}/predict`, { inputs: text }).json[0].latte;
  expect(rushed.speedup > 1 && rushed.predicted_speedup > 1 && rushed.objective_ms === 0.001,
         `an objective nothing meets runs the fastest schedule: ${JSON.stringify(rushed)}`);
  const fastest = curl('POST', `${tight.url}/predict`, { inputs: text, latte: { speedup: 1000 } }).json[0].latte;
  expectEqual(rushed.kept, fastest.kept, 'the fastest schedule is what speedup 1000 plans');
  // Its answers are late, so it aims below the objective (about 1 % of answers may miss).
  curl('POST', `${tight.url}/predict`, { inputs: text });
  const aimed = curl('POST', `${tight.url}/predict`, { inputs: text }).json[0].latte;
  expect(aimed.target_ms < aimed.objective_ms && aimed.target_ms >= 0.25 * aimed.objective_ms,
         `late answers make the objective aim lower: ${JSON.stringify(aimed)}`);
  expectEqual(metric(tight.url, 'latte_objective_seconds'), 0.000001, '/metrics: the objective');
  const target = metric(tight.url, 'latte_objective_target_seconds');
  expect(target < 0.000001 && target >= 0.00000025, `/metrics: the objective's aim, lowered: ${target}`);
  expectEqual(metric(roomy.url, 'latte_objective_target_seconds'), 100, '/metrics: an objective met aims at itself');
  // ...a request carrying its own knob keeps it...
  const own = curl('POST', `${tight.url}/predict`, { inputs: text, latte: { speedup: 1.5 } }).json[0].latte;
  expect(own.speedup === 1.5 && own.objective_ms === undefined, `a request's own knob is kept: ${JSON.stringify(own)}`);
  // ...and one that would wait behind a busy worker is refused at once, not queued.
  const holding = curlAsync('POST', `${tight.url}/predict`, long);
  await waitFor(() => metric(tight.url, 'latte_workers_busy') === 1, 'the worker to be busy');
  const shed = curl('POST', `${tight.url}/predict`, { inputs: text });
  expectError(shed, 503, 'latency objective of 0.001 ms', 'a request the objective cannot serve');
  expect(shed.headers['retry-after'] !== undefined, 'the objective\'s 503 carries Retry-After');
  expectEqual((await holding).status, 200, 'the request holding the worker');
  // --max-speedup caps the speedups the objective chooses (a quality budget), not a request's own.
  const capped = await startServer(['--model', model, '--slo-ms', '0.001', '--max-speedup', '1.5']);
  const held = curl('POST', `${capped.url}/predict`, { inputs: text }).json[0].latte;
  expect(held.speedup > 1 && held.speedup <= 1.5 && held.predicted_speedup <= rushed.predicted_speedup,
         `an objective nothing meets runs at --max-speedup 1.5 at most: ${JSON.stringify(held)}`);
  const uncapped = curl('POST', `${capped.url}/predict`, { inputs: text, latte: { speedup: 3 } }).json[0].latte;
  expectEqual(uncapped.speedup, 3, 'a request\'s own knob is not capped by --max-speedup');
  const badFlags = [['--slo-ms', '0'], ['--slo-ms', '-5'], ['--slo-ms', 'nan'], ['--slo-ms', 'soon'],
                    ['--max-speedup', '0.5'], ['--max-speedup', 'inf'], ['--max-speedup', '2'],
                    ['--max-batch-tokens', '-1'], ['--max-batch-tokens', 'many'], ['--max-streams', '0'],
                    ['--max-streams', '300'], ['--max-streams', 'x'], ['--max-stall-ms', '0'],
                    ['--max-stall-ms', 'nan']];
  for (const [flag, bad] of badFlags) {
    let error = '';
    try {
      run(['serve', '--model', model, '--port', '0', flag, bad]);
    } catch (failure) {
      error = String(failure.stderr);
    }
    expect(error.includes(flag) && error.trim().split('\n').length === 1,
           `${flag} ${bad}: one error line naming the flag, got "${error}"`);
  }
}

async function checkDecoderCurl() {
  const { gpt2, llama } = makeDecoders();
  const server = await startServer(['--model', gpt2]);
  const url = server.url;
  const models = curl('GET', `${url}/v1/models`);
  expectEqual(models.json.data[0].id, 'gpt2', '/v1/models');
  expectEqual(metric(url, 'latte_streams'), 4, 'a decoder-only worker decodes 4 streams by default');

  const prompt = 'The quick brown fox';
  const cli = generateCli(gpt2, prompt, 8);
  const greedy = curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0 });
  expectEqual(greedy.status, 200, '/v1/completions');
  expectEqual(greedy.json.choices[0].text, cli.text, 'greedy completion vs latte generate');
  expectEqual(greedy.json.usage.completion_tokens, cli.ids.length, 'usage.completion_tokens');
  expectEqual(greedy.json.usage.prompt_tokens, cli.prompt_ids.length, 'usage.prompt_tokens');
  expectEqual(greedy.json.latte.kept.length, 2, 'latte report beside usage');
  expectEqual(greedy.json.object, 'text_completion', 'object');

  const byIds = curl('POST', `${url}/v1/completions`, { prompt: cli.prompt_ids, max_tokens: 8, temperature: 0 });
  expectEqual(byIds.status, 200, '/v1/completions with a token-id prompt');
  expectEqual(byIds.json.choices[0].text, cli.text, 'token-id prompt vs the same prompt as text');
  expectEqual(byIds.json.usage.prompt_tokens, cli.prompt_ids.length, 'token-id prompt: usage.prompt_tokens');
  const vocab = JSON.parse(fs.readFileSync(path.join(gpt2, 'config.json'), 'utf8')).vocab_size;
  expectError(curl('POST', `${url}/v1/completions`, { prompt: [1, vocab], max_tokens: 2 }), 400,
              `'prompt[1]': token id ${vocab} is outside`, 'token id beyond the vocabulary');

  const streamed = curl('POST', `${url}/v1/completions`,
                        { prompt, max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true } });
  expectEqual(streamed.status, 200, 'streamed completion');
  expect(streamed.headers['content-type'].startsWith('text/event-stream'), 'SSE content type');
  const events = sseEvents(streamed.body);
  expectEqual(events[events.length - 1], '[DONE]', 'the stream ends with [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
  expectEqual(chunks.map((c) => (c.choices[0] ? c.choices[0].text : '')).join(''), cli.text,
              'streamed text vs latte generate');
  expectEqual(chunks[chunks.length - 1].usage.completion_tokens, cli.ids.length, 'usage chunk');

  // A stop sequence from inside the greedy text: the answer ends before it.
  const stop = cli.text.slice(4, 6);
  const stopped = curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0, stop });
  expectEqual(stopped.json.choices[0].text, cli.text.slice(0, cli.text.indexOf(stop)), 'text ends before the stop');
  expectEqual(stopped.json.choices[0].finish_reason, 'stop', 'finish_reason stop');
  const stoppedStream = sseEvents(curl('POST', `${url}/v1/completions`,
                                       { prompt, max_tokens: 8, temperature: 0, stop, stream: true }).body);
  expectEqual(stoppedStream.slice(0, -1).map((e) => JSON.parse(e).choices[0].text).join(''),
              cli.text.slice(0, cli.text.indexOf(stop)), 'streamed text ends before the stop');

  const sampled = { prompt, max_tokens: 8, temperature: 0.9, top_p: 0.95, seed: 11 };
  expectEqual(curl('POST', `${url}/v1/completions`, sampled).json.choices[0].text,
              generateCli(gpt2, prompt, 8, ['--temperature', '0.9', '--top-p', '0.95', '--seed', '11']).text,
              'seeded sampling vs latte generate');
  const fast = curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 4, temperature: 0, latte: { speedup: 2 } });
  expectEqual(fast.json.choices[0].text, generateCli(gpt2, prompt, 4, ['--speedup', '2']).text,
              'speedup 2 vs latte generate --speedup 2');
  expectEqual(fast.json.latte.speedup, 2, 'the speedup it ran at');

  // Bad input.
  expectError(curl('POST', `${url}/v1/completions`, { prompt, n: 2 }), 400, "'n'", 'n > 1');
  expectError(curl('POST', `${url}/v1/completions`, { prompt, logprobs: 3 }), 400, "'logprobs'", 'logprobs');
  expectError(curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 0 }), 400, 'at least 1', 'max_tokens 0');
  expectError(curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 256 }), 400, 'at most 256 tokens',
              'max_tokens beyond the context');
  expectError(curl('POST', `${url}/v1/completions`, { prompt: 'fox '.repeat(300), max_tokens: 4 }), 400,
              'takes at most', 'prompt over the context');
  expectError(curl('POST', `${url}/v1/completions`, { prompt, latte: { speedup: 2, foo: 1 } }), 400,
              "unknown field 'foo'", 'unknown latte field');
  expectError(curl('POST', `${url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] }), 400,
              'no chat template', 'chat without a template');
  expectError(curl('PUT', `${url}/v1/completions`, { prompt }), 405, 'use POST', 'wrong method');
  expectError(curl('POST', `${url}/predict`, { inputs: 'a' }), 404, 'no route', 'predict on a decoder');

  // A client gone mid-stream ends its generation and frees its worker. A 6-layer GPT-2 (latte init
  // is seeded: the same weights every run) generates slowly enough that the run is cut short.
  const small = path.join(work, 'gpt2-small');
  run(['init', '--family', 'gpt2', '--preset', 'small', '--tokenizer',
       path.join(source, 'tests/data/gpt2_tokenizer/small'), '--out', small]);
  const smallServer = await startServer(['--model', small]);
  const long = { prompt, max_tokens: 120, temperature: 0, stream: true };
  const whole = sseEvents(curl('POST', `${smallServer.url}/v1/completions`,
                               { ...long, stream_options: { include_usage: true } }).body);
  expectEqual(JSON.parse(whole[whole.length - 2]).usage.completion_tokens, 120, 'the whole stream, read to the end');
  const before = metric(smallServer.url, 'latte_generated_tokens_total');
  await new Promise((resolve) => {
    const client = spawn('curl', ['-s', '-N', '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary',
                                  JSON.stringify(long), `${smallServer.url}/v1/completions`]);
    client.stdout.once('data', () => client.kill('SIGKILL'));
    client.on('exit', resolve);
  });
  await waitFor(() => metric(smallServer.url, 'latte_generated_tokens_total') > before &&
                      metric(smallServer.url, 'latte_workers_busy') === 0, 'the abandoned stream to end');
  const abandoned = metric(smallServer.url, 'latte_generated_tokens_total') - before;
  console.log(`serve_check: the abandoned stream generated ${abandoned} of 120 tokens`);
  // --max-stall-ms: a prefill joining streams that decode runs a few layers at a time between their
  // steps (here a layer a time: no layer fits the bound); alone it runs whole. Either way the answer
  // is the same, and the knob is the request's (or the server's default).
  const staller = await startServer(['--model', small, '--max-stall-ms', '0.001']);
  const smallLayers = JSON.parse(fs.readFileSync(path.join(small, 'config.json'), 'utf8')).n_layer;
  const joinAsk = { prompt: Array(12).fill(prompt).join(' '), max_tokens: 2, temperature: 0 };
  const lone = curl('POST', `${staller.url}/v1/completions`, joinAsk).json;
  expect(lone.latte.prefill_pieces === 1 && lone.latte.streams === 1,
         `a generation alone runs its prefill whole: ${JSON.stringify(lone.latte)}`);
  let joined = null, ownJoin = null;
  await new Promise((resolve) => {
    const client = spawn('curl', ['-s', '-N', '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary',
                                  JSON.stringify({ prompt, max_tokens: 400, temperature: 0, stream: true }),
                                  `${staller.url}/v1/completions`]);
    client.stdout.once('data', () => {
      joined = curl('POST', `${staller.url}/v1/completions`, joinAsk).json;
      ownJoin = curl('POST', `${staller.url}/v1/completions`, { ...joinAsk, latte: { speedup: 2 } }).json.latte;
      client.kill('SIGKILL');
    });
    client.on('exit', resolve);
  });
  expect(joined.latte.prefill_pieces === smallLayers && joined.latte.streams >= 2,
         `a generation joining others runs its prefill a layer at a time between their steps: ` +
         JSON.stringify(joined.latte));
  expectEqual(joined.choices[0].text, lone.choices[0].text, 'the answer of a prefill run in pieces');
  expectEqual(JSON.stringify(joined.latte.kept), JSON.stringify(lone.latte.kept), 'its kept word-vectors');
  expect(ownJoin.speedup === 2 && ownJoin.prefill_pieces === smallLayers,
         `a request's own knob is kept under --max-stall-ms: ${JSON.stringify(ownJoin)}`);
  let stallError = '';
  try {
    run(['serve', '--model', path.join(source, 'models/default'), '--port', '0', '--max-stall-ms', '5']);
  } catch (failure) {
    stallError = String(failure.stderr);
  }
  expect(stallError.includes('--max-stall-ms') && stallError.trim().split('\n').length === 1,
         `--max-stall-ms on an encoder: one error line, got "${stallError}"`);
  expect(abandoned < 60, `the abandoned stream stopped early: ${abandoned} of 120 tokens generated`);
  expectEqual(curl('POST', `${url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0 }).json.choices[0].text,
              cli.text, 'answers go on after a disconnect');

  // Continuous batching (--max-streams, default 4): generations running at once share each decode
  // step, each answered as it is alone (greedy, seeded sampling, its own speedup).
  const asks = ['The quick brown fox', 'Once upon a time', 'In the beginning the', 'She said that'].map(
    (text, i) => ({ prompt: text, max_tokens: 12, temperature: i === 1 ? 0.8 : 0, seed: 5,
                    ...(i === 2 ? { latte: { speedup: 2 } } : {}) }));
  const alone = asks.map((ask) => curl('POST', `${smallServer.url}/v1/completions`, ask).json);
  expect(alone.every((answer) => answer.latte.streams === 1), 'a generation alone decodes alone');
  const together = (await Promise.all(asks.map((ask) => curlAsync('POST', `${smallServer.url}/v1/completions`, ask))))
    .map((response) => JSON.parse(response.body));
  together.forEach((answer, i) => {
    expectEqual(answer.choices[0].text, alone[i].choices[0].text, `generation ${i} decoded with others vs alone`);
    expectEqual(answer.latte.kept, alone[i].latte.kept, `generation ${i}: its own prefill schedule`);
  });
  const most = Math.max(...together.map((answer) => answer.latte.streams));
  console.log(`serve_check: at most ${most} generations decoded together`);
  expect(most >= 2, `concurrent generations shared decode steps (streams ${together.map((a) => a.latte.streams)})`);
  // Under a latency objective each worker is one line: a generation handed to a worker busy with
  // others' prefills and steps is predicted to wait for them (none waits alone).
  const sloServer = await startServer(['--model', small, '--slo-ms', '100000']);
  const longAsk = { prompt: Array(25).fill(prompt).join(' '), max_tokens: 6, temperature: 0 };
  const first = curl('POST', `${sloServer.url}/v1/completions`, longAsk).json.latte;
  expectEqual(first.predicted_wait_ms, 0, 'a generation alone waits for nothing');
  const lined = (await Promise.all(asks.map(() => curlAsync('POST', `${sloServer.url}/v1/completions`, longAsk))))
    .map((response) => JSON.parse(response.body).latte.predicted_wait_ms);
  console.log(`serve_check: predicted waits of 4 concurrent generations ${lined.map((ms) => ms.toFixed(1))} ms`);
  expect(lined.every((ms) => ms >= 0) && Math.max(...lined) > 0,
         `concurrent generations are predicted to wait for the line ahead: ${lined}`);
  // A time to first token the objective cannot meet (one generation at a time: a lone request is
  // admitted): the late first tokens make it aim lower.
  const tightDecoder = await startServer(['--model', small, '--slo-ms', '0.001', '--max-streams', '1']);
  for (let i = 0; i < 2; ++i) curl('POST', `${tightDecoder.url}/v1/completions`, { prompt, max_tokens: 2 });
  const aimedLower = curl('POST', `${tightDecoder.url}/v1/completions`, { prompt, max_tokens: 2 }).json.latte;
  expect(aimedLower.target_ms < aimedLower.objective_ms, `late first tokens lower the aim: ${JSON.stringify(aimedLower)}`);
  const single = await startServer(['--model', gpt2, '--max-streams', '1']);
  expectEqual(curl('POST', `${single.url}/v1/completions`, { prompt, max_tokens: 8, temperature: 0 }).json.choices[0].text,
              cli.text, '--max-streams 1: one generation at a time, the same answer');
  // There a worker's compute thread runs the generation and sends each streamed piece.
  const singleEvents = sseEvents(curl('POST', `${single.url}/v1/completions`,
                                      { prompt, max_tokens: 8, temperature: 0, stream: true }).body);
  expectEqual(singleEvents.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.text ?? '').join(''), cli.text,
              '--max-streams 1: the streamed text');
  expect(metric(url, 'latte_generated_tokens_total') >= 24, 'tokens generated counted');
  expect(metric(url, 'latte_time_to_first_token_seconds_count') >= 3, 'time to first token observed');

  // An encoder-decoder (T5) through the same route and generate path.
  const t5 = path.join(work, 't5');
  run(['init', '--family', 't5', '--preset', 'tiny', '--tokenizer', path.join(source, 'tests/data/t5_tokenizer'),
       '--out', t5]);
  const t5Server = await startServer(['--model', t5]);
  const t5Prompt = 'translate: hello world';
  expectEqual(curl('POST', `${t5Server.url}/v1/completions`, { prompt: t5Prompt, max_tokens: 5, temperature: 0 })
    .json.choices[0].text, generateCli(t5, t5Prompt, 5).text, 'T5 completion vs latte generate');
  const t5Events = sseEvents(curl('POST', `${t5Server.url}/v1/completions`,
                                  { prompt: t5Prompt, max_tokens: 5, temperature: 0, stream: true }).body);
  expectEqual(t5Events.slice(0, -1).map((e) => JSON.parse(e).choices[0]?.text ?? '').join(''),
              generateCli(t5, t5Prompt, 5).text, 'T5 streamed completion vs latte generate');
  // Encoder-decoders batch too: each source encoded on its own, the decoder steps shared.
  const t5Asks = ['translate: hello world', 'summarize: the cat sat on the mat', 'question: why', 'answer: yes'].map(
    (text, i) => ({ prompt: text, max_tokens: 400, temperature: i === 1 ? 0.8 : 0, seed: 3,
                    ...(i === 2 ? { latte: { speedup: 2 } } : {}) }));
  const t5Alone = t5Asks.map((ask) => curl('POST', `${t5Server.url}/v1/completions`, ask).json);
  const t5Together = (await Promise.all(t5Asks.map((ask) => curlAsync('POST', `${t5Server.url}/v1/completions`, ask))))
    .map((response) => JSON.parse(response.body));
  t5Together.forEach((answer, i) => {
    expectEqual(answer.choices[0].text, t5Alone[i].choices[0].text, `T5 generation ${i} decoded with others vs alone`);
    expectEqual(answer.latte.kept, t5Alone[i].latte.kept, `T5 generation ${i}: its own encoder schedule`);
  });
  const t5Most = Math.max(...t5Together.map((answer) => answer.latte.streams));
  console.log(`serve_check: at most ${t5Most} T5 generations decoded together ` +
              `(${t5Together.map((a) => a.usage.completion_tokens)} tokens)`);
  expect(t5Most >= 2, `concurrent T5 generations shared decode steps (streams ${t5Together.map((a) => a.latte.streams)})`);
  // --max-stall-ms takes encoder-decoders (their encoder and memory projections run in pieces when
  // others decode; tests/test_batch_decode.cpp): alone, a generation's answer and one piece.
  const t5Staller = await startServer(['--model', t5, '--max-stall-ms', '0.001']);
  const t5Lone = curl('POST', `${t5Staller.url}/v1/completions`, t5Asks[0]).json;
  expectEqual(t5Lone.choices[0].text, t5Alone[0].choices[0].text, 'T5 under --max-stall-ms, alone');
  expectEqual(t5Lone.latte.prefill_pieces, 1, 'T5 alone: its encoder in one piece');

  // Chat on a folder with Llama 3's template.
  const chatServer = await startServer(['--model', llama]);
  const chat = curl('POST', `${chatServer.url}/v1/chat/completions`,
                    { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }],
                      max_tokens: 6, temperature: 0 });
  expectEqual(chat.status, 200, 'chat completion');
  const chatCli = generateCli(llama, 'Hello there', 6, ['--chat', '--system', 'Be brief.']);
  expectEqual(chat.json.choices[0].message.content, chatCli.text.replace(/<\|eot_id\|>$/, ''),
              'chat answer vs latte generate --chat');
  expectEqual(chat.json.choices[0].message.role, 'assistant', 'chat role');
}

async function checkOpenAiClient() {
  const modulePath = path.join(source, 'tools/golden/node_modules/openai/index.js');
  if (!fs.existsSync(modulePath)) {
    console.log('serve_check (openai): SKIPPED: tools/golden/node_modules/openai is missing ' +
                '(npm ci --prefix tools/golden installs it)');
    process.exit(77);
  }
  const OpenAI = (await import(modulePath)).default;
  const { gpt2, llama } = makeDecoders();
  const server = await startServer(['--model', gpt2], { LATTE_API_KEY: 'sesame' });
  const client = new OpenAI({ apiKey: 'sesame', baseURL: `${server.url}/v1`, maxRetries: 0, timeout: 60_000 });
  const prompt = 'The quick brown fox';
  const cli = generateCli(gpt2, prompt, 8);
  const models = await client.models.list();
  expectEqual(models.data.map((m) => m.id), ['gpt2'], 'models.list');
  const completion = await client.completions.create({ model: 'gpt2', prompt, max_tokens: 8, temperature: 0 });
  expectEqual(completion.choices[0].text, cli.text, 'openai completions.create vs latte generate');
  expectEqual(completion.usage.completion_tokens, cli.ids.length, 'openai usage');
  const byIds = await client.completions.create({ model: 'gpt2', prompt: cli.prompt_ids, max_tokens: 8, temperature: 0 });
  expectEqual(byIds.choices[0].text, cli.text, 'openai completions.create with a token-id prompt');
  let streamed = '';
  const stream = await client.completions.create({ model: 'gpt2', prompt, max_tokens: 8, temperature: 0, stream: true });
  for await (const part of stream) streamed += part.choices[0] ? part.choices[0].text : '';
  expectEqual(streamed, cli.text, 'openai streamed completion vs latte generate');
  try {
    await client.completions.create({ model: 'gpt2', prompt, n: 3 });
    fail('n: 3 was accepted');
  } catch (error) {
    expectEqual(error.status, 400, 'openai client sees the 400');
    expect(String(error.message).includes("'n'"), `openai error names the field: ${error.message}`);
  }
  const wrongKey = new OpenAI({ apiKey: 'wrong', baseURL: `${server.url}/v1`, maxRetries: 0 });
  try {
    await wrongKey.models.list();
    fail('a wrong key was accepted');
  } catch (error) {
    expectEqual(error.status, 401, 'openai client sees the 401');
  }

  const chatServer = await startServer(['--model', llama]);
  const chatClient = new OpenAI({ apiKey: 'unused', baseURL: `${chatServer.url}/v1`, maxRetries: 0 });
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hello there' }];
  const expected = generateCli(llama, 'Hello there', 6, ['--chat', '--system', 'Be brief.']).text
    .replace(/<\|eot_id\|>$/, '');
  const chat = await chatClient.chat.completions.create({ model: 'llama', messages, max_tokens: 6, temperature: 0 });
  expectEqual(chat.choices[0].message.content, expected, 'openai chat vs latte generate --chat');
  let chatStreamed = '';
  const chatStream = await chatClient.chat.completions.create(
    { model: 'llama', messages, max_tokens: 6, temperature: 0, stream: true });
  for await (const part of chatStream) chatStreamed += (part.choices[0] && part.choices[0].delta.content) || '';
  expectEqual(chatStreamed, expected, 'openai streamed chat vs latte generate --chat');
}

try {
  if (mode === 'curl') {
    await checkEncoder();
    await checkDecoderCurl();
  } else {
    await checkOpenAiClient();
  }
} catch (error) {
  fail(error.stack || String(error));
}
console.log(`serve_check (${mode}): ${checks} checks passed`);
process.exit(0);
