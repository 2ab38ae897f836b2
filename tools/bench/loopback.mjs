// What the serving benchmarks share (serve_load, serve_streams, serve_stall): their flags and an
// HTTP client of /v1/completions, on loopback only.
import http from 'node:http';

// `--flag value` pairs into `defaults`' copy: `names` maps each flag to its key, and keys listed in
// `strings` keep their text (the others become numbers). A `url` must name a loopback host; it is
// returned parsed as `url` (its host without brackets as `host`, its port as `port`).
export function parseFlags(tool, argv, defaults, names, strings) {
  const args = {...defaults};
  for (let i = 2; i < argv.length; i += 2) {
    const name = names[argv[i]];
    if (!name || i + 1 >= argv.length) throw new Error(`${tool}: unknown or incomplete flag ${argv[i]}`);
    args[name] = strings.includes(name) ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (args.url === undefined) throw new Error(`${tool}: --url is required`);
  const url = new URL(args.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) throw new Error(`${tool}: loopback URLs only`);
  return {...args, url, host: url.hostname.replace(/[[\]]/g, ''), port: Number(url.port)};
}

// A keep-alive client of POST /v1/completions: complete(body, onToken) resolves with the answer's
// text (rejects on a status other than 200); for a streamed body, onToken(time) is called at each
// event that carries text.
export function completionClient(args, maxSockets) {
  const agent = new http.Agent({keepAlive: true, maxSockets});
  const complete = (body, onToken = () => {}) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const request = http.request({host: args.host, port: args.port, path: '/v1/completions', method: 'POST', agent,
                                  headers: {'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data)},
                                  timeout: 600000}, (response) => {
      let text = '';
      let pending = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        text += chunk;
        if (!body.stream) return;
        pending += chunk;
        const events = pending.split('\n\n');
        pending = events.pop();
        for (const event of events) {
          if (event.startsWith('data: {') && JSON.parse(event.slice(6)).choices?.[0]?.text) onToken(performance.now());
        }
      });
      response.on('end', () => (response.statusCode === 200 ? resolve(text)
                                                              : reject(new Error(`${response.statusCode}: ${text}`))));
    });
    request.on('error', reject);
    request.end(data);
  });
  return {complete, close: () => agent.destroy()};
}
