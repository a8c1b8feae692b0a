/**
 * For the node tests (node-red-node-test-helper): the helper's runtime started
 * once for a describe block with a data folder of its own, flows unloaded after
 * each test, and the waits and taps those tests share.
 */
import { after, afterEach, before } from 'node:test';
import helper from 'node-red-node-test-helper';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tempDir } from './temp';

/**
 * Call inside a describe block: the runtime starts before its tests with
 * `settings.upperstack.dataDir` a new temporary folder (plus `settings(dir)`),
 * each test's flows are unloaded after it (then `afterEachTest` runs), and the
 * runtime stops after the block.
 */
export function useTestRuntime(prefix: string, opts: { settings?: (dataDir: string) => Record<string, unknown>; afterEachTest?: () => void } = {}): { dataDir: string } {
  const dataDir = tempDir(prefix);
  before(async () => {
    helper.settings({ upperstack: { dataDir }, ...opts.settings?.(dataDir) });
    await helper.startServer();
  });
  after(async () => {
    await helper.stopServer();
  });
  afterEach(async () => {
    await helper.unload();
    opts.afterEachTest?.();
  });
  return { dataDir };
}

/** Waits until `cond` holds, looking every 10 ms; fails naming `what` after `ms` (a cap for a busy machine, not a target). */
export async function until(cond: () => boolean | Promise<boolean>, what = 'condition', ms = 20_000): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every message the node `id` (a helper node) receives from now on. */
export function collect<T>(id: string): T[] {
  const got: T[] = [];
  (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('input', (m: T) => got.push(m));
  return got;
}

/** Hands `msg` to the node `id` as if a wire brought it. */
export function input(id: string, msg: Record<string, unknown>): void {
  (helper.getNode(id) as unknown as { receive(m: unknown): void }).receive(msg);
}

/** A translation as Node-RED's RED._ makes it, from the en-US catalogs of the nodes named (their folders under nodes/); an unknown key comes back as it is. */
export type Translate = (key: string, subs?: Record<string, unknown>) => string;

/**
 * The helper's RED._ returns the key: this looks it up in the nodes' en-US
 * catalogs instead, so a test reads a status or log line as the user does.
 */
export function catalogTranslator(nodeDirs: readonly string[]): Translate {
  const catalog = Object.assign({}, ...nodeDirs.map((n) => JSON.parse(readFileSync(join(__dirname, '..', '..', 'nodes', n, 'locales', 'en-US', `${n}.json`), 'utf8')) as Record<string, unknown>)) as Record<string, unknown>;
  return (key, subs = {}) => {
    const found = key.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), catalog);
    return typeof found === 'string' ? found.replace(/__(\w+)__/g, (_, name: string) => String(subs[name])) : key;
  };
}

/** Loaded as one more node module, installs `translate` as the runtime's RED._. */
export function translating(translate: Translate): (RED: unknown) => void {
  return (RED) => {
    (RED as { _: Translate })._ = translate;
  };
}

/** Serves an Express app (the helper's apps mounted as a test needs them) on a loopback port of its own. */
export async function serveApp(app: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
