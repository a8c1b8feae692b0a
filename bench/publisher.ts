/**
 * Load generator of the pipeline benchmark, run as a child process so it never
 * shares an event loop with what is measured. Each MQTT.js client publishes its
 * share of readings at QoS 1, keeping `inflight` messages unacknowledged: as fast
 * as the broker's PUBACKs allow. Client 0 of a probing publisher slips a probe
 * message in every probeEveryMs: a reading on the probe device whose ts is the
 * send time (ms), which the benchmark later finds in the store.
 *
 * With `rate`, each client publishes that many messages per second instead
 * (the latency row), still within the window of unacknowledged messages.
 *
 * IPC: sends {type:'ready'} once connected, starts on {type:'go'}, sends
 * {type:'done'} when every message is acknowledged, exits on {type:'exit'}.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { PAD_BASE, TS_BASE, readingJson, type PublisherConfig, type PublisherReport } from './common';

const cfg = JSON.parse(process.argv[2]) as PublisherConfig;
const report = (r: PublisherReport) => process.send?.(r);

function loadPayload(device: string, msgIndex: number): string {
  if (cfg.batch === 1) return readingJson(device, TS_BASE + msgIndex, msgIndex);
  const parts: string[] = [];
  for (let j = 0; j < cfg.batch; j++) {
    const k = msgIndex * cfg.batch + j;
    parts.push(readingJson(device, TS_BASE + k, k));
  }
  return `[${parts.join(',')}]`;
}

let lastProbeTs = 0;
let probeIndex = 0;
function probePayload(device: string): string {
  // Strictly increasing, so two probes never share a primary key.
  const now = Date.now();
  const ts = now > lastProbeTs ? now : lastProbeTs + 1;
  lastProbeTs = ts;
  const first = readingJson(device, ts, probeIndex);
  if (cfg.batch === 1) {
    probeIndex++;
    return first;
  }
  // A probe batch has the same size as a load batch: the probe reading and fillers on a pad device.
  const parts = [first];
  for (let j = 1; j < cfg.batch; j++) parts.push(readingJson(`${device}-pad`, PAD_BASE + probeIndex * cfg.batch + j, j));
  probeIndex++;
  return `[${parts.join(',')}]`;
}

async function main(): Promise<void> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < cfg.clients; i++) {
    clients.push(
      await mqtt.connectAsync(cfg.url, {
        clientId: `bench-pub-${process.pid}-${cfg.index}-${i}`,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        reconnectPeriod: 0,
      }),
    );
  }
  report({ type: 'ready' });
  await new Promise<void>((resolve) => {
    const onMsg = (m: { type?: string }) => {
      if (m?.type === 'go') {
        process.off('message', onMsg);
        resolve();
      }
    };
    process.on('message', onMsg);
  });

  const firstPublish = Date.now();
  let lastAck = firstPublish;
  let probes = 0;
  let totalMessages = 0;
  await Promise.all(
    clients.map(
      (client, ci) =>
        new Promise<void>((resolve, reject) => {
          const device = `${cfg.devicePrefix}-p${cfg.index}-c${ci}`;
          const topic = `${cfg.topicPrefix}/${device}/telemetry`;
          const probing = ci === 0 && cfg.probeDevice !== undefined;
          const probeTopic = probing ? `${cfg.topicPrefix}/${cfg.probeDevice}/telemetry` : '';
          let nextProbe = Date.now();
          let sent = 0;
          let outstanding = 0;
          const onAck = (err?: Error) => {
            if (err) return reject(err);
            outstanding--;
            lastAck = Date.now();
            if (sent === cfg.messagesPerClient && outstanding === 0) return resolve();
            pump();
          };
          // At a fixed rate a message may go once its time has come (and the window has room).
          const started = Date.now();
          const due = () => (cfg.rate ? Math.min(cfg.messagesPerClient, Math.floor(((Date.now() - started) / 1000) * cfg.rate) + 1) : cfg.messagesPerClient);
          if (cfg.rate) {
            const tick = setInterval(() => {
              if (sent >= cfg.messagesPerClient) clearInterval(tick);
              else pump();
            }, 2);
          }
          const pump = () => {
            const limit = due();
            while (outstanding < cfg.inflight && sent < limit) {
              outstanding++;
              if (probing && Date.now() >= nextProbe) {
                nextProbe = Date.now() + cfg.probeEveryMs;
                probes++;
                client.publish(probeTopic, probePayload(cfg.probeDevice!), { qos: 1 }, onAck);
                continue;
              }
              client.publish(topic, loadPayload(device, sent), { qos: 1 }, onAck);
              sent++;
              totalMessages++;
            }
          };
          if (cfg.messagesPerClient === 0) resolve();
          else pump();
        }),
    ),
  );
  report({ type: 'done', firstPublish, lastAck, messages: totalMessages, readings: totalMessages * cfg.batch, probes });
  await new Promise<void>((resolve) => process.on('message', (m: { type?: string }) => m?.type === 'exit' && resolve()));
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  process.exit(0);
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  report({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
