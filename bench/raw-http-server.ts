/**
 * The HTTP rows' ceiling: a bare node:http server that reads each body,
 * JSON.parses it, counts its readings and answers 202 — no framework, no
 * journal, no store. Forked by bench/inputs.ts; `GET /count?prefix=` answers
 * how many readings of devices with that prefix it has seen.
 */
import { createServer } from 'node:http';

const counts = new Map<string, number>();

const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url.startsWith('/count')) {
    const prefix = new URL(url, 'http://x').searchParams.get('prefix') ?? '';
    let n = 0;
    for (const [d, c] of counts) if (d.startsWith(prefix)) n += c;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ count: n }));
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      const device = decodeURIComponent(url.split('/').pop() ?? '');
      counts.set(device, (counts.get(device) ?? 0) + (Array.isArray(body) ? body.length : 1));
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    } catch {
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
    }
  });
});

server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('disconnect', () => process.exit(0));
