/**
 * The anomaly node's side of heartbeats (devices that went silent): how often
 * the engine checks them, and the message output 2 carries for a device found
 * offline. Apart from anomaly.ts, which keeps the node's wiring and the
 * readings' path; these run on the heartbeat timer only.
 */
import type { HeartbeatEvent } from '../lib/anomaly';
import type { UpperstackMessage } from '../shared/input';
import type { engineOptionsOf } from './options';

/** How often heartbeats are checked: often enough for short configured intervals, once a second otherwise; null when off. */
export function heartbeatEvery(hb: ReturnType<typeof engineOptionsOf>['heartbeat']): number | null {
  if (hb === false) return null;
  const ms = typeof hb?.interval === 'number' ? hb.interval : undefined;
  return ms === undefined ? 1000 : Math.max(50, Math.min(1000, Math.floor(ms / 2)));
}

/** A device found offline at `now`, as an anomalous reading with no fields. */
export function offlineMessage(e: HeartbeatEvent, msgid: string, now: number): UpperstackMessage {
  return {
    _msgid: msgid,
    topic: `upperstack/anomaly/${e.device}`,
    device: e.device,
    payload: {
      device: e.device,
      ts: now,
      fields: {},
      tags: {},
      anomaly: { score: 1, isAnomaly: true, detector: 'heartbeat', expected: e.expectedEvery, band: [0, e.expectedEvery], reason: e.reason },
      heartbeat: e,
    },
  } as UpperstackMessage;
}
