/** Telling a broker's refusal of the MQTT version apart from the refusals a retry can get past. */

/** MQTT 3.1.1 CONNACK return code 1: unacceptable protocol version. */
const V311_UNACCEPTABLE_VERSION = 1;
/** MQTT 5 CONNACK reason code 0x84: unsupported protocol version. */
const V5_UNSUPPORTED_VERSION = 0x84;

/**
 * Whether a connection error is the broker refusing the MQTT version asked for. A broker that speaks
 * only 3.1.1 (nats-server's MQTT listener) answers an MQTT 5 CONNECT with a 3.1.1 CONNACK carrying
 * return code 1, which MQTT.js reports with that code; an MQTT 5 broker says 0x84. Retrying cannot
 * change that answer, unlike "server unavailable" or a login the broker's admin may yet fix.
 */
export function versionRefused(err: unknown): boolean {
  if (!(err instanceof Error) || !/^Connection refused\b/.test(err.message)) return false;
  const code = (err as Error & { code?: unknown }).code;
  return code === V311_UNACCEPTABLE_VERSION || code === V5_UNSUPPORTED_VERSION;
}
