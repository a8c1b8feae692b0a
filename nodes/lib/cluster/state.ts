/**
 * Per-device analytics state that moves with a cluster partition
 * (docs/scaling.md): nodes that keep state per device (anomaly, alerts)
 * register a holder; the partition node exports a partition's devices from
 * every holder into one checkpoint on the cluster broker, and imports it on
 * the member that takes the partition over.
 */
import { gunzipSync, gzipSync } from 'node:zlib';

/** A node's per-device state, as the cluster code sees it. */
export interface DeviceStateHolder {
  /** The same on every member (they run the same flows): node type and id. */
  readonly key: string;
  /** Plain JSON of the devices `keep` accepts. */
  exportDevices(keep: (device: string) => boolean): Promise<unknown>;
  /** Replaces what the holder has for the devices in `state` (an exportDevices() result, maybe from another member). */
  importDevices(state: unknown): Promise<void>;
  /** Drops the devices `drop` accepts. */
  forgetDevices(drop: (device: string) => boolean): Promise<void>;
}

/** The holders of one runtime, and the gate the partition node sets while it runs. */
export class DeviceStateRegistry {
  readonly holders = new Map<string, DeviceStateHolder>();
  /**
   * Set by the partition node: resolves once the partitions of these devices
   * are checkpointed. A holder about to announce a state change (an alert
   * firing) waits for it, so a member that dies right after cannot leave its
   * successor a checkpoint from before the change (which would fire again).
   */
  gate?: (holder: string, devices: readonly string[]) => Promise<void>;
  /**
   * Set by the partition node: whether a device's partition is this member's
   * now (its checkpoint imported, not handed on). What time alone decides (a
   * dead-man silence) is judged only for those devices; unset: all of them.
   */
  owns?: (device: string) => boolean;

  register(h: DeviceStateHolder): () => void {
    this.holders.set(h.key, h);
    return () => {
      if (this.holders.get(h.key) === h) this.holders.delete(h.key);
    };
  }
}

const registries = new Map<string, DeviceStateRegistry>();

/** One registry per runtime (its data folder). */
export function deviceStateRegistry(scope: string): DeviceStateRegistry {
  let r = registries.get(scope);
  if (!r) {
    r = new DeviceStateRegistry();
    registries.set(scope, r);
  }
  return r;
}

/**
 * What a partition's owner leaves on the broker (retained), for the next
 * owner: one message per holder, so an alert transition rewrites the alert
 * engine's share of the partition and not the (much larger) detectors'.
 */
export interface Checkpoint {
  version: 1;
  partition: number;
  /** The holder whose state it is. */
  holder: string;
  /** The member that wrote it. */
  member: string;
  /** Epoch ms it was written. */
  at: number;
  /** The holder's exportDevices() for the partition's devices. */
  state: unknown;
}

/** The retained topic of a holder's checkpoint of a partition. */
export function checkpointTopic(group: string, partition: number, holder: string): string {
  return `upperstack/cluster/${group}/state/${partition}/${encodeURIComponent(holder)}`;
}

/** gzip'd JSON: detector state compresses well, and a partition's checkpoint is one MQTT message. */
export function encodeCheckpoint(c: Checkpoint): Buffer {
  return gzipSync(Buffer.from(JSON.stringify(c), 'utf8'));
}

/** A checkpoint from its message; undefined for an empty (cleared) or unreadable one. */
export function decodeCheckpoint(payload: Buffer): Checkpoint | undefined {
  if (payload.length === 0) return undefined;
  try {
    const c = JSON.parse(gunzipSync(payload).toString('utf8')) as Checkpoint;
    return c && c.version === 1 && typeof c.holder === 'string' && typeof c.state === 'object' && c.state !== null ? c : undefined;
  } catch {
    return undefined;
  }
}
