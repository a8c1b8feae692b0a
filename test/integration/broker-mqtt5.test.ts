/**
 * The MQTT 5 scenarios of test/helpers/mqtt5-scenarios.ts against Debian's
 * mosquitto, the reference that shows each scenario asks for what a mature
 * broker does (the embedded broker runs the same ones in test/unit).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { defineScenarios } from '../helpers/mqtt5-scenarios';
import { startMosquitto } from '../helpers/mosquitto';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);

defineScenarios('mosquitto', async (o) => {
  const conf: string[] = [];
  if (o.maximumPacketSize) conf.push(`max_packet_size ${o.maximumPacketSize}`);
  if (o.receiveMaximum) conf.push(`max_inflight_messages ${o.receiveMaximum}`);
  const m = await startMosquitto({ persistence: o.persistent, conf });
  return { port: m.port, restart: () => m.restart(), stop: () => m.stop() };
}, {
  unsupported: {
    "the broker keeps no more than the client's Receive Maximum in flight": 'mosquitto 2.0.11 sends two more after the first PUBACK, one over the quota',
    "a client over the broker's Receive Maximum is disconnected with 0x93": 'mosquitto 2.0.11 advertises the limit but answers every QoS 2 PUBLISH over it with PUBREC',
    'a takeover with Clean Start ends the old session: its delayed will is published then': 'mosquitto 2.0.11 drops the will (MQTT 5 §3.1.3.2.2: published when the delay passes or the session ends)',
    'messages a member leaves unacknowledged when its session ends go to another member': 'mosquitto 2.0.11 drops them (MQTT 5 says SHOULD send them to another member)',
  },
});

/** Debian's mosquitto command-line clients speaking MQTT 5 to the embedded broker. */
async function withEmbedded(fn: (port: number) => Promise<void>): Promise<void> {
  const dataDir = tempDir('us-broker5-cli-');
  const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', dataDir });
  await broker.start();
  try {
    await fn(broker.addresses.tcp);
  } finally {
    await broker.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function until<T>(fn: () => T | undefined, what: string, ms = 30_000): Promise<T> {
  const end = performance.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('mosquitto_sub -V mqttv5 killed: its will comes after its will delay', async () => {
  await withEmbedded(async (port) => {
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    const got: string[] = [];
    watcher.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
    await watcher.subscribeAsync('status/cli', { qos: 1 });
    // -d prints the SUBACK; stdbuf makes the output line-buffered so it arrives before the client exits.
    const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-i', 'cli-dev', '-t', 'cmd/cli',
      '--will-topic', 'status/cli', '--will-payload', 'offline', '--will-qos', '1',
      '-D', 'will', 'will-delay-interval', '1', '-D', 'connect', 'session-expiry-interval', '30', '-d'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let debug = '';
    sub.stdout.on('data', (d: Buffer) => (debug += d.toString()));
    try {
      // Killed before its CONNECT reached the broker, it would leave no will.
      await until(() => (/received SUBACK/.test(debug) ? true : undefined), 'mosquitto_sub connected', 30_000);
      sub.kill('SIGKILL');
      await until(() => got.find((g) => g === 'status/cli=offline'), 'the will of the killed client', 30_000);
    } finally {
      sub.kill('SIGKILL');
      await watcher.endAsync();
    }
  });
});

test('mosquitto_pub -V mqttv5 with a message expiry: an offline session gets only what has not expired', async () => {
  await withEmbedded(async (port) => {
    const url = `mqtt://127.0.0.1:${port}`;
    const a = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'exp-cli', clean: true, properties: { sessionExpiryInterval: 300 }, reconnectPeriod: 0 });
    await a.subscribeAsync('exp/cli', { qos: 1 });
    await a.endAsync();
    const pub = (msg: string, expiry: number) => run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', 'exp/cli', '-m', msg, '-D', 'publish', 'message-expiry-interval', String(expiry)]);
    await pub('short', 1);
    await pub('long', 60);
    await new Promise((r) => setTimeout(r, 2200));
    const back = mqtt.connect(url, { protocolVersion: 5, clientId: 'exp-cli', clean: false, reconnectPeriod: 0 });
    const got: Array<{ payload: string; left: unknown }> = [];
    back.on('message', (_t, p, packet) => got.push({ payload: p.toString(), left: packet.properties?.messageExpiryInterval }));
    try {
      await until(() => (got.length ? got : undefined), 'the message that did not expire');
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(got.map((g) => g.payload), ['long']);
      assert.ok(typeof got[0].left === 'number' && got[0].left < 60 && got[0].left > 50, `remaining lifetime ${String(got[0].left)}`);
    } finally {
      back.end(true);
    }
  });
});

test('two mosquitto_sub -V mqttv5 in one shared group split what mosquitto_pub sends', async () => {
  await withEmbedded(async (port) => {
    const member = () => {
      // -d: its SUBACK (line-buffered by stdbuf) says when it has joined the group.
      const p = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', '$share/cli/jobs/+', '-d'], { stdio: ['ignore', 'pipe', 'ignore'] });
      const lines: string[] = [];
      let subscribed = false;
      let partial = '';
      p.stdout.on('data', (d: Buffer) => {
        const all = (partial + d.toString()).split('\n');
        partial = all.pop() ?? '';
        for (const l of all) {
          if (/received SUBACK/.test(l)) subscribed = true;
          else if (/^job \d+$/.test(l)) lines.push(l);
        }
      });
      return { p, lines, subscribed: () => subscribed };
    };
    const m1 = member();
    const m2 = member();
    try {
      // A job published before both joined would all go to one member, or to none.
      await until(() => (m1.subscribed() && m2.subscribed() ? true : undefined), 'both members subscribed', 30_000);
      for (let i = 0; i < 10; i++) await run('mosquitto_pub', ['-V', 'mqttv5', '-h', '127.0.0.1', '-p', String(port), '-q', '1', '-t', `jobs/${i}`, '-m', `job ${i}`]);
      await until(() => (m1.lines.length + m2.lines.length >= 10 ? true : undefined), 'ten jobs', 30_000);
      await new Promise((r) => setTimeout(r, 300));
      const all = [...m1.lines, ...m2.lines].sort();
      assert.deepEqual(all, Array.from({ length: 10 }, (_, i) => `job ${i}`).sort(), 'each job once');
      assert.ok(m1.lines.length > 0 && m2.lines.length > 0, `both members worked (${m1.lines.length}/${m2.lines.length})`);
    } finally {
      m1.p.kill();
      m2.p.kill();
    }
  });
});

test('CONNACK does not tell an MQTT 5 client that shared subscriptions are unavailable, as mosquitto does not', async () => {
  await withEmbedded(async (port) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0 });
    try {
      const connack = await new Promise<{ properties?: { sharedSubscriptionAvailable?: boolean } }>((resolve, reject) => {
        client.once('connect', resolve);
        client.once('error', reject);
      });
      // Absent means available ([MQTT-3.2.2-13] asks a client not to use them when it is 0).
      assert.notEqual(connack.properties?.sharedSubscriptionAvailable, false);
    } finally {
      client.end(true);
    }
  });
});
