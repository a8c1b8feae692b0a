/** Clients that try a broker's refusals again, and telling its refusal of the MQTT version apart from the refusals a retry can get past. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { MqttClientEndedError } from '../errors';

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

/**
 * A client (mqtt.connect) that tries a refused CONNACK again, as it does a broker that is down: a broker still
 * starting ("server unavailable"), or a login its admin is fixing, lets it in later by itself. MQTT.js gives up
 * for good on any refused CONNACK unless told `reconnectOnConnackError`; only a refused MQTT version, which no
 * retry changes, ends the retries here.
 */
export function connectRetrying(url: string, opts: IClientOptions): MqttClient {
  const c = mqtt.connect(url, { ...opts, reconnectOnConnackError: true });
  c.on('error', (err) => {
    // MQTT.js reads the option once the error has been handled, and so schedules no next attempt.
    if (versionRefused(err)) c.options.reconnectOnConnackError = false;
  });
  return c;
}

/**
 * Resolves at the client's first connection. Refusals and a broker that is down are waited through (the
 * client retries, see connectRetrying; its `error` events tell what happens meanwhile); rejects on a refused
 * version, or with MqttClientEndedError when the client is ended first (the owner stopped).
 */
export function firstConnection(c: MqttClient): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const off = () => {
      c.off('connect', connected);
      c.off('error', failed);
      c.off('end', ended);
    };
    const connected = () => {
      off();
      resolve();
    };
    const failed = (err: Error) => {
      if (!versionRefused(err)) return;
      off();
      reject(err);
    };
    const ended = () => {
      off();
      reject(new MqttClientEndedError());
    };
    c.on('connect', connected);
    c.on('error', failed);
    c.on('end', ended);
  });
}
