/**
 * An empty retained publish is how MQTT clears a topic's retained message (MQTT 3.1.1 and MQTT 5, section
 * 3.3.1.3): the broker drops what it kept, and the publish carries no data. The inputs acknowledge it and let it
 * go, counted (upperstack_mqtt_retained_cleared_total), rather than dead-letter it as an empty payload: clearing
 * is not bad input.
 */
import { retainedCleared } from '../metrics/pipeline';

/**
 * True, and counted, for the publish that clears a retained message: the retain flag set and nothing in the
 * payload. The caller acknowledges it and hands it to no intake.
 */
export function retainedClear(retain: boolean | undefined, payload: Uint8Array | string): boolean {
  if (retain !== true || payload.length !== 0) return false;
  retainedCleared.inc();
  return true;
}
