/**
 * Failover figures for docs/scaling.md (`node dist/bench/failover.js`): three cluster
 * members (`npm start` with UPPERSTACK_CLUSTER_BROKER, the default lease and
 * checkpoint period unless BENCH_FAILOVER_LEASE_SECONDS says otherwise) on Debian's
 * mosquitto and influxd. Per trial one member is killed with SIGKILL and a reading of
 * a device it owned the partition of is posted to a survivor at once; the figure is
 * what a user sees: the time from the kill until a survivor's alert API has that
 * device's alert (the partition claimed, its checkpoint imported, its session read).
 * Then the member is started again on its data folder and name, and the time from its
 * start until it owns its share again is the join figure.
 *
 * Environment: BENCH_FAILOVER_TRIALS (default 5), BENCH_FAILOVER_LEASE_SECONDS (unset:
 * the member default). A measurement, not a test.
 */
import { loadavg } from 'node:os';
import { partitionOf, targetOwner } from '../nodes/lib/cluster/partitions';
import { memberAlert, memberApi, shareRules, startClusterMember, watchClaims } from '../test/helpers/cluster';
import { startMosquitto } from '../test/helpers/mosquitto';
import { startInfluxd } from '../test/helpers/influxd';
import type { Runtime } from '../test/helpers/runtime';
import { sleep } from './common';

const P = 64;
const GROUP = 'failover';
const TRIALS = Number(process.env.BENCH_FAILOVER_TRIALS) || 5;
const LEASE = process.env.BENCH_FAILOVER_LEASE_SECONDS;
const NAMES = ['m1', 'm2', 'm3'];

/** Polls fn every 50 ms until it returns a value (or fails after ms). */
async function until<T>(fn: () => Promise<T | undefined> | T | undefined, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

async function main(): Promise<void> {
  const mosq = await startMosquitto();
  const influx = await startInfluxd();
  const env: Record<string, string> = LEASE ? { UPPERSTACK_CLUSTER_LEASE_SECONDS: LEASE } : {};
  const opts = { broker: mosq, sink: influx, group: GROUP, env };
  const members = new Map<string, Runtime>();
  const { claims, client: watcher } = await watchClaims(mosq, GROUP);
  const settled = () => until(() => ([...Array(P).keys()].every((p) => claims.get(p) === targetOwner(p, NAMES)) ? true : undefined), 300_000, 'every partition at its owner');
  const failovers: number[] = [];
  const joins: number[] = [];
  try {
    for (const name of NAMES) members.set(name, await startClusterMember(name, opts));
    await shareRules(members.values(), [{ id: 'ping', name: 'Ping', devices: { all: true }, when: { field: 'ping', op: 'above', value: 0 }, severity: 'info' }]);
    await settled();
    for (let trial = 0; trial < TRIALS; trial++) {
      const victim = NAMES[trial % NAMES.length];
      const survivor = members.get(NAMES[(trial + 1) % NAMES.length])!;
      const others = NAMES.filter((n) => n !== victim).map((n) => members.get(n)!);
      let device = '';
      for (let i = 0; !device; i++) if (targetOwner(partitionOf(`t${trial}-d${i}`, P), NAMES) === victim) device = `t${trial}-d${i}`;
      const rt = members.get(victim)!;
      await rt.kill9();
      const killed = Date.now();
      const res = await memberApi(survivor, 'POST', `/ingest/${device}`, { ts: Date.now(), ping: 1 });
      if (res.status !== 202) throw new Error(`ingest: ${res.status} ${await res.text()}`);
      await until(async () => {
        for (const o of others) if (await memberAlert(o, `ping:${device}`)) return true;
        return undefined;
      }, 300_000, `the alert of ${device} on a survivor`);
      failovers.push(Date.now() - killed);
      const started = Date.now();
      members.set(victim, await startClusterMember(victim, opts, rt.dataDir));
      await settled();
      joins.push(Date.now() - started);
      console.log(`trial ${trial + 1}: ${victim} killed, ${device}'s alert on a survivor after ${failovers.at(-1)} ms; back and owning its share ${joins.at(-1)} ms after its start`);
    }
  } finally {
    await watcher.endAsync();
    for (const rt of members.values()) await rt.stop().catch(() => undefined);
    await influx.destroy();
    await mosq.stop();
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)];
  console.log(`lease ${LEASE ?? 'default'} s, load average ${loadavg()[0].toFixed(1)}`);
  console.log(`kill → alert on a survivor (ms): ${sorted(failovers).join(', ')} (median ${median(failovers)})`);
  console.log(`start → owning its share (ms): ${sorted(joins).join(', ')} (median ${median(joins)})`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
