/**
 * Ending an MQTT.js client without waiting on a broker that does not answer.
 *
 * A graceful `end()` waits until every outgoing packet is acknowledged (an
 * UNSUBSCRIBE's UNSUBACK, a QoS 1 PUBLISH's PUBACK). A broker that stopped
 * answering on a connection still open (a half-open TCP connection, an
 * overloaded broker) keeps that wait going until Node-RED gives up on the
 * node's close after 15 s, and a deploy hangs that long.
 */
import type { MqttClient } from 'mqtt';
import { ClusterBrokerUnreachableError } from '../errors';

/** How long a close waits for the broker's answers before it drops the connection. */
export const END_WAIT_MS = 5_000;

/** Resolves true when p settles within ms, false otherwise (p's own failure included). */
export function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]).finally(() => clearTimeout(timer));
}

/**
 * p, or a ClusterBrokerUnreachableError once ms have passed without it settling: an MQTT.js call waits for the
 * broker's answer through reconnects, for ever while the broker is down.
 */
export function bounded<T>(p: Promise<T>, ms: number, step: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new ClusterBrokerUnreachableError(step, ms)), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * Ends the client: gracefully while it is connected and the broker answers within
 * waitMs, else by dropping the connection (what was not acknowledged the broker
 * sends again to the session or the group). Never rejects.
 */
export async function endClient(c: MqttClient, waitMs = END_WAIT_MS): Promise<void> {
  // Not connected, there is nothing to flush, and a graceful end would wait for a reconnect.
  if (c.connected && waitMs > 0 && (await within(c.endAsync(), waitMs))) return;
  // MQTT.js takes a second end() during a graceful one as done: the connection goes under it
  // (no reconnect follows, the client is disconnecting).
  if (c.disconnecting) return void c.stream.destroy();
  await within(c.endAsync(true), END_WAIT_MS);
}
