/**
 * Cluster members for the integration tests: runtimes (`npm start` with
 * UPPERSTACK_CLUSTER_BROKER) in one group on a shared mosquitto and a shared
 * influxd, each on a data folder of its own and free ports, the alert rules
 * made on one member and awaited on all, and the partitions' owners as the
 * broker holds them.
 */
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import type { AlertEvent, AlertRecord } from '../../nodes/lib/rules/types';
import type { TsdbServer } from './influxd';
import type { Mosquitto } from './mosquitto';
import { eventually, freePort, startRuntime, type Runtime } from './runtime';
import { tempDir } from './temp';

export interface ClusterOptions {
  /** The cluster broker. */
  broker: Mosquitto;
  /** The shared store (InfluxDB). */
  sink: TsdbServer;
  group: string;
  /** More environment for every member (lease, checkpoint interval, test hooks). */
  env?: Record<string, string>;
}

/** Starts member `name` of the group on `dataDir` (a new temporary folder by default). */
export async function startClusterMember(name: string, opts: ClusterOptions, dataDir = tempDir(`us-${opts.group}-${name}-`)): Promise<Runtime> {
  return startRuntime({
    dataDir,
    httpPort: await freePort(),
    mqttPort: await freePort(),
    env: {
      UPPERSTACK_CLUSTER_BROKER: `mqtt://127.0.0.1:${opts.broker.port}`,
      UPPERSTACK_CLUSTER_GROUP: opts.group,
      UPPERSTACK_CLUSTER_MEMBER: name,
      UPPERSTACK_CLUSTER_SINK: opts.sink.url,
      UPPERSTACK_CLUSTER_SINK_KIND: 'influxdb',
      ...opts.env,
    },
  });
}

/** Starts the members one after the other into `members` (by name). */
export async function startClusterMembers(names: string[], opts: ClusterOptions, members = new Map<string, Runtime>()): Promise<Map<string, Runtime>> {
  for (const name of names) members.set(name, await startClusterMember(name, opts));
  return members;
}

/** A request to a member's API with its key (JSON body). */
export function memberApi(r: Runtime, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(r.url + path, { method, headers: { authorization: `Bearer ${r.apiKey}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
}

/** Alert `id` as member `r` has it, with its events; undefined when it has none. */
export async function memberAlert(r: Runtime, id: string): Promise<(AlertRecord & { events: AlertEvent[] }) | undefined> {
  const res = await memberApi(r, 'GET', `/api/v1/alerts/${encodeURIComponent(id)}`);
  return res.status === 200 ? ((await res.json()) as AlertRecord & { events: AlertEvent[] }) : undefined;
}

/** Makes `rules` through the first member's API and waits until every member has them all (shared through the cluster broker). */
export async function shareRules(members: Iterable<Runtime>, rules: readonly unknown[]): Promise<void> {
  const all = [...members];
  for (const rule of rules) assert.equal((await memberApi(all[0]!, 'POST', '/api/v1/rules', rule)).status, 201);
  for (const rt of all) {
    await eventually(async () => ((await (await memberApi(rt, 'GET', '/api/v1/rules')).json()) as { rules: unknown[] }).rules.length === rules.length || undefined, 30_000, 'the rules on every member');
  }
}

/** The group's partition owners as the broker holds them (retained claims), kept up to date by a client of the caller's to end. */
export async function watchClaims(broker: Mosquitto, group: string): Promise<{ claims: Map<number, string>; client: MqttClient }> {
  const claims = new Map<number, string>();
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 5 });
  client.on('message', (topic, payload) => {
    const p = Number(topic.split('/').pop());
    if (payload.length === 0) claims.delete(p);
    else claims.set(p, (JSON.parse(payload.toString()) as { member: string }).member);
  });
  await client.subscribeAsync(`upperstack/cluster/${group}/claims/+`, { qos: 1 });
  return { claims, client };
}
