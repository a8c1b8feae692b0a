/** The runtime started with UPPERSTACK_LOG_FORMAT=json writes only JSON lines, node messages with their node. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRuntime } from '../helpers/runtime';

test('every line the runtime prints is a JSON object; node messages name their node', { timeout: 120_000 }, async () => {
  const rt = await startRuntime({ env: { UPPERSTACK_LOG_FORMAT: 'json' } });
  await new Promise((r) => setTimeout(r, 1000));
  await rt.stop();
  const out = rt.output();
  const lines = out.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length > 5, out);
  const parsed = lines.map((l) => {
    try {
      return JSON.parse(l) as { time: string; level: string; msg: string; node?: { id: string; type: string } };
    } catch {
      assert.fail(`not a JSON line: ${l}`);
    }
  });
  for (const p of parsed) {
    assert.ok(!Number.isNaN(Date.parse(p.time)), p.time);
    assert.match(p.level, /^(fatal|error|warn|info|debug|trace)$/);
  }
  assert.ok(parsed.some((p) => /Started flows/.test(p.msg)), 'the runtime\'s own messages');
  const broker = parsed.find((p) => p.node?.type === 'upperstack-broker');
  assert.ok(broker, 'a node message with its node');
  assert.equal(typeof broker!.node!.id, 'string');
});
