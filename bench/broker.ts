/**
 * Micro-benchmark of the embedded broker's intake path: QoS 1 publishes from
 * MQTT.js clients (100 unacknowledged each, as in bench/run.ts) to an
 * in-process subscriber that acknowledges at once, through
 *   - bare aedes with its in-memory persistence (the same authorizePublish
 *     delivery the broker used before its MQTT 5 layer), and
 *   - EmbeddedMqttBroker (flow control, packet size limits, shared
 *     subscriptions, state in a data folder).
 * Rounds alternate between the two so both see the same machine load; the
 * ratio within the run is the figure to read.
 *
 *   node dist/bench/broker.js [messages=40000] [rounds=3]
 */
import { createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../nodes/lib/broker/embedded';
import { topicMatches } from '../nodes/lib/mqtt/topic';
import { tempDir } from '../test/helpers/temp';

interface Target {
  port: number;
  stop(): Promise<void>;
}

async function bareAedes(): Promise<Target> {
  const { Aedes } = (await import('aedes')) as unknown as {
    Aedes: { createBroker(o: object): Promise<{ handle(s: unknown): void; close(cb: () => void): void; authorizePublish: unknown }> };
  };
  const aedes = await Aedes.createBroker({ concurrency: 1000 });
  aedes.authorizePublish = (_c: unknown, packet: { topic: string }, cb: (e: null) => void) => {
    if (topicMatches('devices/+/telemetry', packet.topic)) return cb(null);
    cb(null);
  };
  const server: Server = createServer((s) => aedes.handle(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as { port: number }).port,
    stop: async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function embedded(): Promise<Target> {
  const dataDir = tempDir('us-bench-broker-');
  const broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', dataDir });
  await broker.start();
  broker.subscribe('devices/+/telemetry', (_p, ack) => ack());
  return {
    port: broker.addresses.tcp,
    stop: async () => {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function load(port: number, messages: number, protocolVersion: 4 | 5): Promise<number> {
  const clients = await Promise.all([0, 1].map((i) => mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion, clientId: `bench-${i}`, reconnectPeriod: 0 })));
  const each = messages / clients.length;
  const payload = Buffer.from('{"temperature":21.5,"humidity":40}');
  const start = process.hrtime.bigint();
  await Promise.all(
    clients.map(
      (c, i) =>
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          let acked = 0;
          const pump = () => {
            while (sent - acked < 100 && sent < each) {
              sent++;
              c.publish(`devices/d${i}/telemetry`, payload, { qos: 1 }, (err) => {
                if (err) return reject(err);
                acked++;
                if (acked === each) resolve();
                else pump();
              });
            }
          };
          pump();
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(clients.map((c) => c.endAsync()));
  return messages / seconds;
}

async function main(): Promise<void> {
  const messages = Number(process.argv[2] ?? 40_000);
  const rounds = Number(process.argv[3] ?? 3);
  const results: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, make] of [['bare aedes', bareAedes], ['embedded broker', embedded]] as const) {
      for (const v of [4, 5] as const) {
        const t = await make();
        const rate = await load(t.port, messages, v);
        await t.stop();
        (results[`${name} MQTT ${v === 4 ? '3.1.1' : '5'}`] ??= []).push(rate);
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`| broker | protocol | msgs/s (median of ${rounds}) | vs bare aedes |`);
  console.log('| --- | --- | ---: | ---: |');
  for (const v of ['3.1.1', '5']) {
    const bare = median(results[`bare aedes MQTT ${v}`]);
    const ours = median(results[`embedded broker MQTT ${v}`]);
    console.log(`| bare aedes | ${v} | ${Math.round(bare)} | 1.00 |`);
    console.log(`| embedded broker | ${v} | ${Math.round(ours)} | ${(ours / bare).toFixed(2)} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
