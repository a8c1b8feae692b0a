/** An MQTT message as the intake's protocol-neutral record. */
import type { Received } from '../ingest/record';

export const MQTT_SOURCE = 'mqtt:';

export function mqttReceived(topic: string, payload: Buffer | string, qos: number, contentType: string | undefined): Received {
  const rec: Received = { source: MQTT_SOURCE + topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos, receivedAt: Date.now() };
  if (contentType) rec.contentType = contentType;
  return rec;
}

/** The topic of an `mqtt:` source. */
export function mqttTopic(source: string): string {
  return source.startsWith(MQTT_SOURCE) ? source.slice(MQTT_SOURCE.length) : source;
}
