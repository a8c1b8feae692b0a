/**
 * An upperstack-coap-in node in the test runtime, for node tests that talk to it with libcoap's
 * coap-client-notls: loaded on a free UDP port with its two outputs collected, and ready once its
 * socket answers discovery.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import helper from 'node-red-node-test-helper';
import type { Reading } from '../../nodes/lib/reading';
import { freeUdpPort } from './ports';

const run = promisify(execFile);

export type CoapIn = { id: string; port: number; stored: Reading[]; failed: Array<Record<string, unknown>> };

/**
 * Loads `modules` with a coap-in node (`input`: its id and options beyond port and bind) wired to two helper nodes,
 * `ok` and `bad`, plus `others`; `stored` gets every reading the first output sends, `failed` every message of the second.
 */
export async function loadCoapIn(modules: unknown[], input: Record<string, unknown>, others: Array<Record<string, unknown>> = []): Promise<CoapIn> {
  const port = await freeUdpPort();
  const stored: Reading[] = [];
  const failed: Array<Record<string, unknown>> = [];
  await helper.load(modules as Parameters<typeof helper.load>[0], [
    { type: 'upperstack-coap-in', port: String(port), bind: '127.0.0.1', maxBytes: 8192, ...input, wires: [['ok'], ['bad']] },
    ...others,
    { id: 'ok', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const onInput = (id: string, fn: (msg: Record<string, unknown>) => void) => (helper.getNode(id) as unknown as { on(e: 'input', f: (m: Record<string, unknown>) => void): void }).on('input', fn);
  onInput('ok', (msg) => {
    const p = msg.payload as Reading | Reading[];
    for (const r of Array.isArray(p) ? p : [p]) stored.push(r);
  });
  onInput('bad', (msg) => failed.push(msg));
  // The socket is bound some time after the load: until then discovery goes unanswered.
  for (let i = 0; i < 100; i++) {
    const res = await coapClient(['-m', 'get', '-B', '1', `coap://127.0.0.1:${port}/.well-known/core`]);
    if (res.includes('telemetry')) return { id: String(input.id), port, stored, failed };
  }
  throw new Error('coap in did not start listening');
}

/**
 * A file's `load`: each call loads a fresh input (`loadCoapIn` with `modules` and `others`), its id `prefix` and a count,
 * with `extra` options. Fresh per test, journal and all: the helper nodes settle nothing, so a reused journal would replay.
 */
export function coapInLoader(modules: unknown[], prefix: string, others: Array<Record<string, unknown>> = []): (extra?: Record<string, unknown>) => Promise<CoapIn> {
  let loads = 0;
  return (extra = {}) => loadCoapIn(modules, { id: `${prefix}${++loads}`, ...extra }, others);
}

/** coap-client-notls's stdout and stderr; rejected, with both on the error, when it exits with a failure. */
export function coapRun(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('coap-client-notls', args, { timeout: 20_000 });
}

/** What coap-client-notls printed (libcoap prints an error answer and its diagnostic on stderr). */
export async function coapClient(args: string[]): Promise<string> {
  const r = await coapRun(args).catch((e: { stdout?: string; stderr?: string }) => e);
  return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

/** The first value `fn` gives that is not undefined, asked every 50 ms, `tries` times at most. */
export async function waitFor<T>(fn: () => T | undefined, what: string, tries = 600): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
