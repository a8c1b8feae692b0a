/**
 * The device simulator: signals a person would recognise, schedules that hold
 * their rate, anomalies that are really in the data where the ground truth says,
 * and the same run again from the same seed. Runs in simulated time (speed-up)
 * against a transport that records what it is handed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode } from '../../nodes/lib/codec';
import { registerFleet, registryCredentials } from '../../nodes/lib/sim/register';
import {
  FunctionTransport,
  makeDevice,
  parseDuration,
  parseMix,
  parseRate,
  PROFILE_NAMES,
  Random,
  sample,
  Simulator,
  splitFleet,
  templateCredentials,
  truthDocument,
  type Anomaly,
  type SimulatorOptions,
} from '../../nodes/lib/sim';
import { main } from '../../scripts/cli';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1); // midnight UTC

interface Sent {
  device: string;
  ts: number;
  fields: Record<string, number | boolean>;
}

/** Runs a simulation to its end in simulated time and returns every reading sent, decoded again. */
async function run(opts: Partial<SimulatorOptions>): Promise<{ readings: Sent[]; truth: readonly Anomaly[]; sim: Simulator; messages: number }> {
  const readings: Sent[] = [];
  let messages = 0;
  const transport = new FunctionTransport((_d, payload, contentType) => {
    messages++;
    const format = contentType === 'application/cbor' ? 'cbor' : contentType === 'application/msgpack' ? 'msgpack' : contentType === 'application/x-protobuf' ? 'protobuf' : 'json';
    const v = decode(format, payload) as Sent | Sent[];
    for (const r of Array.isArray(v) ? v : [v]) readings.push({ device: r.device, ts: Number(r.ts), fields: r.fields });
  });
  const sim = new Simulator({ devices: 10, rate: 1, start: T0, duration: 60_000, speed: 1000, tickMs: 5, anomaliesPerHour: 0, ...opts }, transport);
  const done = new Promise((r) => sim.once('done', r));
  await sim.start();
  await done;
  return { readings, truth: sim.truth(), sim, messages };
}

test('rates, durations and profile mixes are read as people write them, and refused with the parameter named', () => {
  assert.equal(parseRate('1/s'), 1);
  assert.equal(parseRate('10/min'), 10 / 60);
  assert.equal(parseRate('0.5/s'), 0.5);
  assert.equal(parseRate('2/h'), 2 / 3600);
  assert.equal(parseRate('5'), 5);
  assert.equal(parseRate('1/10s'), 0.1);
  assert.throws(() => parseRate('fast'), { code: 'BAD_PARAMETER', message: /rate must look like 1\/s/ });
  assert.throws(() => parseRate('0/s'), { code: 'BAD_PARAMETER' });
  assert.equal(parseDuration('10m'), 600_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('45s'), 45_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30'), 30_000);
  assert.throws(() => parseDuration('10 minutes'), { code: 'BAD_PARAMETER', message: /duration must look like 10m/ });
  assert.throws(() => parseDuration('m'), { code: 'BAD_PARAMETER' });
  assert.deepEqual(parseMix('env:3,plug', PROFILE_NAMES), { env: 3, motion: 0, plug: 1 });
  assert.throws(() => parseMix('lamp:3', PROFILE_NAMES), { message: /unknown device profile "lamp"/ });
  assert.throws(() => parseMix('env:0', PROFILE_NAMES), { message: /at least one/ });
  const split = splitFleet(1001, { env: 70, motion: 15, plug: 15 });
  assert.equal(split.env + split.motion + split.plug, 1001);
  assert.deepEqual(splitFleet(10), { env: 7, motion: 2, plug: 1 });
});

test('an environment sensor is warm in the afternoon, cold before dawn, dark at night, drier when warm, and its battery drains', () => {
  const rng = new Random(7);
  const d = makeDevice('e1', 'env', rng);
  d.tz = 0;
  const at = (h: number) => {
    const vals: Array<Record<string, number | boolean>> = [];
    for (let i = 0; i < 30; i++) vals.push(sample(d, T0 + h * HOUR + i * 60_000, 60_000));
    const mean = (k: string) => vals.reduce((a, v) => a + (v[k] as number), 0) / vals.length;
    return { t: mean('temperature'), h: mean('humidity'), lx: mean('illuminance'), battery: vals[vals.length - 1].battery as number };
  };
  const night = at(3);
  const afternoon = at(15);
  const evening = at(22);
  assert.ok(afternoon.t > night.t + 4, `15:00 ${afternoon.t} is warmer than 03:00 ${night.t}`);
  assert.ok(afternoon.h < night.h, 'humidity is lower when it is warm');
  assert.equal(night.lx, 0);
  assert.equal(evening.lx, 0);
  assert.ok(afternoon.lx > 1000, `daylight ${afternoon.lx} lx`);
  assert.ok(evening.battery < night.battery, 'the battery drains');
});

test('a smart plug reports power, voltage and a rising energy meter; a fridge cycles', () => {
  const rng = new Random(3);
  const d = makeDevice('p1', 'plug', rng);
  d.appliance = 'fridge';
  const powers: number[] = [];
  let lastEnergy = -1;
  for (let i = 0; i < 2 * 3600 * 2; i++) {
    const v = sample(d, T0 + i * 500, 500);
    powers.push(v.power as number);
    assert.ok((v.voltage as number) >= 220 && (v.voltage as number) <= 240);
    assert.ok((v.energy as number) >= lastEnergy);
    lastEnergy = v.energy as number;
  }
  const running = powers.filter((p) => p > 50).length / powers.length;
  assert.ok(running > 0.2 && running < 0.5, `the compressor runs about a third of the time (${running.toFixed(2)})`);
  assert.ok(powers.some((p) => p < 2), 'standby between cycles');
});

test('the fleet keeps its schedule: every device at its rate, plugs twice a second, timestamps spread over the period', async () => {
  const { readings, sim } = await run({ devices: 20, rate: 1, duration: 60_000 });
  const split = splitFleet(20);
  assert.equal(readings.length, (split.env + split.motion) * 60 + split.plug * 120);
  const s = sim.stats();
  assert.equal(s.acked, s.sent);
  assert.equal(s.errors, 0);
  const perDevice = new Map<string, number[]>();
  for (const r of readings) perDevice.set(r.device, [...(perDevice.get(r.device) ?? []), r.ts]);
  assert.equal(perDevice.size, 20);
  const firsts = [...perDevice.values()].map((ts) => ts[0] - T0).sort((a, b) => a - b);
  assert.ok(new Set(firsts).size > 10, 'devices start at different moments of the period');
  for (const [device, ts] of perDevice) {
    assert.ok(ts.every((t) => t >= T0 && t < T0 + 60_000), device);
    const gaps = ts.slice(1).map((t, i) => t - ts[i]);
    const expected = readings.find((r) => r.device === device && 'power' in r.fields) ? 500 : 1000;
    assert.ok(gaps.every((g) => Math.abs(g - expected) <= 1), `${device} reports every ${expected} ms`);
  }
  assert.ok(readings.every((r) => /^sim-\d\d$/.test(r.device)));
});

test('the same seed gives the same readings; another seed does not', async () => {
  const a = await run({ devices: 5, duration: 30_000, seed: 42, codec: 'cbor' });
  const b = await run({ devices: 5, duration: 30_000, seed: 42, codec: 'cbor' });
  const c = await run({ devices: 5, duration: 30_000, seed: 43, codec: 'cbor' });
  const key = (rs: Sent[]) => JSON.stringify([...rs].sort((x, y) => x.ts - y.ts || x.device.localeCompare(y.device)));
  assert.equal(key(a.readings), key(b.readings));
  assert.notEqual(key(a.readings), key(c.readings));
});

test('every codec makes messages the pipeline decodes back into the same readings', async () => {
  const json = await run({ devices: 3, duration: 5000, codec: 'json' });
  for (const codec of ['cbor', 'msgpack', 'protobuf'] as const) {
    const other = await run({ devices: 3, duration: 5000, codec });
    assert.equal(other.readings.length, json.readings.length, codec);
    const first = other.readings.find((r) => r.device === json.readings[0].device && r.ts === json.readings[0].ts);
    assert.deepEqual(first?.fields, json.readings[0].fields, codec);
  }
});

test('injected anomalies are in the data where the ground truth says, each of every kind', async () => {
  // Twelve simulated hours of a small fleet with many anomalies.
  const { readings, truth, sim } = await run({ devices: 12, rate: 1 / 60, plugRate: 1 / 30, duration: 12 * HOUR, speed: 200_000, anomaliesPerHour: 10, seed: 5 });
  const kinds = new Set(truth.map((a) => a.kind));
  assert.deepEqual([...kinds].sort(), ['drift', 'dropout', 'shift', 'spike', 'stuck']);
  const series = (device: string) => readings.filter((r) => r.device === device).sort((x, y) => x.ts - y.ts);
  for (const a of truth) {
    const rs = series(a.device);
    const inside = rs.filter((r) => r.ts >= a.from && r.ts <= a.to);
    const label = `${a.kind} on ${a.device}.${a.field} ${new Date(a.from).toISOString()}`;
    if (a.kind === 'dropout') {
      assert.equal(inside.length, 0, `${label}: nothing sent in the window`);
      continue;
    }
    assert.ok(inside.length >= 1, `${label}: affected readings were sent`);
    if (a.kind === 'spike') {
      assert.equal(a.from, a.to);
      const i = rs.findIndex((r) => r.ts === a.from);
      const v = rs[i].fields[a.field] as number;
      const neighbours = [rs[i - 1], rs[i + 1]].filter(Boolean).map((r) => r.fields[a.field] as number);
      for (const n of neighbours) assert.ok(Math.abs(v - n) > Math.abs(a.magnitude!) / 2, `${label}: ${v} stands out from ${n}`);
    }
    if (a.kind === 'stuck' && inside.length > 1) {
      assert.equal(new Set(inside.map((r) => JSON.stringify(r.fields[a.field]))).size, 1, `${label}: one value repeated`);
    }
  }
  assert.equal(sim.stats().anomalies, truth.length);
  const doc = truthDocument({ seed: 5, devices: 12, start: T0, end: T0 + 12 * HOUR }, truth);
  assert.equal(doc.anomalies.length, truth.length);
  assert.equal(doc.anomalies[0].from, new Date(truth[0].from).toISOString());
  assert.equal(doc.anomalies[0].fromMs, truth[0].from);
});

test('a busy device keeps its readings and sends them together once acknowledged', async () => {
  const sizes: number[] = [];
  let release: Array<() => void> = [];
  const slow = {
    name: 'slow',
    open: async () => undefined,
    close: async () => undefined,
    send: (_d: unknown, payload: Buffer) => {
      const v = JSON.parse(payload.toString()) as unknown;
      sizes.push(Array.isArray(v) ? v.length : 1);
      return new Promise<void>((r) => release.push(r));
    },
  };
  const sim = new Simulator({ devices: 1, mix: { env: 1 }, rate: 1, start: T0, speed: 10_000, tickMs: 5, anomaliesPerHour: 0 }, slow);
  await sim.start();
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(sizes, [1], 'one message in flight');
  const waiting = release;
  release = [];
  waiting.forEach((r) => r());
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(sizes.length, 2);
  assert.ok(sizes[1] > 1, `the next message carries what waited (${sizes[1]} readings)`);
  const stopping = sim.stop(200);
  setTimeout(() => release.forEach((r) => r()), 10);
  await stopping;
});

test('credentials name the device where the template says so', () => {
  const hook = templateCredentials({ username: '{device}', password: 'secret-{device}', token: 'tok' });
  assert.deepEqual(hook({ id: 'sim-7', profile: 'env', index: 6 }), { username: 'sim-7', password: 'secret-sim-7', token: 'tok' });
  assert.deepEqual(templateCredentials({})(undefined), {});
});

test('the simulator refuses settings it cannot run, naming them', () => {
  const t = new FunctionTransport(() => undefined);
  assert.throws(() => new Simulator({ devices: 0, rate: 1 }, t), { code: 'BAD_PARAMETER', message: /devices must be a whole number from 1 to 10000/ });
  assert.throws(() => new Simulator({ devices: 10_001, rate: 1 }, t), { message: /10000/ });
  assert.throws(() => new Simulator({ devices: 1, rate: 1, codec: 'xml' as never }, t), { message: /codec must be one of/ });
  assert.throws(() => new Simulator({ devices: 1, rate: 1, anomalyKinds: ['wobble' as never] }, t), { message: /unknown anomaly kind "wobble"/ });
});

test('upperstack simulate: bad usage exits 2 with the reason', async () => {
  const err: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(['simulate', '--protocol', 'zigbee']), 2);
    assert.equal(await main(['simulate', '--devices', '20000', '--duration', '1s']), 2);
    assert.equal(await main(['simulate', '--rate', 'often']), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(err.join(''), /--protocol must be mqtt, http or coap/);
  assert.match(err.join(''), /devices must be a whole number from 1 to 10000/);
  assert.match(err.join(''), /rate must look like 1\/s/);
});

test('--register credentials: each device logs in as itself with its secret; a device without one, or a shared connection, has no login', async () => {
  const hook = registryCredentials(new Map([['sim-1', 's3cret']]));
  assert.deepEqual(hook({ id: 'sim-1', profile: 'env', index: 0 }), { username: 'sim-1', password: 's3cret', token: 's3cret' });
  assert.deepEqual(hook({ id: 'sim-2', profile: 'env', index: 1 }), {});
  assert.deepEqual(hook(undefined), {});
  // A device that exists gets a new secret; a refusal names the device and the server's reason.
  const calls: string[] = [];
  const secrets = await registerFleet(['a', 'b'], async (method, path) => {
    calls.push(`${method} ${path}`);
    if (path === '/api/v1/devices' && calls.length === 1) return { status: 201, body: { device: { id: 'a' }, secret: 'sa' } };
    if (path === '/api/v1/devices') return { status: 409, body: { error: { code: 'CONFLICT', message: 'exists' } } };
    return { status: 200, body: { device: { id: 'b' }, secret: 'sb' } };
  }, { parallel: 1 });
  assert.deepEqual([...secrets], [['a', 'sa'], ['b', 'sb']]);
  assert.deepEqual(calls, ['POST /api/v1/devices', 'POST /api/v1/devices', 'POST /api/v1/devices/b/rotate']);
  await assert.rejects(
    registerFleet(['c'], async () => ({ status: 403, body: { error: { code: 'FORBIDDEN', message: 'this key may only read' } } })),
    /the API key may not register device "c": 403 FORBIDDEN: this key may only read/,
  );
});
