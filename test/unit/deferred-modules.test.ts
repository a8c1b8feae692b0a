/**
 * Libraries Node-RED and Dashboard 2 require at load are loaded with their
 * first use (scripts/deferred-modules.ts): nothing loads before, and what the
 * requirer gets works as the library itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFERRED_MODULES, deferModule, installDeferredModules, isDeferred } from '../../scripts/deferred-modules';

test('a deferred module loads at its first use, once, and then is the module itself', () => {
  const dir = mkdtempSync(join(tmpdir(), 'us-deferred-'));
  try {
    const path = join(dir, 'lib.js');
    writeFileSync(
      path,
      `globalThis.__loads = (globalThis.__loads ?? 0) + 1;
       class Thing { constructor(v) { this.v = v; } twice() { return this.v * 2; } }
       function lib(a, b) { return a + b; }
       lib.Thing = Thing;
       lib.label = 'lib';
       Object.defineProperty(lib, 'fixed', { value: 42, enumerable: true });
       module.exports = lib;`,
    );
    const g = globalThis as { __loads?: number };
    const req = createRequire(path);
    assert.equal(deferModule(path), true);
    const lib = req(path) as ((a: number, b: number) => number) & { Thing: new (v: number) => { twice(): number }; label: string; fixed: number };
    assert.equal(g.__loads, undefined, 'requiring it ran nothing');
    assert.equal(isDeferred(lib), true);
    assert.equal(lib(2, 3), 5);
    assert.equal(g.__loads, 1);
    assert.equal(new lib.Thing(4).twice(), 8);
    assert.equal(lib.label, 'lib');
    assert.equal(lib.fixed, 42);
    assert.ok('Thing' in lib);
    assert.deepEqual(Object.keys(lib).sort(), ['Thing', 'fixed', 'label']);
    lib.label = 'changed';
    const real = req(path) as typeof lib;
    assert.equal(isDeferred(real), false, 'a later require gets the module itself');
    assert.equal(real.label, 'changed');
    assert.equal(g.__loads, 1, 'loaded once');
    assert.equal(deferModule(path), false, 'a loaded module is left as it is');
  } finally {
    delete (globalThis as { __loads?: number }).__loads;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the libraries Node-RED and Dashboard 2 require are deferred, and work through what their requirers hold', async () => {
  assert.deepEqual(installDeferredModules().sort(), DEFERRED_MODULES.map((m) => m.request).sort());
  const holder = (from: string, request: string): unknown => createRequire(dirname(require.resolve(from)) + '/')(request);
  const lib = Object.fromEntries(DEFERRED_MODULES.map((m) => [m.request, holder(m.from, m.request)]));
  for (const [name, exports] of Object.entries(lib)) assert.equal(isDeferred(exports), true, `${name} not loaded yet`);

  // Node-RED's $moment() and date formats (@node-red/util).
  const util = createRequire(__filename)('@node-red/util').util as {
    evaluateNodeProperty(value: string, type: string, node: unknown, msg: unknown): unknown;
    prepareJSONataExpression(expr: string, node: unknown): unknown;
    evaluateJSONataExpression(expr: unknown, msg: unknown, cb: (err: Error | null, v: unknown) => void): void;
  };
  assert.match(String(util.evaluateNodeProperty('YYYY', 'date', {}, {})), /^\d{4}$/);
  const expr = util.prepareJSONataExpression('$moment("2026-11-30T12:00:00Z").utc().format("YYYY-MM-DD HH:mm")', {});
  const moment = await new Promise((resolve, reject) => util.evaluateJSONataExpression(expr, {}, (err, v) => (err ? reject(err) : resolve(v))));
  assert.equal(moment, '2026-11-30 12:00');

  const yaml = lib['js-yaml'] as { load(s: string): unknown; dump(v: unknown): string };
  assert.deepEqual(yaml.load('a: 1\nb: [x, y]'), { a: 1, b: ['x', 'y'] });
  assert.equal(yaml.dump({ a: 1 }), 'a: 1\n');

  const cheerio = lib.cheerio as { load(html: string): (sel: string) => { text(): string } };
  assert.equal(cheerio.load('<p class="t">hello</p>')('.t').text(), 'hello');

  const multer = lib.multer as ((o: unknown) => { any(): unknown }) & { memoryStorage(): unknown };
  assert.equal(typeof multer({ storage: multer.memoryStorage() }).any(), 'function');

  const tar = lib.tar as { x: unknown };
  assert.equal(typeof tar.x, 'function');

  // Dashboard 2 calls axios.request against the runtime's own admin API.
  const server = createServer((req, res) => res.end(JSON.stringify({ method: req.method, url: req.url })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const axios = lib.axios as { request(o: unknown): Promise<{ status: number; data: unknown }> };
    const r = await axios.request({ method: 'GET', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/flows` });
    assert.equal(r.status, 200);
    assert.deepEqual(r.data, { method: 'GET', url: '/flows' });
  } finally {
    server.close();
  }
  for (const m of DEFERRED_MODULES) assert.equal(isDeferred(holder(m.from, m.request)), false, `${m.request} is the library itself once used`);
});
