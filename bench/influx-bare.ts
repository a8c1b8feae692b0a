/**
 * The bare line-protocol writer of the InfluxDB rows (bench/influx.ts), run as a
 * child process: an MQTT.js subscriber (QoS 1) that parses each reading, makes
 * its line and POSTs /write?precision=ms in batches of 5,000 lines (or what
 * has come within 1 s), one request at a time. No journal, no spool, no
 * retries: the server's ceiling as seen from MQTT.
 *
 * argv[2]: JSON {mqttUrl, filter, influxUrl, db}. IPC: {type:'ready'} once
 * subscribed; {type:'error'} on a failed write.
 */
import mqtt from 'mqtt';

const cfg = JSON.parse(process.argv[2]) as { mqttUrl: string; filter: string; influxUrl: string; db: string };
const BATCH = 5000;
const FLUSH_MS = 1000;

let lines: string[] = [];
let timer: NodeJS.Timeout | undefined;
let chain = Promise.resolve();

function escapeTag(v: string): string {
  return v.replace(/[,= ]/g, (c) => `\\${c}`);
}

function post(body: string): Promise<void> {
  return fetch(`${cfg.influxUrl}/write?db=${encodeURIComponent(cfg.db)}&precision=ms`, { method: 'POST', body }).then(async (res) => {
    if (res.status !== 204) process.send?.({ type: 'error', message: `${res.status} ${await res.text()}` });
    else await res.arrayBuffer();
  }, (err: unknown) => {
    process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  });
}

function flush(): void {
  if (timer) clearTimeout(timer);
  timer = undefined;
  if (lines.length === 0) return;
  const body = lines.join('\n');
  lines = [];
  chain = chain.then(() => post(body));
}

function line(r: Record<string, unknown>): string {
  let fields = '';
  for (const k in r) {
    if (k === 'device' || k === 'ts') continue;
    const v = r[k];
    if (typeof v !== 'number') continue;
    fields += `${fields ? ',' : ''}${k}=${v}`;
  }
  return `telemetry,device=${escapeTag(String(r.device))} ${fields} ${Number(r.ts)}`;
}

async function main(): Promise<void> {
  const client = await mqtt.connectAsync(cfg.mqttUrl, { clientId: `bench-bare-influx-${process.pid}`, clean: true, protocolVersion: 4, reconnectPeriod: 0 });
  client.on('message', (_topic, payload) => {
    const v = JSON.parse(payload.toString()) as Record<string, unknown> | Array<Record<string, unknown>>;
    for (const r of Array.isArray(v) ? v : [v]) lines.push(line(r));
    if (lines.length >= BATCH) flush();
    else timer ??= setTimeout(flush, FLUSH_MS);
  });
  await client.subscribeAsync(cfg.filter, { qos: 1 });
  process.send?.({ type: 'ready' });
}

process.on('disconnect', () => process.exit(0));
main().catch((err: unknown) => {
  process.send?.({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
