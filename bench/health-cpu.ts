/**
 * What one GET costs a running runtime in CPU (docs/performance.md, "/health on an idle runtime"):
 *
 *   node dist/bench/health-cpu.js <pid> <port> [requests=500] [clients=1] [path=/health]
 *
 * `clients` keep-alive connections send `requests` GETs in all, each client one after another. The
 * runtime's CPU (`/proc/<pid>/stat` utime + stime, every thread) is read before and after; what it used
 * idle over the same wall time, read right after, is taken off. Prints one JSON line.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { procSample } from './common';

const [pid, port, requests = '500', clients = '1', path = '/health'] = process.argv.slice(2);
if (!pid || !port) {
  console.error('usage: node dist/bench/health-cpu.js <pid> <port> [requests] [clients] [path]');
  process.exit(2);
}
/** The runtime's CPU so far (every thread), in ms. */
function cpuMs(): number {
  const sample = procSample(Number(pid));
  if (!sample) throw new Error(`no process ${pid}`);
  return sample.cpu * 1000;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: Number(clients) });
const get = () =>
  new Promise<number>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: Number(port), path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });

async function main(): Promise<void> {
  await get();
  const c0 = cpuMs();
  const t0 = performance.now();
  let left = Number(requests);
  const codes: Record<number, number> = {};
  await Promise.all(
    Array.from({ length: Number(clients) }, async () => {
      while (left-- > 0) {
        const code = await get();
        codes[code] = (codes[code] ?? 0) + 1;
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const used = cpuMs() - c0;
  const i0 = cpuMs();
  await new Promise((r) => setTimeout(r, wallMs));
  const idle = cpuMs() - i0;
  agent.destroy();
  console.log(JSON.stringify({ path, requests: Number(requests), clients: Number(clients), codes, wallMs: Math.round(wallMs), cpuMs: used, idleCpuMs: idle, cpuPerRequestMs: Number(((used - idle) / Number(requests)).toFixed(3)) }));
}

void main();
