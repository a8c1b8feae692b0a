/**
 * A packet-level MQTT client for tests that must control exactly what a client
 * sends and when (withheld PUBACKs, a PUBREL never sent, an oversized packet):
 * mqtt-packet encodes and parses, this only keeps the socket and a queue of what
 * arrived. MQTT.js hides those details (it acknowledges on its own and ignores
 * the broker's Receive Maximum), so it cannot play a misbehaving device.
 */
import { connect, type Socket } from 'node:net';
import * as mqttPacket from 'mqtt-packet';

export type RawPacket = mqttPacket.Packet & Record<string, unknown>;

export interface RawClient {
  /** Everything received so far, in order. */
  readonly received: RawPacket[];
  send(packet: Record<string, unknown>): void;
  /** Sends bytes as they are (e.g. a packet mqtt-packet would refuse to encode). */
  sendRaw(buf: Buffer): void;
  /** The next packet (matching `match`) not taken yet; rejects after `timeoutMs`. */
  next(match?: (p: RawPacket) => boolean, timeoutMs?: number): Promise<RawPacket>;
  /** Resolves to true if a matching packet arrives within `ms`, false otherwise. */
  arrives(match: (p: RawPacket) => boolean, ms: number): Promise<boolean>;
  /** Resolves when the broker closed the connection. */
  readonly closed: Promise<void>;
  isClosed(): boolean;
  end(): void;
}

export interface RawConnectOptions {
  clientId: string;
  clean?: boolean;
  keepalive?: number;
  properties?: Record<string, unknown>;
  will?: Record<string, unknown>;
  username?: string;
  password?: Buffer;
  /** 5 unless told (4: MQTT 3.1.1). */
  protocolVersion?: 4 | 5;
}

/** Connects (MQTT 5 unless told) and waits for the CONNACK, which is returned with the client. */
export async function rawConnect(port: number, opts: RawConnectOptions): Promise<{ client: RawClient; connack: RawPacket }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const version = opts.protocolVersion ?? 5;
  const client = wrap(socket, version);
  client.send({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean: opts.clean ?? true,
    clientId: opts.clientId,
    keepalive: opts.keepalive ?? 60,
    properties: opts.properties,
    will: opts.will,
    username: opts.username,
    password: opts.password,
  });
  const connack = await client.next((p) => p.cmd === 'connack');
  return { client, connack };
}

function wrap(socket: Socket, protocolVersion: 4 | 5): RawClient {
  const parser = mqttPacket.parser({ protocolVersion });
  const received: RawPacket[] = [];
  const taken = new Set<RawPacket>();
  const waiters: Array<() => void> = [];
  let isClosed = false;
  const closed = new Promise<void>((resolve) => socket.once('close', () => {
    isClosed = true;
    resolve();
    for (const w of waiters.splice(0)) w();
  }));
  socket.on('error', () => undefined);
  parser.on('packet', (p: mqttPacket.Packet) => {
    received.push(p as RawPacket);
    for (const w of waiters.splice(0)) w();
  });
  socket.on('data', (d) => parser.parse(d));

  const find = (match: (p: RawPacket) => boolean) => received.find((p) => !taken.has(p) && match(p));
  const next = (match: (p: RawPacket) => boolean = () => true, timeoutMs = 5000) =>
    new Promise<RawPacket>((resolve, reject) => {
      let done = false;
      const timer = setTimeout(() => {
        // A late packet must stay for the next caller, not go to a waiter that gave up.
        done = true;
        reject(new Error(`no matching packet within ${timeoutMs} ms; got ${received.map((p) => p.cmd).join(',')}`));
      }, timeoutMs);
      const check = () => {
        if (done) return;
        const p = find(match);
        if (p) {
          taken.add(p);
          done = true;
          clearTimeout(timer);
          return resolve(p);
        }
        if (isClosed) {
          done = true;
          clearTimeout(timer);
          return reject(new Error(`connection closed; got ${received.map((p) => p.cmd).join(',')}`));
        }
        waiters.push(check);
      };
      check();
    });
  return {
    received,
    send: (packet) => void socket.write(mqttPacket.generate(packet as unknown as mqttPacket.Packet, { protocolVersion })),
    sendRaw: (buf) => void socket.write(buf),
    next,
    arrives: (match, ms) =>
      next(match, ms).then(
        () => true,
        () => false,
      ),
    closed,
    isClosed: () => isClosed,
    end: () => socket.destroy(),
  };
}
