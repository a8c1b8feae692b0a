/**
 * Which partition a device belongs to, which member should own a partition and how long a lease lasts: what
 * every member computes alike, and the options of the ownership partitions.ts builds on them.
 */
import type { IClientOptions } from 'mqtt';

/** FNV-1a, 32 bits, over the device id's UTF-8 bytes. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function partitionOf(device: string, partitions: number): number {
  return fnv1a(device) % partitions;
}

/** The topic a device's readings are republished on for the partition's owner. */
export function partitionTopic(device: string, partitions: number, prefix = 'upperstack/p'): string {
  return `${prefix}/${partitionOf(device, partitions)}/${device}`;
}

/** The member that should own the partition among these (highest rendezvous hash); undefined with none. */
export function targetOwner(partition: number, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const m of members) {
    const score = fnv1a(`${partition}\u0000${m}`);
    if (score > bestScore || (score === bestScore && best !== undefined && m < best)) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}

export interface OwnershipOptions {
  broker: string;
  group: string;
  member: string;
  partitions: number;
  leaseMs: number;
  /** Login and TLS for the broker (everything but the client id, will and session). */
  connect?: IClientOptions;
  /**
   * Called before this member gives up a partition it still holds (the
   * partition now belongs to another member, or this one stops); the claim is
   * cleared once it resolves, so the next owner starts after it (a checkpoint).
   */
  handOver?: (partition: number) => Promise<void>;
  /** For tests: the clock. */
  now?: () => number;
}

/** A member whose lease ran out still counts as live this long (a renewal period): a late renewal moves nothing. */
export function leaseGraceMs(leaseMs: number): number {
  return Math.max(200, Math.floor(leaseMs / 3));
}

export interface Lease {
  member: string;
  until: number;
}
