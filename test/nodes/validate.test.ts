/**
 * The validate node on a batch: valid readings leave together on output 1,
 * each reading over a limit or against the schema alone on output 2, its error
 * naming its place in the batch.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import helper from 'node-red-node-test-helper';
import { eventually } from '../helpers/runtime';

/* eslint-disable @typescript-eslint/no-require-imports */
const nodes = [require('../../nodes/validate/validate')];

helper.init(require.resolve('node-red'));

before(async () => {
  await helper.startServer();
});
after(async () => {
  await helper.stopServer();
});
afterEach(async () => {
  await helper.unload();
});

type Out = { payload: unknown; error?: { code: string; path?: string; index?: number } };

test('a batch: the good readings on, each bad one alone with its index and path in the batch', async () => {
  await helper.load(nodes, [
    { id: 'v', type: 'upperstack-validate', schemaSource: 'default', maxFields: 3, maxStringLength: 5, maxReadings: 100, configVersion: 2, wires: [['good'], ['bad']] },
    { id: 'good', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const good: Out[] = [];
  const bad: Out[] = [];
  (helper.getNode('good') as unknown as NodeJS.EventEmitter).on('input', (m: Out) => good.push(m));
  (helper.getNode('bad') as unknown as NodeJS.EventEmitter).on('input', (m: Out) => bad.push(m));
  const r = (fields: Record<string, unknown>) => ({ device: 'd1', ts: 1_767_225_600_000, fields, tags: {} });
  helper.getNode('v')!.receive({ payload: [r({ t: 1 }), r({ s: 'too long' }), r({ t: 2 }), r({ 'bad name': 3 })] } as never);
  await eventually(async () => (good.length === 1 && bad.length === 2 ? true : undefined), 15_000, 'both outputs');
  assert.deepEqual(good.map((m) => m.payload), [[r({ t: 1 }), r({ t: 2 })]]);
  assert.equal(bad.length, 2);
  assert.equal(bad[0].error?.code, 'STRING_TOO_LONG');
  assert.equal(bad[0].error?.path, '[1].fields.s');
  assert.equal(bad[0].error?.index, 1);
  assert.equal(bad[1].error?.code, 'SCHEMA_VIOLATION');
  assert.equal(bad[1].error?.index, 3);
  // A single reading over a limit names the field without a batch index.
  bad.length = 0;
  helper.getNode('v')!.receive({ payload: r({ s: 'far too long' }) } as never);
  await eventually(async () => (bad.length === 1 ? true : undefined), 15_000, 'the failure');
  assert.equal(bad[0].error?.path, 'fields.s');
  assert.equal(bad[0].error?.index, undefined);
});

test('a schema file that does not exist: a red status naming it, and every message that arrives fails with that error', async () => {
  await helper.load(nodes, [
    { id: 'v', type: 'upperstack-validate', schemaSource: 'file', schemaFile: 'no-such-schema.json', configVersion: 2, wires: [['good'], ['bad']] },
    { id: 'good', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const v = helper.getNode('v')!;
  const statuses = (v.status as unknown as { getCalls(): Array<{ thisValue: unknown; args: [{ fill?: string; text?: string }] }> })
    .getCalls()
    .filter((c) => c.thisValue === v)
    .map((c) => c.args[0]);
  const last = statuses.at(-1);
  assert.equal(last?.fill, 'red');
  assert.match(String(last?.text), /no-such-schema\.json does not exist/);
  const passed: unknown[] = [];
  (helper.getNode('good') as unknown as NodeJS.EventEmitter).on('input', (m: unknown) => passed.push(m));
  (helper.getNode('bad') as unknown as NodeJS.EventEmitter).on('input', (m: unknown) => passed.push(m));
  let failure: unknown;
  (v as unknown as NodeJS.EventEmitter).on('call:error', (c: { args: unknown[] }) => {
    if (c.args[1]) failure = c.args[0];
  });
  v.receive({ payload: { device: 'd1', ts: 1_767_225_600_000, fields: { t: 1 }, tags: {} } } as never);
  await eventually(async () => failure, 15_000, 'the message failing');
  assert.match(String(failure), /no-such-schema\.json does not exist/);
  assert.deepEqual(passed, []);
});

test('a reading a flow built: NaN or Infinity and a time past the bound are refused with the inputs\' codes, even under a schema that takes any object', async () => {
  await helper.load(nodes, [
    { id: 'v', type: 'upperstack-validate', schemaSource: 'inline', schema: '{"type":"object"}', configVersion: 2, wires: [['good'], ['bad']] },
    { id: 'good', type: 'helper' },
    { id: 'bad', type: 'helper' },
  ]);
  const good: Out[] = [];
  const bad: Array<Out & { error: { code: string; message: string; path?: string } }> = [];
  (helper.getNode('good') as unknown as NodeJS.EventEmitter).on('input', (m: Out) => good.push(m));
  (helper.getNode('bad') as unknown as NodeJS.EventEmitter).on('input', (m: (typeof bad)[number]) => bad.push(m));
  const now = Date.now();
  const r = (ts: number, fields: Record<string, unknown>) => ({ device: 'calc', ts, fields, tags: {} });
  helper.getNode('v')!.receive({ payload: [r(now, { ratio: 0.5 }), r(now, { ratio: Infinity }), r(now, { ratio: NaN }), r(now + 3 * 86_400_000, { ratio: 1 })] } as never);
  await eventually(async () => (good.length === 1 && bad.length === 3 ? true : undefined), 15_000, 'both outputs');
  assert.deepEqual(good[0].payload, [r(now, { ratio: 0.5 })]);
  assert.deepEqual(
    bad.map((m) => [m.error.code, m.error.path]),
    [
      ['INVALID_READING', '[1].fields.ratio'],
      ['INVALID_READING', '[2].fields.ratio'],
      ['TS_OUT_OF_RANGE', '[3].ts'],
    ],
  );
  assert.match(bad[0].error.message, /fields\.ratio is Infinity/);
  assert.match(bad[1].error.message, /fields\.ratio is NaN/);

  // The bound runs from when the message came in (msg.receivedAt), not from now: a replayed
  // message of 2020 holding a time three days after it is refused though that time is long past.
  bad.length = 0;
  const came = Date.UTC(2020, 0, 1);
  helper.getNode('v')!.receive({ receivedAt: came, payload: r(came + 3 * 86_400_000, { t: 1 }) } as never);
  helper.getNode('v')!.receive({ receivedAt: came, payload: r(came + 3_600_000, { t: 2 }) } as never);
  await eventually(async () => (bad.length === 1 && good.length === 2 ? true : undefined), 15_000, 'the replayed readings');
  assert.equal(bad[0].error.code, 'TS_OUT_OF_RANGE');
  assert.equal(bad[0].error.path, 'ts');
  assert.deepEqual(good[1].payload, r(came + 3_600_000, { t: 2 }));
});
