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
 * A later {type:'go', job} publishes again on the same connections with that
 * job's devices, count, probe and rate: the bench's measured phase reuses the
 * processes its warm-up has run, so their publish path is compiled and their
 * start-up is not inside the phase.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { PAD_BASE, TS_BASE, batchJson, cpuSince, readingJson, type PublisherConfig, type PublisherJob, type PublisherReport } from './common';

const cfg = JSON.parse(process.argv[2]) as PublisherConfig;
const report = (r: PublisherReport) => process.send?.(r);

function loadPayload(device: string, msgIndex: number): string {
  if (cfg.batch === 1) return readingJson(device, TS_BASE + msgIndex, msgIndex);
  return batchJson(device, TS_BASE, msgIndex * cfg.batch, cfg.batch);
}

/**
 * Readings of this process whose CPU is reported apart: a process that has not published before
 * spends its first thousands of messages compiling MQTT.js's publish path.
 */
const FIRST_CHUNK = 2500;

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
  for (;;) {
    const m = await nextCommand();
    if (m.type === 'exit') break;
    if (m.job) {
      // Assigned one by one: a key left out of the job (IPC drops undefined) means none, not the last job's.
      cfg.devicePrefix = m.job.devicePrefix;
      cfg.messagesPerClient = m.job.messagesPerClient;
      cfg.probeDevice = m.job.probeDevice;
      cfg.rate = m.job.rate;
    }
    await run(clients);
  }
  await Promise.all(clients.map((c) => c.endAsync().catch(() => undefined)));
  process.exit(0);
}

type Command = { type: 'go'; job?: PublisherJob } | { type: 'exit' };
function nextCommand(): Promise<Command> {
  return new Promise((resolve) => {
    const onMsg = (m: Command) => {
      if (m?.type !== 'go' && m?.type !== 'exit') return;
      process.off('message', onMsg);
      resolve(m);
    };
    process.on('message', onMsg);
  });
}

/** Publishes cfg's job on the connected clients and reports when every message is acknowledged. */
async function run(clients: MqttClient[]): Promise<void> {
  const firstPublish = Date.now();
  const cpu0 = process.cpuUsage();
  let firstChunkCpu = 0;
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
              if (totalMessages * cfg.batch === FIRST_CHUNK) firstChunkCpu = cpuSince(cpu0);
            }
          };
          if (cfg.messagesPerClient === 0) resolve();
          else pump();
        }),
    ),
  );
  const readings = totalMessages * cfg.batch;
  const cpuUs = cpuSince(cpu0);
  report({ type: 'done', firstPublish, lastAck, messages: totalMessages, readings, probes, cpuUs, firstChunk: readings > FIRST_CHUNK ? { readings: FIRST_CHUNK, cpuUs: firstChunkCpu } : undefined });
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  report({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
