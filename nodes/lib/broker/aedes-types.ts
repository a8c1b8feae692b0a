/**
 * The parts of aedes (2.0.0-beta.1, pinned in package.json) the embedded broker
 * uses, typed. aedes is ESM-only and ships no types for its client internals;
 * the MQTT 5 layer (connection.ts, sessions.ts, shared.ts) relies on the fields
 * named here, and test/unit/broker-mqtt5.test.ts fails if a new aedes changes them.
 */
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { BrokerPersistence } from './persistence';

export interface AedesPacket {
  cmd?: string;
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  dup?: boolean;
  messageId?: number;
  brokerId?: string;
  brokerCounter?: number;
  /** Absolute expiry (epoch ms) aedes derives from the Message Expiry Interval. */
  messageExpiry?: number;
  /** MQTT 5 only. */
  properties?: Record<string, unknown> & { contentType?: string; messageExpiryInterval?: number; willDelayInterval?: number };
  /** Set by aedes on packets it routes: the publishing client. */
  clientId?: string;
  nl?: boolean;
  /** A will's login (auth.ts principalName), kept with it in the data folder so a revocation finds it. */
  login?: string;
}

export interface AedesSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
  subscriptionIdentifier?: number;
}

export type Deliver = (packet: AedesPacket, cb: () => void) => void;

export interface MqttParser {
  on(event: 'packet', fn: (packet: AedesPacket & Record<string, unknown>) => void): void;
  listeners(event: 'packet'): Array<(packet: unknown) => void>;
  removeAllListeners(event: 'packet'): void;
}

export interface AedesClient {
  id: string;
  /** 3, 4 or 5 once CONNECT was read. */
  version: number | null;
  /** The session does not outlive the connection. */
  clean: boolean;
  _cleanStart?: boolean;
  sessionExpiryInterval: number;
  /** The client's Receive Maximum (MQTT 5; 65535 when it sent none). */
  receiveMaximum?: number;
  /** The client's Maximum Packet Size (MQTT 5), if it sent one. */
  maximumPacketSize?: number;
  closed: boolean;
  connected: boolean;
  conn: Duplex;
  broker: AedesInstance;
  will: AedesPacket | null;
  subscriptions: Record<string, unknown>;
  _parser: MqttParser;
  _parsingBatch: number;
  _nextBatch: (err?: Error) => void;
  deliver0: Deliver;
  deliverQoS: Deliver;
  disconnect(opts: { reasonCode: number; properties?: Record<string, unknown> }, done?: () => void): void;
  close(done?: () => void): void;
  emit(event: 'error', err: Error): boolean;
}

export interface AedesInstance {
  id: string;
  closed: boolean;
  clients: Record<string, AedesClient>;
  connectedClients: number;
  persistence: BrokerPersistence;
  /** aedes' message router (mqemitter): its matcher holds a listener per live subscription, the broker's own ones too. */
  mq?: { _matcher?: { match(topic: string): unknown[] } };
  handle: (conn: Duplex, req?: IncomingMessage) => AedesClient;
  publish(packet: AedesPacket, cb: (err?: Error | null) => void): void;
  subscribe(topic: string, fn: Deliver, done?: () => void): void;
  unsubscribe(topic: string, fn: Deliver, done?: () => void): void;
  close(cb: () => void): void;
  on(event: 'client' | 'clientReady' | 'clientDisconnect', fn: (client: AedesClient) => void): void;
  on(event: 'clientError' | 'connectionError', fn: (client: AedesClient, err: Error) => void): void;
  on(event: 'connackSent', fn: (connack: { sessionPresent?: boolean; reasonCode?: number }, client: AedesClient) => void): void;
  emit(event: 'clientError', client: AedesClient, err: Error): boolean;
  authorizePublish: (client: AedesClient | null, packet: AedesPacket, cb: (err?: Error | null) => void) => void;
  authorizeSubscribe: (client: AedesClient, sub: AedesSubscription, cb: (err: Error | null, sub?: AedesSubscription | null) => void) => void;
  authorizeForward: (client: AedesClient, packet: AedesPacket) => AedesPacket | null | undefined;
  authenticate: (client: AedesClient, username: string | undefined, password: Buffer | undefined, cb: (err: (Error & { returnCode?: number }) | null, ok: boolean) => void) => void;
  scheduleSessionExpiry(client: AedesClient): void;
  publishWill(client: AedesClient, will: AedesPacket): void;
  scheduleWill(client: AedesClient, will: AedesPacket, delaySeconds: number): void;
  registerClient(client: AedesClient): void;
  _takingOver: Set<string>;
}
