/** Options of upperstack-partition, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';
import { DEFAULT_GROUP, DEFAULT_LEASE_MS, DEFAULT_PARTITIONS } from '../lib/cluster/config';

export interface PartitionOptions {
  name: string;
  /** The broker the cluster members share (mqtt://, mqtts://). */
  broker: string;
  /** Cluster group: members of one group share the partitions. */
  group: string;
  /** This member's name, stable across restarts. */
  member: string;
  partitions: number;
  leaseSeconds: number;
  /** Readings of partition p travel on `<prefix>/<p>/readings`. */
  prefix: string;
  /** How often a partition's analytics state is checkpointed on the broker while its readings come in. */
  checkpointSeconds: number;
  /** An upperstack-mqtt-connection whose login and TLS settings reach the cluster broker; none: the URL alone. */
  connection: string;
  configVersion: number;
}

export interface PartitionNodeDef extends NodeDef, PartitionOptions {}

export const DEFAULT_PREFIX = 'upperstack/p';
export const DEFAULT_CHECKPOINT_SECONDS = 10;

export const partitionMigrations: ReadonlyArray<Migration<PartitionOptions>> = [
  // v0 (hand-written or imported flows) → v1: every option present, numbers as numbers.
  (old) => ({
    broker: '',
    member: '',
    prefix: DEFAULT_PREFIX,
    ...old,
    group: typeof old.group === 'string' && old.group ? old.group : DEFAULT_GROUP,
    partitions: Number(old.partitions || DEFAULT_PARTITIONS),
    leaseSeconds: Number(old.leaseSeconds || DEFAULT_LEASE_MS / 1000),
  }),
  // v1 → v2: analytics state checkpoints (cadence) and the broker's login/TLS from a connection node.
  (old) => ({
    ...old,
    checkpointSeconds: Number(old.checkpointSeconds || DEFAULT_CHECKPOINT_SECONDS),
    connection: typeof old.connection === 'string' ? old.connection : '',
  }),
];
