/**
 * What the broker puts right in the CONNACK aedes writes (connection.ts passes
 * it here before the packet goes out):
 *
 * - Session Present: aedes sets it only when it restored subscriptions, so a
 *   device that only publishes would be told it has no session while the broker
 *   holds its QoS 2 state ([MQTT-3.2.2-2]; sessions.ts knows which it holds);
 * - the reason code of a refused login: aedes maps a refusal to one of four
 *   MQTT 3.1.1 return codes, so 0x9F (connection rate exceeded) would reach an
 *   MQTT 5 client as 0x88 and 0x8A (banned) as 0x87;
 * - shared subscriptions: aedes says they are not available, since it has none;
 *   shared.ts serves them, and a client that follows [MQTT-3.2.2-13] would not
 *   use them. Left out, the property means "available".
 */
import type { AedesClient, AedesPacket } from './aedes-types';

const ERROR_THRESHOLD = 0x80;

interface Connack {
  sessionPresent?: boolean;
  returnCode?: number;
  reasonCode?: number;
  properties?: { sharedSubscriptionAvailable?: boolean };
}

export interface ConnackFacts {
  /** Whether the client resumed a session the broker holds. */
  resumes?: (client: AedesClient) => boolean;
  /** The MQTT 5 reason code the login was refused with, if it was. */
  refusal?: number;
  /** The broker serves shared subscriptions. */
  shared: boolean;
}

export function adjustConnack(packet: AedesPacket, client: AedesClient | undefined, facts: ConnackFacts): void {
  const connack = packet as AedesPacket & Connack;
  const code = connack.returnCode ?? connack.reasonCode ?? 0;
  // MQTT 3.1 has no Session Present; a refused connection never has a session.
  if (client && !connack.sessionPresent && (client.version ?? 0) >= 4 && code === 0 && facts.resumes?.(client)) connack.sessionPresent = true;
  if (facts.refusal !== undefined && client?.version === 5 && (connack.reasonCode ?? 0) >= ERROR_THRESHOLD) connack.reasonCode = facts.refusal;
  if (facts.shared && connack.properties?.sharedSubscriptionAvailable === false) delete connack.properties.sharedSubscriptionAvailable;
}
