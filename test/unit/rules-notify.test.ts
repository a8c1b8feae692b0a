/** Notifications against real local servers: an SMTP sink (smtp-server) and an HTTP endpoint. */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { Notifier } from '../../nodes/lib/rules/notify';
import { RuleEngine } from '../../nodes/lib/rules/engine';
import type { AlertEvent } from '../../nodes/lib/rules/types';
import { eventually } from '../helpers/runtime';

const EVENT: AlertEvent = {
  id: 'hot:dev1',
  rule: 'hot',
  ruleName: 'Too hot',
  device: 'dev1',
  event: 'firing',
  state: 'firing',
  previous: 'pending',
  severity: 'warning',
  ts: Date.UTC(2026, 0, 5, 12),
  message: 'dev1: temperature is 31 (above 30 since 2026-01-05 12:00:00 UTC)',
  reason: 'temperature 31 is above 30 for 5 seconds',
  field: 'temperature',
  value: 31,
  since: Date.UTC(2026, 0, 5, 12) - 5000,
  occurrences: 1,
  key: 'hot:dev1:2',
  notify: true,
};

describe('notifications', () => {
  const mails: Array<{ from: string; to: string[]; data: string; user?: string }> = [];
  let smtp: SMTPServer;
  let smtpPort = 0;
  const hits: Array<{ attempt: string; body: AlertEvent; auth?: string; key?: string }> = [];
  let failFirst = 0;
  let http: Server;
  let httpUrl = '';

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      onAuth(auth, _session, cb) {
        cb(auth.username === 'alerts' && auth.password === 'secret' ? null : new Error('bad login'), { user: auth.username });
      },
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (c: Buffer) => (data += c.toString()));
        stream.on('end', () => {
          mails.push({ from: session.envelope.mailFrom ? (session.envelope.mailFrom as { address: string }).address : '', to: session.envelope.rcptTo.map((r) => r.address), data, user: session.user as string | undefined });
          cb();
        });
      },
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
    smtpPort = (smtp.server.address() as AddressInfo).port;
    http = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hits.push({ attempt: String(req.headers['x-upperstack-attempt']), body: JSON.parse(body) as AlertEvent, auth: req.headers.authorization, key: req.headers['idempotency-key'] as string | undefined });
        if (failFirst > 0) {
          failFirst--;
          res.writeHead(503).end('busy');
        } else res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}/hook`;
  });
  after(async () => {
    await new Promise<void>((r) => smtp.close(() => r()));
    await new Promise<void>((r) => http.close(() => r()));
  });

  it('e-mail: one message per transition, with the login, to the node\'s recipients or the rule\'s own', async () => {
    const errors: string[] = [];
    const n = new Notifier({ email: { host: '127.0.0.1', port: smtpPort, secure: false, user: 'alerts', password: 'secret', from: 'upperstack@example.com', to: ['ops@example.com'] }, onError: (_c, e) => errors.push(e.message) });
    n.send(EVENT);
    n.send({ ...EVENT, id: 'hot:dev2', device: 'dev2', notifyChannels: { email: ['ann@example.com'] } });
    n.send({ ...EVENT, notify: false });
    n.send({ ...EVENT, notifyChannels: { email: false } });
    await eventually(async () => (mails.length >= 2) || undefined, 10_000, 'mails.length >= 2');
    await n.close();
    assert.deepEqual(errors, []);
    assert.equal(mails.length, 2);
    assert.deepEqual(mails[0].to, ['ops@example.com']);
    assert.equal(mails[0].from, 'upperstack@example.com');
    assert.equal(mails[0].user, 'alerts');
    assert.match(mails[0].data, /Subject: \[WARNING\] Too hot: dev1/);
    assert.match(mails[0].data, /dev1: temperature is 31 \(above 30 since 2026-01-05 12:00:00 UTC\)/);
    assert.deepEqual(mails[1].to, ['ann@example.com']);
  });

  it('e-mail: its times are on the clock of the rule\'s time zone, as the message\'s {since} is', async () => {
    mails.length = 0;
    const t0 = Date.UTC(2026, 6, 1, 10);
    let now = t0;
    const engine = new RuleEngine(
      [{ id: 'hot', name: 'Too hot', devices: { all: true }, when: { field: 'temperature', op: 'above', value: 30, for: '5s' }, severity: 'warning', timezone: 'Europe/Berlin', message: '{device} hot since {since}' }],
      { clock: () => now },
    );
    const events = [0, 5000].flatMap((dt) => {
      now = t0 + dt;
      return engine.process({ device: 'dev1', ts: now, fields: { temperature: 31 }, tags: {} });
    });
    const firing = events.find((e) => e.event === 'firing');
    assert.ok(firing, JSON.stringify(events));
    const n = new Notifier({ email: { host: '127.0.0.1', port: smtpPort, secure: false, from: 'upperstack@example.com', to: ['ops@example.com'] } });
    n.send(firing);
    await eventually(async () => (mails.length >= 1) || undefined, 10_000, 'mails.length >= 1');
    await n.close();
    const text = mails[0].data.replace(/=\r?\n/g, '');
    assert.match(text, /dev1 hot since 2026-07-01 12:00:00 CEST/);
    assert.match(text, /^at: 2026-07-01 12:00:05 CEST; since 2026-07-01 12:00:00 CEST; occurrence 1$/m);
  });

  it('e-mail: the transition\'s idempotency key in a header, and one Message-ID for every send of it', async () => {
    mails.length = 0;
    const n = new Notifier({ email: { host: '127.0.0.1', port: smtpPort, secure: false, from: 'upperstack@example.com', to: ['ops@example.com'] } });
    n.send(EVENT);
    n.send({ ...EVENT });
    n.send({ ...EVENT, key: 'hot:dev1:3', event: 'cleared' });
    await eventually(async () => (mails.length >= 3) || undefined, 10_000, 'mails.length >= 3');
    await n.close();
    const id = (m: { data: string }) => /^Message-ID: (.*)$/im.exec(m.data)?.[1];
    assert.match(mails[0].data, /^X-Upperstack-Key: hot:dev1:2$/m);
    assert.ok(id(mails[0]), mails[0].data);
    assert.equal(id(mails[1]), id(mails[0]), 'the same transition sent again');
    assert.notEqual(id(mails[2]), id(mails[0]), 'another transition');
  });

  it('webhook: the key in the Idempotency-Key header (percent-encoded when a device id is not plain ASCII)', async () => {
    hits.length = 0;
    const n = new Notifier({ webhook: { url: httpUrl } });
    n.send(EVENT);
    n.send({ ...EVENT, device: 'kühlraum 1', key: 'hot:kühlraum 1:7' });
    await eventually(async () => (hits.length === 2) || undefined, 10_000, 'hits.length === 2');
    await n.close();
    assert.equal(hits[0].key, 'hot:dev1:2');
    assert.equal(hits[0].body.key, 'hot:dev1:2');
    assert.equal(decodeURIComponent(hits[1].key!), 'hot:kühlraum 1:7');
    assert.equal(hits[1].body.key, 'hot:kühlraum 1:7');
  });

  it('webhook: a JSON POST of the transition, retried after a 503 until it is taken', async () => {
    failFirst = 2;
    hits.length = 0;
    const sent: string[] = [];
    const n = new Notifier({ webhook: { url: httpUrl, token: 'hook-token', retryMs: 20 }, onSent: (c, e) => sent.push(`${c}:${e.id}`) });
    n.send(EVENT);
    await eventually(async () => (sent.length === 1) || undefined, 10_000, 'sent.length === 1');
    await n.close();
    assert.deepEqual(hits.map((h) => h.attempt), ['1', '2', '3']);
    assert.deepEqual(hits[2].body, EVENT);
    assert.equal(hits[2].auth, 'Bearer hook-token');
  });

  it('webhook: gives up after the last attempt and says why', async () => {
    failFirst = 100;
    hits.length = 0;
    const errors: string[] = [];
    const n = new Notifier({ webhook: { url: httpUrl, attempts: 3, retryMs: 10 }, onError: (c, e) => errors.push(`${c}: ${e.message}`) });
    n.send(EVENT);
    await eventually(async () => (errors.length === 1) || undefined, 10_000, 'errors.length === 1');
    await n.close();
    failFirst = 0;
    assert.equal(hits.length, 3);
    assert.match(errors[0], /webhook: webhook http:\/\/127\.0\.0\.1:\d+\/hook answered 503/);
  });

  it('MQTT: the transition as JSON on the topic template', async () => {
    const got: Array<[string, string]> = [];
    const n = new Notifier({ mqtt: { topic: 'alerts/{severity}/{device}', publish: async (t, p) => void got.push([t, p]) } });
    n.send({ ...EVENT, device: 'a/b+c' });
    await eventually(async () => (got.length === 1) || undefined, 10_000, 'got.length === 1');
    await n.close();
    assert.equal(got[0][0], 'alerts/warning/a_b_c');
    assert.equal((JSON.parse(got[0][1]) as AlertEvent).id, 'hot:dev1');
    assert.equal((JSON.parse(got[0][1]) as AlertEvent).key, 'hot:dev1:2', 'the idempotency key in the payload');
  });
});
