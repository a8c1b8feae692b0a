/**
 * A single instance (`npm start`, the default pack) killed during a notification's send: the alert node's
 * webhook points at a receiver here that holds the first request unanswered; while it is held the runtime
 * gets SIGKILL. The transition was on disk as "to send" before the request left (<data>/alerts/outbox), so
 * the restarted runtime sends it again, with the same Idempotency-Key, and the receiver accepts it: one
 * delivery. A third start sends nothing of it again (it was marked sent): the next transition is the next
 * request on the channel. Without the resend the transition is lost: the restart finds the alert firing and
 * sends nothing.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt from 'mqtt';
import { adminToken, eventually, startRuntime, type Runtime } from '../helpers/runtime';
import type { AlertEvent } from '../../nodes/lib/rules/types';

interface Hit {
  key?: string;
  body: AlertEvent;
  answered: boolean;
}

let rt: Runtime;
let receiver: Server;
let hookUrl = '';
const hits: Hit[] = [];
const held: ServerResponse[] = [];
/** The receiver holds requests (a receiver that is slow to answer) until this is true. */
let accepting = false;

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const hit: Hit = { key: req.headers['idempotency-key'] as string | undefined, body: JSON.parse(body) as AlertEvent, answered: false };
      hits.push(hit);
      if (!accepting) {
        held.push(res);
        return;
      }
      hit.answered = true;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alerts`;
  rt = await startRuntime();
});

after(async () => {
  await rt?.stop();
  for (const res of held) res.destroy();
  receiver?.closeAllConnections();
  await new Promise<void>((r) => receiver?.close(() => r()));
});

async function api(method: string, path: string, body?: unknown, token?: string): Promise<Response> {
  return fetch(rt.url + path, {
    method,
    headers: { authorization: `Bearer ${token ?? rt.apiKey}`, 'content-type': 'application/json', ...(token ? { 'Node-RED-API-Version': 'v1', 'Node-RED-Deployment-Type': 'full' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** One reading over MQTT (QoS 1); tried again while the broker restarts with a deploy. */
async function publish(device: string, fields: Record<string, number>): Promise<void> {
  await eventually(async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${rt.mqttPort}`, { clientId: `outbox-${device}`, reconnectPeriod: 0 });
    try {
      await client.publishAsync(`devices/${device}/telemetry`, JSON.stringify({ ts: Date.now(), ...fields }), { qos: 1 });
    } finally {
      await client.endAsync();
    }
    return true;
  }, 30_000, `a reading of ${device} published`);
}

test('kill -9 while the webhook holds the request: after the restart it is sent again with the same key and delivered once', { timeout: 180_000 }, async () => {
  // The pack's alert node with webhook notifications to the receiver (the node's dialog, deployed).
  const token = await adminToken(rt);
  const flows = (await (await api('GET', '/flows', undefined, token)).json()) as Array<Record<string, unknown>>;
  const alertNode = flows.find((n) => n.type === 'upperstack-alert');
  assert.ok(alertNode, 'the default pack has an alert node');
  Object.assign(alertNode, { webhookEnabled: true, webhookUrl: hookUrl, webhookAttempts: 1 });
  const deployed = await api('POST', '/flows', flows, token);
  assert.equal(deployed.status, 204, await deployed.text());
  await eventually(async () => ((await api('GET', '/api/v1/rules')).status === 200 ? true : undefined), 30_000, 'the API after the deploy');
  const created = await api('POST', '/api/v1/rules', { id: 'boom', name: 'Boom', devices: { all: true }, when: { field: 'boom', op: 'above', value: 0 }, severity: 'critical' });
  assert.equal(created.status, 201, await created.clone().text());

  await publish('tank-1', { boom: 1 });
  const first = await eventually(async () => hits.find((h) => h.body.event === 'firing'), 60_000, 'the firing transition at the webhook');
  assert.equal(first.answered, false);
  assert.match(first.key ?? '', /^boom:tank-1:\d+$/);
  assert.equal(first.body.key, first.key);

  // The plug is pulled while the receiver has not answered yet.
  await rt.kill9();
  accepting = true;
  rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
  const again = await eventually(async () => hits.find((h) => h !== first && h.key === first.key), 60_000, 'the same transition sent again after the restart');
  assert.equal(again.answered, true);
  assert.deepEqual(again.body, first.body, 'the same transition, the same key');
  const firing = (await (await api('GET', '/api/v1/alerts/boom:tank-1')).json()) as { state: string };
  assert.equal(firing.state, 'firing', 'and the alert was not raised a second time');

  // Marked sent: a restart sends it no more. Sends go out in order per channel, so the next transition's
  // request comes after anything still waiting.
  await rt.stop();
  rt = await startRuntime({ dataDir: rt.dataDir, httpPort: rt.httpPort, mqttPort: rt.mqttPort });
  await publish('tank-2', { boom: 1 });
  await eventually(async () => hits.find((h) => h.body.device === 'tank-2' && h.body.event === 'firing'), 60_000, 'the next transition at the webhook');
  const ofFirst = hits.filter((h) => h.key === first.key);
  assert.equal(ofFirst.length, 2, 'the held request and the one that was accepted');
  assert.equal(ofFirst.filter((h) => h.answered).length, 1, 'delivered once');
  assert.equal(hits.filter((h) => h.body.event === 'firing').length, 3);
});
