/** Clients that try a broker's refusals again, and telling its refusal of the MQTT version apart from the refusals a retry can get past. */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { MqttClientEndedError } from '../errors';

/** MQTT 3.1.1 CONNACK return code 1: unacceptable protocol version. */
const V311_UNACCEPTABLE_VERSION = 1;
/** MQTT 5 CONNACK reason code 0x84: unsupported protocol version. */
const V5_UNSUPPORTED_VERSION = 0x84;

/** Whether a connection error is a CONNACK refusing the connection (MQTT.js's "Connection refused: <reason>"). */
function refusedConnack(err: unknown): err is Error {
  return err instanceof Error && /^Connection refused\b/.test(err.message);
}

/**
 * Whether a connection error is the broker refusing the MQTT version asked for. A broker that speaks
 * only 3.1.1 (nats-server's MQTT listener) answers an MQTT 5 CONNECT with a 3.1.1 CONNACK carrying
 * return code 1, which MQTT.js reports with that code; an MQTT 5 broker says 0x84. Retrying cannot
 * change that answer, unlike "server unavailable" or a login the broker's admin may yet fix.
 */
export function versionRefused(err: unknown): boolean {
  if (!refusedConnack(err)) return false;
  const code = (err as Error & { code?: unknown }).code;
  return code === V311_UNACCEPTABLE_VERSION || code === V5_UNSUPPORTED_VERSION;
}

/**
 * The longest wait between two attempts the broker refused. A refused login is fixed by a person (a password
 * file, a reload), not in a second: each attempt is another refusal in the broker's log, so they are spaced
 * out, but not so far apart that the client is long in getting in once the login is fixed.
 */
export const REFUSED_MAX_WAIT_MS = 30_000;

/**
 * The wait after the `refusals`-th refusal in a row: the client's reconnect period, doubled at each refusal
 * after the first, at most REFUSED_MAX_WAIT_MS (never less than the period: a refusal is not asked again
 * sooner than a broker that is down).
 */
export function refusedWait(periodMs: number, refusals: number): number {
  return Math.max(periodMs, Math.min(REFUSED_MAX_WAIT_MS, periodMs * 2 ** Math.max(0, refusals - 1)));
}

/**
 * A client (mqtt.connect) that tries a refused CONNACK again: a broker still starting ("server unavailable"),
 * or a login its admin is fixing, lets it in later by itself. MQTT.js gives up for good on any refused CONNACK
 * unless told `reconnectOnConnackError`; here only a refused MQTT version, which no retry changes, ends the
 * retries. Refusals in a row are asked again later and later (refusedWait: 1 s, 2 s, 4 s ... 30 s for a
 * period of 1 s), back to the period once connected; a broker that is down is tried every period.
 */
export function connectRetrying(url: string, opts: IClientOptions): MqttClient {
  const c = mqtt.connect(url, { ...opts, reconnectOnConnackError: true });
  const period = c.options.reconnectPeriod ?? 0;
  let refusals = 0;
  // MQTT.js reads both options once the refusal's error has been handled, when it schedules the next attempt
  // (after a failure of another kind, at its socket's close), and reads the period anew each time.
  c.on('error', (err) => {
    if (versionRefused(err)) c.options.reconnectOnConnackError = false;
    else if (refusedConnack(err) && period > 0) c.options.reconnectPeriod = refusedWait(period, ++refusals);
  });
  // An attempt that fails otherwise (the broker down) is tried again after the period.
  c.on('reconnect', () => (c.options.reconnectPeriod = period));
  c.on('connect', () => {
    refusals = 0;
    c.options.reconnectPeriod = period;
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
