/**
 * The notification outbox on disk (nodes/lib/rules/notify-outbox.ts) on its own and under the Notifier,
 * against a real local HTTP endpoint: what is not accepted survives a reopen and goes out again with the
 * same key, a receiver that is down is tried again until it answers, and the outbox stays within its limits.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Notifier } from '../../nodes/lib/rules/notify';
import { NotifyOutbox, type Channel } from '../../nodes/lib/rules/notify-outbox';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import { tempDir } from '../helpers/temp';
import { eventually } from '../helpers/runtime';

function event(n: number, device = 'dev1', message = 'dev1: temperature is 31'): AlertEvent {
  return {
    id: `hot:${device}`,
    rule: 'hot',
    ruleName: 'Too hot',
    device,
    event: 'firing',
    state: 'firing',
    previous: 'pending',
    severity: 'warning',
    ts: Date.UTC(2026, 0, 5, 12) + n,
    message,
    reason: 'temperature 31 is above 30 for 5 seconds',
    since: Date.UTC(2026, 0, 5, 12),
    occurrences: 1,
    key: `hot:${device}:${n}`,
    notify: true,
  };
}

/** The keys a new start on the (closed) outbox's folder would send on the channel, in order. */
const keysOf = (o: NotifyOutbox, ch: Channel) => {
  const out: string[] = [];
  const copy = new NotifyOutbox(o.file.replace(/\/notifications\.jsonl$/, ''));
  for (let e = copy.next(ch); e; e = copy.next(ch)) {
    out.push(e.key!);
    copy.settle(ch, e);
  }
  copy.close();
  return out;
};

describe('notification outbox on disk', () => {
  it('keeps what is not settled across a reopen, oldest first, per channel; a torn last line is skipped', () => {
    const dir = tempDir('us-outbox-');
    const o = new NotifyOutbox(dir);
    o.add([1, 2, 3].map((n) => ({ channel: 'webhook' as const, event: event(n) })));
    o.add([{ channel: 'email', event: event(2) }]);
    o.settle('webhook', o.next('webhook')!);
    o.close();
    // A process killed in the middle of an append leaves half a line.
    appendFileSync(`${dir}/notifications.jsonl`, '{"a":["webhook",{"id":"hot:dev1","ke');
    const again = new NotifyOutbox(dir);
    assert.deepEqual(again.counts(), { email: 1, webhook: 2, mqtt: 0 });
    assert.equal(again.next('webhook')?.key, 'hot:dev1:2');
    assert.equal(again.next('email')?.key, 'hot:dev1:2');
    again.close();
    assert.deepEqual(keysOf(again, 'webhook'), ['hot:dev1:2', 'hot:dev1:3']);
  });

  it('past maxItems the oldest are dropped, each reported with its reason and counted', () => {
    const dir = tempDir('us-outbox-');
    const drops: string[] = [];
    const o = new NotifyOutbox(dir, { maxItems: 3 }, (ch, e, reason) => drops.push(`${ch} ${e.key} ${reason}`));
    for (let n = 1; n <= 5; n++) o.add([{ channel: 'webhook', event: event(n) }]);
    assert.equal(o.size, 3);
    assert.equal(o.dropped, 2);
    assert.deepEqual(drops, [
      'webhook hot:dev1:1 more than 3 notifications waiting: dropped the oldest (1 dropped since the start)',
      'webhook hot:dev1:2 more than 3 notifications waiting: dropped the oldest (2 dropped since the start)',
    ]);
    o.close();
    assert.deepEqual(keysOf(o, 'webhook'), ['hot:dev1:3', 'hot:dev1:4', 'hot:dev1:5'], 'the drops are on disk too');
  });

  it('a receiver down for long: bytes capped, and the file stays within about twice what waits', () => {
    const dir = tempDir('us-outbox-');
    const big = 'x'.repeat(4000);
    const o = new NotifyOutbox(dir, { maxBytes: 256 * 1024 });
    let largest = 0;
    for (let round = 0; round < 100; round++) {
      o.add(Array.from({ length: 20 }, (_, i) => ({ channel: 'webhook' as const, event: event(round * 20 + i, 'dev1', big) })));
      // Half of them are accepted: done lines pile up and the file is rewritten.
      for (let i = 0; i < 10; i++) o.settle('webhook', o.next('webhook')!);
      largest = Math.max(largest, statSync(o.file).size);
    }
    assert.ok(o.size > 0 && o.size <= 256 * 1024 / 4000, `${o.size} waiting`);
    assert.ok(o.dropped > 0);
    assert.ok(largest <= 2 * 256 * 1024 + 1024 * 1024 + 8192, `the file grew to ${largest} bytes`);
    o.close();
  });

  it('a channel turned off: what waits for it is dropped, the others kept', () => {
    const dir = tempDir('us-outbox-');
    const o = new NotifyOutbox(dir);
    o.add([{ channel: 'email', event: event(1) }, { channel: 'webhook', event: event(1) }]);
    assert.equal(o.discard('email'), 1);
    o.close();
    const again = new NotifyOutbox(dir);
    assert.deepEqual(again.counts(), { email: 0, webhook: 1, mqtt: 0 });
    again.close();
  });
});

describe('Notifier with the outbox', () => {
  let http: Server;
  let url = '';
  /** What the endpoint does with the next request: answer with a status, or hold it unanswered. */
  let answer: (req: IncomingMessage, res: ServerResponse) => void = (_q, res) => res.writeHead(204).end();
  const hits: Array<{ key?: string; body: AlertEvent }> = [];
  const held: ServerResponse[] = [];

  before(async () => {
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hits.push({ key: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(body) as AlertEvent });
        answer(req, res);
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    for (const res of held) res.destroy();
    http.closeAllConnections();
    await new Promise<void>((r) => http.close(() => r()));
  });

  it('a receiver that is down: the same transition is tried again, with its key, until it is taken; then it leaves the outbox', async () => {
    hits.length = 0;
    let down = 7;
    answer = (_q, res) => res.writeHead(down-- > 0 ? 503 : 204).end();
    const dir = tempDir('us-outbox-');
    const o = new NotifyOutbox(dir);
    const errors: string[] = [];
    const sent: string[] = [];
    const n = new Notifier({ webhook: { url, attempts: 2, retryMs: 5 }, queue: o, resendMs: 10, maxResendMs: 40, onError: (_c, err) => errors.push(err.message), onSent: (_c, e) => sent.push(e.key!) });
    n.send([event(1), event(2)]);
    assert.equal(o.size, 2, 'on disk before any send');
    await eventually(async () => (sent.length === 2) || undefined, 15_000, 'sent.length === 2');
    await n.close();
    o.close();
    // 2 attempts per round: rounds 1-3 fail on 503s (6 requests), the 7th is the 4th round's first attempt (503), then 204.
    assert.deepEqual(hits.map((h) => h.key), [...Array(8).fill('hot:dev1:1'), 'hot:dev1:2']);
    assert.deepEqual(sent, ['hot:dev1:1', 'hot:dev1:2'], 'in order: the first held the channel');
    assert.equal(errors.length, 1, `one report for the whole run of failures: ${errors.join(' | ')}`);
    assert.match(errors[0], /answered 503; kept, tried again later with the same key/);
    assert.equal(new NotifyOutbox(dir).size, 0, 'nothing left on disk');
  });

  it('stopped while the receiver holds the request: the next Notifier on the same folder sends it again with the same key', async () => {
    hits.length = 0;
    answer = (_q, res) => void held.push(res);
    const dir = tempDir('us-outbox-');
    const first = new NotifyOutbox(dir);
    const a = new Notifier({ webhook: { url }, queue: first });
    a.send(event(5));
    await eventually(async () => (hits.length === 1) || undefined, 15_000, 'hits.length === 1');
    await a.close(0);
    first.close();
    answer = (_q, res) => res.writeHead(200).end('{}');
    const second = new NotifyOutbox(dir);
    assert.equal(second.size, 1);
    const sent: string[] = [];
    const b = new Notifier({ webhook: { url }, queue: second, onSent: (_c, e) => sent.push(e.key!) });
    await eventually(async () => (sent.length === 1) || undefined, 15_000, 'sent.length === 1');
    await b.close();
    second.close();
    assert.deepEqual(hits.map((h) => h.key), ['hot:dev1:5', 'hot:dev1:5']);
    assert.deepEqual(hits[1].body, event(5));
    assert.equal(new NotifyOutbox(dir).size, 0);
  });

  it('a 4xx refusal is final: reported, not tried again, not kept', async () => {
    hits.length = 0;
    answer = (_q, res) => res.writeHead(422).end();
    const dir = tempDir('us-outbox-');
    const o = new NotifyOutbox(dir);
    const errors: string[] = [];
    const n = new Notifier({ webhook: { url, retryMs: 5 }, queue: o, resendMs: 10, onError: (_c, err) => errors.push(err.message) });
    n.send(event(9));
    await eventually(async () => (errors.length === 1 && o.size === 0) || undefined, 15_000, 'errors.length === 1 && o.size === 0');
    await n.close();
    o.close();
    assert.equal(hits.length, 1);
    assert.match(errors[0], /answered 422/);
  });
});
