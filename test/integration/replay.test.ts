/**
 * Replaying dead letters on the real runtime: readings a too-strict schema
 * refused are dead-lettered; the schema is fixed and deployed; POST
 * /api/v1/deadletters/replay sends them back in through the MQTT input that
 * received them, so they are stored with their own times, the letters are
 * marked, and a second replay stores nothing twice. A letter that fails again
 * becomes a new dead letter.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import protobuf from 'protobufjs';
import { eventually, startRuntimeAsAdmin, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { encodeCbor } from '../../nodes/lib/codec/cbor';

const ROOT = join(__dirname, '..', '..', '..');
const pipeline = JSON.parse(readFileSync(join(ROOT, 'flows', 'pipeline.json'), 'utf8')) as Array<Record<string, unknown>>;

/** The pack with its validate node and the HTTP input on an inline schema that allows temperatures up to `max`. */
function packWithMax(max: number): Array<Record<string, unknown>> {
  const schema = {
    type: 'object',
    required: ['device', 'ts', 'fields'],
    properties: { fields: { type: 'object', properties: { temperature: { type: 'number', maximum: max } } } },
  };
  return pipeline.map((n) => (n.type === 'upperstack-validate' || n.type === 'upperstack-http-in' ? { ...n, schemaSource: 'inline', schema: JSON.stringify(schema) } : n));
}

interface Letter {
  id: number;
  device: string;
  code: string;
  replayable: boolean;
  replayedAt: string | null;
}
interface Replayed {
  replayed: number;
  ids: number[];
  skipped: Array<{ id: number; code: string; reason: string }>;
  notReplayable: number;
}

describe('POST /api/v1/deadletters/replay', () => {
  let rt: Runtime;
  let token = '';
  const T0 = Date.UTC(2026, 0, 1);

  before(async () => {
    const dataDir = tempDir('us-replay-');
    writeFileSync(join(dataDir, 'flows.json'), JSON.stringify(packWithMax(50)));
    ({ rt, token } = await startRuntimeAsAdmin({ dataDir }));
  });
  after(async () => {
    await rt?.stop();
  });

  const letters = async (query: string): Promise<Letter[]> => ((await (await rt.get(`/api/v1/deadletters?${query}`)).json()) as { deadLetters: Letter[] }).deadLetters;
  const readings = async (device: string) =>
    ((await (await rt.get(`/api/v1/readings?device=${device}`)).json()) as { readings: Array<{ ts: string; fields: { temperature: number } }> }).readings;
  const replay = (query: string, body?: unknown) =>
    fetch(`${rt.url}/api/v1/deadletters/replay?${query}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${rt.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const deploy = async (flow: unknown) => {
    const res = await fetch(`${rt.url}/flows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify(flow),
    });
    assert.equal(res.status, 204, await res.text());
    // The flow restarts after the answer: wait until the API serves again.
    await eventually(async () => ((await rt.get('/api/v1/deadletters?limit=1')).status === 200 ? true : undefined), 20_000, 'the API after the deploy');
  };

  test('fix the schema, replay: stored once with their own times, letters marked, a second replay adds nothing', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'replay-device' });
    for (const [i, t] of [60, 70, 80].entries()) {
      await client.publishAsync('devices/rp-1/telemetry', JSON.stringify({ temperature: t, ts: T0 + i * 1000 }), { qos: 1 });
    }
    // A protobuf device: its letter keeps the decoded reading as JSON, which must replay through the protobuf input.
    const proto = await protobuf.load(join(ROOT, 'proto', 'telemetry.proto'));
    const Reading = proto.lookupType('upperstack.Reading');
    const pb = Reading.encode(Reading.fromObject({ ts: T0 + 5000, fields: { temperature: { number: 90 } } })).finish();
    await client.publishAsync('devices/rp-3/protobuf', Buffer.from(pb), { qos: 1 });
    // A device without a set clock: its time is before 1973, which a number in the letter's JSON would name in seconds.
    await client.publishAsync('devices/rp-4/telemetry', JSON.stringify({ temperature: 90, ts: '1970-01-02T00:00:00Z' }), { qos: 1 });
    // Undecodable: it fails again when replayed.
    await client.publishAsync('devices/rp-2/telemetry', '{"temperature": 20,', { qos: 1 });
    await client.endAsync();
    await eventually(async () => ((await letters('device=rp-1')).length === 3 ? true : undefined), 20_000, '3 dead letters of rp-1');
    await eventually(async () => ((await letters('device=rp-2')).length === 1 ? true : undefined), 20_000, 'the dead letter of rp-2');
    await eventually(async () => ((await letters('device=rp-3')).length === 1 ? true : undefined), 20_000, 'the dead letter of rp-3');
    await eventually(async () => ((await letters('device=rp-4')).length === 1 ? true : undefined), 20_000, 'the dead letter of rp-4');
    assert.deepEqual((await letters('device=rp-1')).map((l) => [l.code, l.replayable]), [['SCHEMA_VIOLATION', true], ['SCHEMA_VIOLATION', true], ['SCHEMA_VIOLATION', true]]);
    assert.deepEqual(await readings('rp-1'), []);

    // Nothing to replay them into yet: without a fix they would only fail again, so fix first.
    await deploy(packWithMax(100));
    const first = await replay('device=rp-1');
    assert.equal(first.status, 200, await first.clone().text());
    const r1 = (await first.json()) as Replayed;
    assert.equal(r1.replayed, 3, JSON.stringify(r1));
    assert.deepEqual(r1.skipped, []);

    // A replay puts messages back into the pipeline: the audit log says who did it, on what, and what went in.
    const audit = await fetch(`${rt.url}/api/v1/audit?action=deadletters.replay&target=rp-1`, { headers: { authorization: `Bearer ${rt.apiKey}` } });
    assert.equal(audit.status, 200, await audit.clone().text());
    const entries = ((await audit.json()) as { entries: Array<{ actor: string; via: string; outcome: string; after: { replayed: number; ids: number[] }; before: Record<string, unknown> }> }).entries;
    assert.equal(entries.length, 1, JSON.stringify(entries));
    assert.deepEqual([entries[0].actor, entries[0].via, entries[0].outcome, entries[0].before.device], ['admin', 'api', 'ok', 'rp-1']);
    assert.deepEqual(entries[0].after.ids.sort(), r1.ids.sort());
    assert.equal(entries[0].after.replayed, 3);

    const stored = await eventually(async () => {
      const rs = await readings('rp-1');
      return rs.length === 3 ? rs : undefined;
    }, 20_000, 'the replayed readings');
    assert.deepEqual(
      stored.map((r) => [r.ts, r.fields.temperature]),
      [
        ['2026-01-01T00:00:00.000Z', 60],
        ['2026-01-01T00:00:01.000Z', 70],
        ['2026-01-01T00:00:02.000Z', 80],
      ],
    );
    const marked = await letters('device=rp-1');
    assert.equal(marked.length, 3, 'no new dead letters');
    for (const l of marked) {
      assert.ok(l.replayedAt, 'marked replayed');
      assert.equal(l.replayable, false);
    }

    // Again, also by id: nothing is taken twice, nothing is stored twice.
    const second = (await (await replay('', { ids: marked.map((l) => l.id) })).json()) as Replayed;
    assert.equal(second.replayed, 0);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await readings('rp-1')).length, 3);
    assert.equal((await letters('device=rp-1&replayed=false')).length, 0);

    const r3 = (await (await replay('device=rp-3')).json()) as Replayed;
    assert.equal(r3.replayed, 1, JSON.stringify(r3));
    const pbStored = await eventually(async () => {
      const rs = await readings('rp-3');
      return rs.length === 1 ? rs : undefined;
    }, 20_000, 'the replayed protobuf reading');
    assert.deepEqual(pbStored.map((r) => [r.ts, r.fields.temperature]), [['2026-01-01T00:00:05.000Z', 90]]);
    assert.deepEqual((await letters('device=rp-3')).map((l) => l.code), ['SCHEMA_VIOLATION'], 'no new dead letter');

    const r4 = (await (await replay('device=rp-4')).json()) as Replayed;
    assert.equal(r4.replayed, 1, JSON.stringify(r4));
    const early = await eventually(async () => {
      const rs = await readings('rp-4');
      return rs.length === 1 ? rs : undefined;
    }, 20_000, 'the replayed reading of 1970');
    assert.deepEqual(early.map((r) => [r.ts, r.fields.temperature]), [['1970-01-02T00:00:00.000Z', 90]]);
  });

  test('a letter that fails again is marked, and a new dead letter takes its place', async () => {
    const [old] = await letters('device=rp-2');
    const res = (await (await replay('device=rp-2&code=DECODE_FAILED')).json()) as Replayed;
    assert.deepEqual([res.replayed, res.ids], [1, [old.id]]);
    const now = await eventually(async () => {
      const ls = await letters('device=rp-2');
      return ls.length === 2 ? ls : undefined;
    }, 20_000, 'a new dead letter for rp-2');
    assert.equal(now[0].id, old.id);
    assert.ok(now[0].replayedAt);
    assert.deepEqual([now[1].code, now[1].replayable, now[1].replayedAt], ['DECODE_FAILED', true, null]);
  });

  test('readings the schema refused, sent as CBOR (MQTT 5, HTTP) or line protocol, replay as their JSON and are stored as sent', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'replay-cbor', protocolVersion: 5 });
    await client.publishAsync('devices/rp-6/telemetry', encodeCbor({ temperature: 150, ts: T0 + 6000 }), { qos: 1, properties: { contentType: 'application/cbor' } });
    await client.endAsync();
    const post = (path: string, type: string, body: Buffer | string) => fetch(`${rt.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: typeof body === 'string' ? body : new Uint8Array(body) });
    const cbor = await post('/ingest/rp-7', 'application/cbor', encodeCbor({ temperature: 160, humidity: 40, ts: T0 + 7000 }));
    assert.equal(cbor.status, 422, await cbor.text());
    const line = await post('/write?db=iot&precision=ms', 'text/plain', `climate,device=rp-8,room=a temperature=170,count=3i ${T0 + 8000}\n`);
    assert.equal(line.status, 400, await line.text());
    for (const d of ['rp-6', 'rp-7', 'rp-8']) await eventually(async () => ((await letters(`device=${d}`)).length === 1 ? true : undefined), 20_000, `the dead letter of ${d}`);
    const kept = (await Promise.all(['rp-6', 'rp-7', 'rp-8'].map((d) => letters(`device=${d}`)))).map(([l]) => [l.device, l.code, (l as unknown as { contentType?: string }).contentType]);
    // What the replay route documents: a refused reading is kept as the reading, in JSON, whatever it came as.
    assert.deepEqual(kept, [
      ['rp-6', 'SCHEMA_VIOLATION', 'application/json'],
      ['rp-7', 'SCHEMA_VIOLATION', 'application/json'],
      ['rp-8', 'SCHEMA_VIOLATION', 'application/json'],
    ]);

    await deploy(packWithMax(200));
    const res = (await (await replay('', { code: 'SCHEMA_VIOLATION', device: 'rp-6' })).json()) as Replayed;
    const res7 = (await (await replay('device=rp-7')).json()) as Replayed;
    const res8 = (await (await replay('device=rp-8')).json()) as Replayed;
    assert.deepEqual([res, res7, res8].map((r) => [r.replayed, r.skipped]), [[1, []], [1, []], [1, []]]);
    const got = await eventually(async () => {
      const all = await Promise.all(['rp-6', 'rp-7', 'rp-8'].map((d) => rt.get(`/api/v1/readings?device=${d}`).then((r) => r.json() as Promise<{ readings: Array<{ ts: string; fields: Record<string, unknown>; tags?: Record<string, unknown> }> }>)));
      return all.every((a) => a.readings.length === 1) ? all.map((a) => a.readings[0]) : undefined;
    }, 20_000, 'the three replayed readings');
    assert.deepEqual(
      got.map((r) => [r.ts, r.fields, r.tags ?? {}]),
      [
        ['2026-01-01T00:00:06.000Z', { temperature: 150 }, {}],
        ['2026-01-01T00:00:07.000Z', { temperature: 160, humidity: 40 }, {}],
        ['2026-01-01T00:00:08.000Z', { temperature: 170, count: 3 }, { measurement: 'climate', room: 'a' }],
      ],
    );
    for (const d of ['rp-6', 'rp-7', 'rp-8']) assert.equal((await letters(`device=${d}`)).length, 1, `no new dead letter of ${d}`);
  });

  test('an empty publish and a body of a type HTTP never reads are listed but not replayable; a replay by id says why, and takes the malformed one', async () => {
    const publish = (...args: string[]) =>
      new Promise<number>((resolve) => execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(rt.mqttPort), '-q', '1', '-t', 'devices/rp-10/telemetry', ...args], { timeout: 20_000 }, (err) => resolve(err ? 1 : 0)));
    const letterCount = (n: number) => eventually(async () => ((await letters('device=rp-10')).length === n ? true : undefined), 20_000, `${n} dead letters of rp-10`);
    // Acknowledged (exit 0 once the PUBACK came), then dead-lettered: no format reads nothing.
    assert.equal(await publish('-n'), 0);
    await letterCount(1);
    assert.equal(await publish('-m', '{"temperature":'), 0);
    await letterCount(2);
    const png = await fetch(`${rt.url}/ingest/rp-10`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: 'PNG' });
    assert.equal(png.status, 415);
    await letterCount(3);
    const listed = (await letters('device=rp-10')) as Array<Letter & { payload: string; contentType?: string }>;
    assert.deepEqual(
      listed.map((l) => [l.code, l.payload, l.replayable]),
      [
        ['DECODE_FAILED', '', false],
        // A decoder setting (the input's format) may read it: kept.
        ['DECODE_FAILED', '{"temperature":', true],
        ['UNSUPPORTED_FORMAT', 'PNG', false],
      ],
    );
    assert.equal(listed[2].contentType, 'image/png');
    const res = await replay('', { ids: listed.map((l) => l.id) });
    assert.equal(res.status, 200);
    const r = (await res.json()) as Replayed;
    const why = (code: string) => `its message was not kept (${code}: a replay would be refused the same way, or the message was an impostor's or too large to keep), so it cannot be replayed`;
    assert.deepEqual(r, {
      replayed: 1,
      ids: [listed[1].id],
      skipped: [
        { id: listed[0].id, code: 'NOT_KEPT', reason: why('DECODE_FAILED') },
        { id: listed[2].id, code: 'NOT_KEPT', reason: why('UNSUPPORTED_FORMAT') },
      ],
      notReplayable: 2,
    });
    // The two stay as they were; the malformed one, refused again, is a new letter.
    await letterCount(4);
    const now = await letters('device=rp-10');
    assert.deepEqual(now.map((l) => [l.id, l.replayedAt !== null]), [[listed[0].id, false], [listed[1].id, true], [listed[2].id, false], [now[3].id, false]]);
  });

  test('a letter whose message file was lost is skipped with BODY_MISSING and stays, not replayed', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: 'replay-lost' });
    await client.publishAsync('devices/rp-9/telemetry', JSON.stringify({ temperature: 900, ts: T0 + 9000 }), { qos: 1 });
    await client.endAsync();
    const [letter] = await eventually(async () => {
      const ls = await letters('device=rp-9');
      return ls.length === 1 ? ls : undefined;
    }, 20_000, 'the dead letter of rp-9');
    const bodies = readdirSync(rt.dataDir).filter((f) => f.endsWith('.bodies'));
    assert.equal(bodies.length, 1, `one folder of letter bodies in ${readdirSync(rt.dataDir).join(', ')}`);
    for (const f of readdirSync(join(rt.dataDir, bodies[0]))) rmSync(join(rt.dataDir, bodies[0], f));
    const res = await replay('device=rp-9');
    assert.equal(res.status, 200);
    const r = (await res.json()) as Replayed;
    assert.deepEqual([r.replayed, r.skipped], [0, [{ id: letter.id, code: 'BODY_MISSING', reason: 'its message could not be read back from the store' }]]);
    const [after] = await letters('device=rp-9');
    assert.deepEqual([after.id, after.replayedAt], [letter.id, null]);
    assert.deepEqual(await readings('rp-9'), []);
  });

  test('bad filters are 400; no key is 401', async () => {
    const bad = await replay('limit=0');
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { parameter: string } }).error.parameter, 'limit');
    const extra = await replay('', { cursor: 'x' });
    assert.equal(extra.status, 400);
    const refused = await fetch(`${rt.url}/api/v1/audit?action=deadletters.replay`, { headers: { authorization: `Bearer ${rt.apiKey}` } });
    const failed = ((await refused.json()) as { entries: Array<{ outcome: string; reason: string; before: Record<string, unknown> }> }).entries.filter((e) => e.outcome === 'failed');
    assert.ok(failed.some((e) => e.reason === '400' && e.before.limit === '0'), JSON.stringify(failed));
    const none = await fetch(`${rt.url}/api/v1/deadletters/replay`, { method: 'POST' });
    assert.equal(none.status, 401);
  });
});
