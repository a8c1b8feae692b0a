/**
 * The types of DeviceAuth (device-auth.ts): who a client is, what it presents,
 * the decisions and refusals, and the parts other modules lend it (data
 * market, signing and rate limits, API keys).
 */
import type { DeviceRegistry } from '../devices/registry';
import type { AuditInput } from '../audit/audit';
import type { FieldMasks } from './masking';
import type { OwnTopicMatch } from './own-topics';

export type Principal =
  | { kind: 'device'; id: string }
  | { kind: 'client'; id: string }
  | { kind: 'shared'; id: string }
  | { kind: 'key'; id: string; scopes: string[] }
  | { kind: 'anonymous' };

export type Protocol = 'mqtt' | 'http' | 'coap';

export interface ConnectInfo {
  protocol: Protocol;
  clientId?: string;
  username?: string;
  password?: Buffer | string;
  /** Peer address. */
  remote?: string;
  /** CN of a client certificate the TLS listener verified against its CA. */
  certCN?: string;
  /** The listener is bound to a loopback address (only this machine can reach it). */
  loopback: boolean;
  /** The listener's shared device login of earlier releases (node credentials or UPPERSTACK_MQTT_USERNAME/PASSWORD). */
  shared?: SharedLogin;
}

export interface SharedLogin {
  username: string;
  password: string;
}

/**
 * A refusal, with what each protocol needs to say it: an MQTT 5 reason code
 * (0x86 bad user name or password, 0x87 not authorized, 0x8A banned, 0x88 server
 * unavailable, 0x97 quota exceeded, 0x9F connection rate exceeded), an HTTP status
 * (CoAP uses the same class: 401 → 4.01, 403 → 4.03, 429 → 4.29), an error code and
 * a message a person can act on.
 */
export interface Refusal {
  ok: false;
  reasonCode: number;
  status: 400 | 401 | 403 | 429 | 503;
  code: string;
  message: string;
  retryAfterMs?: number;
}

export type AuthResult = { ok: true; principal: Principal } | Refusal;
export type Decision = { ok: true } | Refusal;
/** `payload` set: the verified body of a signed envelope, to use instead of what was published. */
export type PublishDecision = { ok: true; payload?: Buffer; contentType?: string } | Refusal;

export interface PublishPacket {
  topic: string;
  payload: Buffer;
  qos: number;
  contentType?: string;
}

/** The data market's part (nodes/lib/devices/market.ts). */
export interface MarketAccess {
  hasClient(id: string): boolean;
  checkClient(id: string, secret: string): Promise<boolean>;
  /** True while `client` holds a grant for `device`. */
  granted(client: string, device: string): boolean;
}

/** Signed messages and rate limits (nodes/lib/security/traffic.ts). */
export interface TrafficChecks {
  /** Counts one message of `device` from `remote`; a refusal says when to retry. */
  consume(device: string | undefined, remote: string | undefined): Promise<Decision>;
  /**
   * Counts one message of each device (those an InfluxDB body names); the first over its limit refuses them
   * all, named in `device`, and the others are not counted.
   */
  consumeDevices(devices: Iterable<string>): Promise<{ ok: true } | (Refusal & { device: string })>;
  /** The limits consume() counts against (0: none); without it, consume() is always asked. */
  readonly limits?: { perDevice: number; perAddress: number };
  /** Verifies and unwraps a signed MQTT/CoAP envelope of a device that must sign. */
  unwrap(device: string, payload: Buffer, contentType: string | undefined): PublishDecision;
  /** Verifies a signature sent beside the body (HTTP headers) of a device that must sign. */
  verify(device: string, body: Buffer, signed: { ts?: string; nonce?: string; sig?: string }): Decision;
}

/** An API key presented as a password: its id and scopes, or undefined when it is no key. */
export type KeyCheck = (secret: string) => Promise<{ id: string; scopes: string[] } | undefined>;

export interface DeviceAuthOptions {
  registry: DeviceRegistry;
  keys?: KeyCheck;
  /** Whether a key's scopes let it read a device's data (default: admin and read see every device). */
  keySees?: (scopes: string[], device: string) => boolean;
  /** The sensitive fields masked for a key with these scopes (none, or undefined: it sees them as sent). */
  keyMasks?: (scopes: string[]) => FieldMasks | undefined;
  /** The dead-letter, alert and notification topics the flows configure (own-topics.ts), besides the default `upperstack/…` ones. */
  ownTopic?: (topic: string) => OwnTopicMatch | undefined;
  /** No anonymous clients anywhere, loopback included. */
  requireAuth?: boolean;
  market?: MarketAccess;
  traffic?: TrafficChecks;
  audit?: (entry: AuditInput, refusal: boolean) => void;
  /** Failed logins one login name may make from one address per minute before it is refused there for a minute (default 20). */
  failuresPerMinute?: number;
  /** Failed logins of all names from one address per minute before the address is refused for a minute (default 5 × failuresPerMinute). */
  failuresPerAddress?: number;
  /** Addresses with recent failed logins kept track of (default 10,000); past it, every login asks the limiter for two minutes. */
  failedAddressesKept?: number;
  /** How long authenticate waits for the registry to load (default 15 s). */
  readyTimeoutMs?: number;
}
