/**
 * The replicated document set (nodes/lib/cluster/shared.ts) on Debian's
 * mosquitto: conflicting writes end the same everywhere and on the broker,
 * deletes stay as tombstones, a member joining later reads everything before
 * it starts, and a broker that lost its retained messages gets them again.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedDocs, newer, type SharedSide } from '../../nodes/lib/cluster/shared';
import { eventually } from '../helpers/runtime';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto';
import mqtt from 'mqtt';

interface Doc {
  n: number;
}

let mosq: Mosquitto;
const sets: Array<SharedDocs<Doc>> = [];

function check(_key: string, doc: unknown): Doc {
  if (typeof doc !== 'object' || doc === null || typeof (doc as Doc).n !== 'number') throw new Error('not a doc');
  return { n: (doc as Doc).n };
}

/** A member's own copy, as a map. */
function side(initial: Record<string, Doc> = {}): SharedSide<Doc> & { docs: Map<string, Doc> } {
  const docs = new Map(Object.entries(initial));
  return {
    docs,
    local: () => new Map(docs),
    apply: (key, doc) => {
      if (doc) docs.set(key, doc);
      else docs.delete(key);
    },
  };
}

/** A change made on a member: its own copy first, then told to the set (as the rule store's listener does). */
function write(set: SharedDocs<Doc>, own: ReturnType<typeof side>, key: string, doc: Doc | undefined): void {
  if (doc) own.docs.set(key, doc);
  else own.docs.delete(key);
  set.put(key, doc);
}

async function member(name: string, group: string, now?: () => number): Promise<SharedDocs<Doc>> {
  const s = new SharedDocs<Doc>({ broker: `mqtt://127.0.0.1:${mosq.port}`, group, member: name, kind: 'things', check, now });
  s.on('error', () => undefined);
  sets.push(s);
  await s.start();
  return s;
}

before(async () => {
  mosq = await startMosquitto();
});

after(async () => {
  for (const s of sets) await s.stop();
  await mosq?.stop();
});

test('versions: later time wins, then the larger member name', () => {
  assert.equal(newer({ at: 2, member: 'a' }, { at: 1, member: 'z' }), true);
  assert.equal(newer({ at: 1, member: 'b' }, { at: 1, member: 'a' }), true);
  assert.equal(newer({ at: 1, member: 'a' }, { at: 1, member: 'a' }), false);
});

test('two members writing one key at the same moment end with the same document, and so does the broker', async () => {
  // Both clocks say the same time: the member name decides, the same way on both.
  const a = await member('a', 'g1', () => 1000);
  const b = await member('b', 'g1', () => 1000);
  const sa = side();
  const sb = side();
  await a.attach(sa);
  await b.attach(sb);
  write(a, sa, 'k', { n: 1 });
  write(b, sb, 'k', { n: 2 });
  await eventually(async () => (sa.docs.get('k')?.n === 2 && sb.docs.get('k')?.n === 2 ? true : undefined), 30_000, 'both with b’s write');
  // The broker keeps the winner (b republishes if a's message reached the broker last).
  await eventually(async () => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${mosq.port}`, { protocolVersion: 5 });
    const got = new Promise<string>((resolve) => c.on('message', (_t, p) => resolve(p.toString())));
    await c.subscribeAsync('upperstack/cluster/g1/shared/things/k', { qos: 1 });
    const text = await got;
    await c.endAsync();
    return (JSON.parse(text) as { doc: Doc }).doc.n === 2 ? true : undefined;
  }, 30_000, 'the broker retaining b’s write');
});

test('a delete is a tombstone: a member joining later with the document drops it, and publishes what only it has', async () => {
  const a = await member('a', 'g2');
  const sa = side();
  await a.attach(sa);
  write(a, sa, 'x', { n: 1 });
  write(a, sa, 'y', { n: 2 });
  write(a, sa, 'x', undefined);
  const late = await member('c', 'g2');
  const sc = side({ x: { n: 1 }, z: { n: 9 } });
  await late.attach(sc);
  assert.equal(sc.docs.has('x'), false, 'the tombstone wins over the stale local copy');
  assert.equal(sc.docs.get('y')?.n, 2, 'read before start() resolved');
  await eventually(async () => (sa.docs.get('z')?.n === 9 ? true : undefined), 30_000, 'the late member’s own document on a');
});

test('a broker that lost its retained messages gets them again from the members', async () => {
  const a = await member('a', 'g3');
  const sa = side();
  await a.attach(sa);
  write(a, sa, 'kept', { n: 7 });
  // mosquitto runs without persistence here: the restart loses every retained message.
  await mosq.restart();
  await eventually(async () => {
    const b = new SharedDocs<Doc>({ broker: `mqtt://127.0.0.1:${mosq.port}`, group: 'g3', member: `b${Date.now()}`, kind: 'things', check });
    b.on('error', () => undefined);
    await b.start();
    const got = b.docs().get('kept')?.n;
    await b.stop();
    return got === 7 ? true : undefined;
  }, 20_000, 'the document retained again after the broker restart');
});
