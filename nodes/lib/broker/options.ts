/**
 * What the embedded broker (embedded.ts) is given and what it tells: its options with their defaults and
 * checks, the events it reports, and the packet its in-process subscribers receive.
 */
import { ConfigError } from '../errors';
import { SLOW_SUBSCRIBER_BYTES } from './connection';
import type { BrokerAuth } from './auth';

export interface BrokerOptions {
  port: number;
  bind: string;
  /** 0 disables WebSocket. */
  wsPort?: number;
  /** 0 disables TLS. */
  tlsPort?: number;
  tlsKeyFile?: string;
  tlsCertFile?: string;
  /**
   * CA (PEM) that signs device client certificates: the TLS listener asks for one, and a certificate it
   * verifies logs the device in by its CN (auth.ts). Clients without one still connect and log in as usual.
   */
  tlsCaFile?: string;
  /** One device login; when set, every client must present it. */
  username?: string;
  password?: string;
  /** Where sessions, queued and retained messages and wills are kept; without it they live in memory only. */
  dataDir?: string;
  /** Largest MQTT packet the broker accepts, in bytes (MQTT 5 clients are told in CONNACK). */
  maximumPacketSize?: number;
  /** QoS 1/2 messages an MQTT 5 client may have unacknowledged towards the broker. */
  receiveMaximum?: number;
  /** Messages kept per offline persistent session (and waiting per slow MQTT 5 client) before new ones are dropped. */
  maxQueued?: number;
  /** Bytes a subscriber may leave unread on its socket before it is disconnected; 0: no bound. */
  maxBehindBytes?: number;
  /** The device registry's access rules (auth.ts); without them, only the login above. */
  auth?: BrokerAuth;
  /** Who this broker is, for people: named when another listener of this process is refused its port. */
  owner?: string;
  /** aedes' heartbeat (default 60 s); its will timer runs every four of them. Shorter only in tests. */
  heartbeatIntervalMs?: number;
}

export const BROKER_DEFAULTS = Object.freeze({
  /** Above the decoder's 1 MiB payload limit, so a large payload is dead-lettered with a reason, not cut off. */
  maximumPacketSize: 16 * 1024 * 1024,
  receiveMaximum: 1000,
  maxQueued: 1000,
  maxBehindBytes: SLOW_SUBSCRIBER_BYTES,
});

/** The options aedes and the connection gates are built with, defaults filled in. */
export function brokerSettings(opts: BrokerOptions) {
  return {
    maximumPacketSize: opts.maximumPacketSize ?? BROKER_DEFAULTS.maximumPacketSize,
    receiveMaximum: opts.receiveMaximum ?? BROKER_DEFAULTS.receiveMaximum,
    maxQueued: opts.maxQueued ?? BROKER_DEFAULTS.maxQueued,
    maxBehindBytes: opts.maxBehindBytes ?? BROKER_DEFAULTS.maxBehindBytes,
  };
}

/** Largest value MQTT can express for a packet size (a 4-byte variable byte integer plus header). */
export const MAX_PACKET_SIZE = 268_435_460;

export interface BrokerEvents {
  onClient?: (id: string, connected: boolean) => void;
  onClientError?: (id: string, err: Error) => void;
  /**
   * The broker acted on a client by its own limits (cut off a slow subscriber, let go of a QoS 2 message
   * awaiting PUBREL, closed a connection whose message it could not make durable): the operator should hear of
   * it, where a client's own socket errors (a reset, a timeout) are routine. Also reported to onClientError.
   */
  onClientProblem?: (id: string, err: Error) => void;
  /** A client was disconnected for breaking MQTT (a packet the protocol forbids). Also reported to onClientError. */
  onProtocolError?: (id: string, err: Error) => void;
  /** A port in use, tried again until it comes free or the broker stops (listen.ts); `first`: its first refusal. */
  onPortInUse?: (err: Error, first: boolean) => void;
  /** A port that was in use is listened on now. */
  onPortFree?: (port: number) => void;
  /** A broker-wide problem (e.g. its state file cannot be written). */
  onError?: (err: Error) => void;
  /** A login, publish or subscription the access rules refused. */
  onRefused?: (clientId: string, what: string, message: string) => void;
  /** aedes' will timer found wills restored from the data folder before the access rules judged them: held, not published. */
  onWillsHeld?: (count: number) => void;
}

/** A client's publish as the in-process subscribers get it (the MQTT input through nodes/shared/runtime.ts). */
export interface InProcessPacket {
  topic: string;
  payload: Buffer;
  qos: number;
  retain: boolean;
  /** The MQTT 5 content type, when the publisher set one. */
  contentType?: string;
  /**
   * A client's publish: its address (`host:port`) and login (as the audit log names it), for the audit entry of
   * a message refused later in the pipeline.
   */
  remote?: string;
  actor?: string;
  /**
   * A client's publish no subscriber's filter matches, in the tree of one (`devices/` of devices/+/telemetry) and
   * received by nobody else (see unrouted()): the filters of that tree. The MQTT input refuses it to its
   * dead-letter output.
   */
  unrouted?: readonly string[];
}

/**
 * Why a TLS port cannot be served, naming the settings that give the files: an operator who set only
 * UPPERSTACK_MQTT_TLS_PORT learns where the key and certificate come from (the broker node's own settings
 * win; the MQTT ones default to the HTTPS ones in settings.ts).
 */
export function tlsFilesMissing(tlsPort: number, noKey: boolean, noCert: boolean): string {
  const missing = noKey && noCert ? 'neither is set' : noKey ? 'the key file is not set' : 'the certificate file is not set';
  return `TLS needs both a key file and a certificate file for the TLS port ${tlsPort}, and ${missing}: set the broker node's TLS key file and TLS certificate, or UPPERSTACK_MQTT_TLS_KEY and UPPERSTACK_MQTT_TLS_CERT (which default to UPPERSTACK_HTTPS_KEY and UPPERSTACK_HTTPS_CERT)`;
}

/** Throws a ConfigError naming the first option that cannot be served. */
export function checkBrokerOptions(opts: BrokerOptions): void {
  for (const [name, port] of [['MQTT', opts.port], ['WebSocket', opts.wsPort ?? 0], ['TLS', opts.tlsPort ?? 0]] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${name} port must be a number from 0 to 65535`);
  }
  if (opts.tlsPort && (!opts.tlsKeyFile || !opts.tlsCertFile)) throw new ConfigError(tlsFilesMissing(opts.tlsPort, !opts.tlsKeyFile, !opts.tlsCertFile));
  const { maximumPacketSize, receiveMaximum, maxQueued, maxBehindBytes } = opts;
  if (maximumPacketSize !== undefined && (!Number.isInteger(maximumPacketSize) || maximumPacketSize < 64 || maximumPacketSize > MAX_PACKET_SIZE)) {
    throw new ConfigError(`the maximum packet size must be a whole number of bytes from 64 to ${MAX_PACKET_SIZE}`);
  }
  if (receiveMaximum !== undefined && (!Number.isInteger(receiveMaximum) || receiveMaximum < 1 || receiveMaximum > 65535)) {
    throw new ConfigError('the receive maximum must be a whole number from 1 to 65535');
  }
  if (maxQueued !== undefined && (!Number.isInteger(maxQueued) || maxQueued < 0)) throw new ConfigError('the queue limit must be a whole number, 0 for none');
  if (maxBehindBytes !== undefined && (!Number.isInteger(maxBehindBytes) || maxBehindBytes < 0)) {
    throw new ConfigError('the slow subscriber limit must be a whole number of bytes, 0 for none');
  }
}
