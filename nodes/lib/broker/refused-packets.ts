/**
 * Inbound packets the broker closes a connection for before aedes sees them
 * (connection.ts applies them): why, in words for the operator's log and, on
 * MQTT 5, for the client's DISCONNECT reason string.
 */

/** MQTT 5 DISCONNECT reason codes. */
export const PROTOCOL_ERROR = 0x82;
export const TOPIC_ALIAS_INVALID = 0x94;

/**
 * A packet the protocol forbids that the packet parser lets through: a QoS 1/2 PUBLISH, a SUBSCRIBE or an
 * UNSUBSCRIBE must carry a non-zero packet identifier (MQTT 3.1.1 [MQTT-2.3.1-1], MQTT 5 2.2.1). Taken as it
 * is, a QoS 1 publish with identifier 0 was journaled, stored and acknowledged with PUBACK 0; the standard
 * answer is to close the connection ([MQTT-4.8.0-1]) without acting on the packet.
 */
export function protocolViolation(packet: { cmd?: string; qos?: number; messageId?: number }): string | undefined {
  const needsId = packet.cmd === 'subscribe' || packet.cmd === 'unsubscribe' || (packet.cmd === 'publish' && (packet.qos ?? 0) > 0);
  if (!needsId || (packet.messageId !== undefined && packet.messageId !== 0)) return undefined;
  const what = packet.cmd === 'publish' ? `a QoS ${packet.qos} PUBLISH` : `a ${packet.cmd!.toUpperCase()}`;
  return `${what} with packet identifier 0 (MQTT requires a non-zero one); the packet was not taken`;
}

/**
 * An MQTT 5 PUBLISH with a Topic Alias: the broker's CONNACK offers none (Topic Alias Maximum 0), so the
 * client broke [MQTT-3.3.2-9] and the connection ends (DISCONNECT 0x94). Many client libraries turn aliases on
 * by a setting; the message says which setting to turn off, since the device otherwise reconnects and is
 * dropped again at its first publish.
 */
export function topicAliasRefusal(packet: { cmd?: string; properties?: Record<string, unknown> }): string | undefined {
  const alias = packet.cmd === 'publish' ? packet.properties?.topicAlias : undefined;
  if (alias === undefined) return undefined;
  return `this broker takes no topic aliases (Topic Alias Maximum 0 in its CONNACK), but the PUBLISH used topic alias ${String(alias).slice(0, 8)}: turn topic aliases off in the client and send the topic name in every PUBLISH`;
}
