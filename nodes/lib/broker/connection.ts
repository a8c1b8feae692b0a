/**
 * What aedes 2.0.0-beta.1 leaves out of MQTT 5 flow control, per connection:
 *
 * - towards the client, its Receive Maximum (at most that many QoS 1/2 PUBLISH
 *   unacknowledged; the rest wait, in order, until PUBACK/PUBCOMP frees a slot)
 *   and its Maximum Packet Size (a PUBLISH that would be larger is skipped and
 *   treated as delivered, [MQTT-3.1.2-25]); a message whose expiry passes while
 *   it waits is dropped, one that goes out carries its remaining lifetime;
 * - from the client, the broker's Receive Maximum: a client with more QoS 1/2
 *   publishes unacknowledged than advertised is disconnected with 0x93. The
 *   broker acknowledges only once an in-process subscriber has made a message
 *   durable, so this also bounds what one device can have waiting on the journal.
 *
 * aedes writes every packet through mqtt-packet's writeToStream(packet, conn);
 * installWriteHook() (write-hook.ts) wraps that function once, and a connection whose stream
 * carries a ConnectionGate (set before aedes.handle) has its packets passed
 * through the gate. Inbound packets are seen by wrapping the listener aedes puts
 * on the client's parser, which also closes the connection of a client that
 * sends a packet the protocol forbids (protocolViolation). Past that, MQTT 3.1.1
 * clients are not touched (none of this exists there), so their path stays as
 * fast as aedes makes it.
 */
import type { Duplex } from 'node:stream';
import type { AedesClient, AedesInstance, AedesPacket, AedesSubscription } from './aedes-types';
import { isShared, type SharedSubscriptions } from './shared';
import { adjustConnack } from './connack';
import { PROTOCOL_ERROR, protocolViolation, TOPIC_ALIAS_INVALID, topicAliasRefusal } from './refused-packets';
import { aedesMqttPacket, attachGate, writeUnhooked } from './write-hook';

export { gateOf, gateSawConnack, installWriteHook } from './write-hook';

/**
 * Bytes a subscriber may leave unread on its socket before it is disconnected (unless the broker's
 * setting says otherwise). aedes waits for a full socket to drain before it takes the publisher's next
 * message (up to its drainTimeout, 60 s), so one subscriber that stops reading would hold up every device
 * publishing to a topic it subscribed to.
 */
export const SLOW_SUBSCRIBER_BYTES = 8 * 1024 * 1024;
const RECEIVE_MAXIMUM_EXCEEDED = 0x93;
const ERROR_THRESHOLD = 0x80;
const NOT_AUTHORIZED = 0x87;
/** MQTT 5 PUBACK/PUBREC reason (a success): the message was accepted, but nothing subscribes to its topic. */
const NO_MATCHING_SUBSCRIBERS = 0x10;

export interface GateOptions {
  /** The broker's Receive Maximum (advertised in CONNACK); 0: not enforced. */
  receiveMaximum: number;
  /** Messages waiting for a free slot towards one client before new ones are dropped. */
  maxPending: number;
  /** Bytes a subscriber may leave unread before it is disconnected (SLOW_SUBSCRIBER_BYTES); 0: no bound. */
  maxBehindBytes?: number;
  /** Told about a dropped message or a disconnected client, for the log. */
  onProblem?: (client: AedesClient, err: Error) => void;
  /** Told about a client disconnected for breaking the protocol (protocolViolation), for the log. */
  onViolation?: (client: AedesClient, err: Error) => void;
  /** Told about a publish refused with the connection (a topic alias), for the log as other refusals are. */
  onRefused?: (client: AedesClient, what: string, message: string) => void;
  /** Takes SUBSCRIBE/UNSUBSCRIBE packets that name a shared subscription, and hears which messages were acknowledged. */
  shared?: SharedSubscriptions;
  /** Whether the client resumed a session the broker holds (sessions.ts): its CONNACK then says Session Present. */
  resumes?: (client: AedesClient) => boolean;
}

interface Waiting {
  packet: AedesPacket;
  opts?: object;
}

/** One per connection; attached to the stream aedes is given. */
export class ConnectionGate {
  private client: AedesClient | undefined;
  /** Message ids of QoS 1/2 PUBLISH sent to the client and not yet acknowledged. */
  private readonly outbound = new Set<number>();
  private readonly waiting: Waiting[] = [];
  /** Message ids of QoS 1/2 PUBLISH received from the client and not yet acknowledged by the broker. */
  private readonly inbound = new Set<number>();
  /** Broker counter of each QoS 1/2 message in flight to the client, by message id (for shared subscriptions). */
  private readonly counters = new Map<number, number>();
  private flushing = false;
  /** Reason code a refused login is answered with (connack.ts). */
  private connackRefusal: number | undefined;
  /** Reason code of a refusal aedes is about to acknowledge with its fixed 0x87 (see noteRefusal). */
  private refusal: number | undefined;
  private wireOpts: object | undefined;
  /** Seen by the gate: proof the write hook is in place (checked once per broker). */
  sawConnack = false;
  /** The client broke the protocol: it is being disconnected, and nothing more it sent is taken. */
  private violated = false;
  /** Packet ids of the client's QoS 1/2 messages nothing subscribes to (noMatchingSubscribers). */
  private unmatched: Set<number> | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly aedes: AedesInstance,
    private readonly opts: GateOptions,
  ) {
    attachGate(stream, this);
  }

  /** Takes over the client's inbound packets; call right after aedes.handle(). */
  attach(client: AedesClient): void {
    this.client = client;
    const parser = client._parser;
    const handlers = parser.listeners('packet');
    parser.removeAllListeners('packet');
    parser.on('packet', (packet) => {
      if (this.inboundPacket(packet)) for (const h of handlers) h.call(parser, packet);
    });
  }

  /**
   * aedes answers a refused MQTT 5 PUBLISH with 0x87 Not authorized whatever the reason; it reports
   * the refusal (clientError) just before it writes that PUBACK/PUBREC. An error with its own
   * `reasonCode` (0x97 Quota exceeded for a rate limit, ...) is put on the wire instead.
   */
  noteRefusal(err: Error & { reasonCode?: unknown }): void {
    const code = err.reasonCode;
    if (typeof code !== 'number' || code < ERROR_THRESHOLD || code > 0xff) return;
    this.refusal = code;
    queueMicrotask(() => (this.refusal = undefined));
  }

  write(packet: AedesPacket, opts?: object): boolean {
    const client = this.client;
    if (packet.cmd === 'connack') {
      this.sawConnack = true;
      // The protocol version aedes encodes with, for the packets this layer writes itself.
      this.wireOpts = opts;
      adjustConnack(packet, client, { resumes: this.opts.resumes, refusal: this.connackRefusal, shared: this.opts.shared !== undefined });
    }
    if (!client || client.version !== 5) return this.send(packet, opts);
    switch (packet.cmd) {
      case 'publish':
        return this.publish(client, packet, opts);
      case 'puback':
      case 'pubcomp':
      case 'pubrec': {
        const ack = packet as AedesPacket & { reasonCode?: number };
        const code = ack.reasonCode ?? 0;
        if (packet.cmd !== 'pubcomp' && this.unmatched?.delete(packet.messageId ?? 0) && code === 0) ack.reasonCode = NO_MATCHING_SUBSCRIBERS;
        if (this.refusal !== undefined && code === NOT_AUTHORIZED && packet.cmd !== 'pubcomp') {
          ack.reasonCode = this.refusal;
          this.refusal = undefined;
        }
        if (packet.messageId !== undefined && (packet.cmd !== 'pubrec' || (ack.reasonCode ?? 0) >= ERROR_THRESHOLD)) this.inbound.delete(packet.messageId);
        return this.send(packet, opts);
      }
      default:
        return this.send(packet, opts);
    }
  }

  /**
   * The MQTT 5 client's message with this packet id matched no subscription (it went to the dead letters,
   * embedded.ts unrouted()): its PUBACK/PUBREC says 0x10 No matching subscribers, which a device can log.
   */
  noMatchingSubscribers(messageId: number): void {
    (this.unmatched ??= new Set()).add(messageId);
  }

  /** The login is refused with this MQTT 5 reason code: the CONNACK about to be written carries it. */
  refuseConnect(reasonCode: number): void {
    this.connackRefusal = reasonCode;
  }

  private send(packet: AedesPacket, opts?: object): boolean {
    if (packet.cmd === 'puback' && typeof packet.messageId === 'number') return this.queueAck(packet, opts);
    if (this.acks) this.flushAcks();
    const written = writeUnhooked(packet, this.stream, opts);
    // Only a PUBLISH towards this client makes others wait; its own acknowledgements may wait for it.
    return written || packet.cmd !== 'publish' || this.slowSubscriber();
  }

  /** A PUBLISH found the socket full: the publisher goes on, and a subscriber too far behind is cut off. */
  private slowSubscriber(): true {
    const stream = this.stream;
    const behind = stream.writableLength;
    const limit = this.opts.maxBehindBytes ?? SLOW_SUBSCRIBER_BYTES;
    if (limit > 0 && behind > limit && !stream.destroyed) {
      stream.destroy();
      if (this.client) this.opts.onProblem?.(this.client, new Error(`${this.client.id} was disconnected: it fell ${behind} bytes behind reading its messages (at most ${limit}; the broker's "slow subscriber" setting)`));
    }
    return true;
  }

  /**
   * PUBACKs of one tick leave as one buffer, in order. mqtt-packet would write
   * each as three chunks (corked until the next tick, so they would leave then
   * too) after several debug() calls; at one PUBACK per received message that
   * was a tenth of the broker's garbage. Any other packet flushes them first,
   * so the order on the wire stays the order aedes wrote in.
   */
  private acks: Buffer | undefined;
  private acksLength = 0;
  private readonly flushAcksNow = () => this.flushAcks();

  private queueAck(packet: AedesPacket, opts?: object): boolean {
    const version = (opts as { protocolVersion?: number } | undefined)?.protocolVersion ?? 4;
    const ack = packet as AedesPacket & { reasonCode?: number; properties?: object };
    // MQTT 3.1/3.1.1 (and 5 with success, no properties, [MQTT-3.4.2-1]): fixed header, length 2, message id.
    const short = version !== 5 || (ack.reasonCode === 0 && ack.properties === undefined);
    const long = short ? undefined : aedesMqttPacket().generate(packet, opts);
    const size = long ? long.length : 4;
    let buf = this.acks;
    if (!buf) {
      buf = this.acks = Buffer.allocUnsafe(Math.max(64, size));
      this.acksLength = 0;
      process.nextTick(this.flushAcksNow);
    } else if (this.acksLength + size > buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(buf.length * 2, this.acksLength + size));
      buf.copy(grown, 0, 0, this.acksLength);
      buf = this.acks = grown;
    }
    const at = this.acksLength;
    if (long) long.copy(buf, at);
    else {
      const id = packet.messageId!;
      buf[at] = 0x40;
      buf[at + 1] = 2;
      buf[at + 2] = id >> 8;
      buf[at + 3] = id & 0xff;
    }
    this.acksLength = at + size;
    return true;
  }

  private flushAcks(): void {
    const buf = this.acks;
    if (!buf) return;
    this.acks = undefined;
    const stream = this.stream;
    if (stream.destroyed || stream.writableEnded) return;
    stream.write(this.acksLength === buf.length ? buf : buf.subarray(0, this.acksLength));
  }

  private publish(client: AedesClient, packet: AedesPacket, opts?: object): boolean {
    if (packet.qos === 0) return this.sendPublish(client, packet, opts) ?? true;
    if (this.waiting.length > 0 || this.outbound.size >= (client.receiveMaximum ?? 65535)) {
      if (this.waiting.length >= this.opts.maxPending) {
        this.drop(client, packet, 'its queue of messages waiting for a free Receive Maximum slot is full');
        return true;
      }
      this.waiting.push({ packet, opts });
      return true;
    }
    return this.sendPublish(client, packet, opts) ?? true;
  }

  /** Sends now, or drops an expired or oversized message; undefined when nothing was written. */
  private sendPublish(client: AedesClient, packet: AedesPacket, opts?: object): boolean | undefined {
    let out = packet;
    if (packet.messageExpiry !== undefined) {
      const left = packet.messageExpiry - Date.now();
      if (left <= 0) {
        this.forget(client, packet);
        return undefined;
      }
      const seconds = Math.ceil(left / 1000);
      if (packet.properties?.messageExpiryInterval !== seconds) out = { ...packet, properties: { ...packet.properties, messageExpiryInterval: seconds } };
    }
    const max = client.maximumPacketSize;
    if (max !== undefined && max > 0 && packetSize(out, max) > max) {
      this.drop(client, packet, `a message on ${packet.topic} is larger than the client's Maximum Packet Size (${max} bytes)`);
      return undefined;
    }
    if (out.qos > 0 && out.messageId !== undefined) {
      this.outbound.add(out.messageId);
      if (out.brokerCounter !== undefined) this.counters.set(out.messageId, out.brokerCounter);
    }
    return this.send(out, opts);
  }

  private drop(client: AedesClient, packet: AedesPacket, why: string): void {
    this.forget(client, packet);
    this.opts.onProblem?.(client, new Error(`not delivered to ${client.id}: ${why}`));
  }

  /** A message that will never go out counts as delivered: its queue entry goes ([MQTT-3.1.2-25]). */
  private forget(client: AedesClient, packet: AedesPacket): void {
    if (packet.qos > 0 && packet.brokerCounter !== undefined) this.opts.shared?.acked(client, packet.brokerCounter);
    if (packet.qos > 0 && !client.clean && packet.messageId !== undefined) {
      this.aedes.persistence.outgoingClearMessageId(client, packet).catch(() => undefined);
    }
  }

  /** False to keep the packet from aedes. */
  private inboundPacket(packet: AedesPacket & Record<string, unknown>): boolean {
    const client = this.client;
    if (!client) return true;
    // The rest of a read that held a protocol violation is not acted on while the connection closes.
    if (this.violated) return false;
    const violation = protocolViolation(packet);
    if (violation !== undefined) {
      this.violated = true;
      this.opts.onViolation?.(client, new Error(`${client.id} was disconnected: ${violation}`));
      // MQTT 5: DISCONNECT 0x82 Protocol Error; 3.1/3.1.1 have no reason to give and just close.
      client.disconnect({ reasonCode: PROTOCOL_ERROR });
      return false;
    }
    const shared = this.opts.shared;
    if (shared && (packet.cmd === 'subscribe' || packet.cmd === 'unsubscribe')) {
      const names = packet.cmd === 'subscribe' ? (packet.subscriptions as AedesSubscription[]).map((s) => s.topic) : (packet.unsubscriptions as string[]);
      if (names.some(isShared)) {
        const write = (p: Record<string, unknown>) => void this.send(p as unknown as AedesPacket, this.wireOpts);
        const go = () => {
          if (client.closed) return;
          if (packet.cmd === 'subscribe') shared.subscribe(client, packet as unknown as Parameters<SharedSubscriptions['subscribe']>[1], write);
          else shared.unsubscribe(client, packet as unknown as Parameters<SharedSubscriptions['unsubscribe']>[1], write);
        };
        // A client may send SUBSCRIBE before the broker has finished connecting it; aedes queues those, and so do we.
        if (client.connected) go();
        else (client as unknown as { once(e: 'connected', fn: () => void): void }).once('connected', go);
        return false;
      }
    }
    if (client.version !== 5) return true;
    switch (packet.cmd) {
      case 'publish': {
        const alias = topicAliasRefusal(packet);
        if (alias !== undefined) return this.refuseAlias(client, packet, alias);
        const max = this.opts.receiveMaximum;
        if (packet.qos === 0 || max <= 0 || packet.messageId === undefined || this.inbound.has(packet.messageId)) return true;
        if (this.inbound.size >= max) {
          this.opts.onProblem?.(client, new Error(`${client.id} sent more than ${max} QoS 1/2 messages without waiting for acknowledgements (Receive Maximum)`));
          client.disconnect({ reasonCode: RECEIVE_MAXIMUM_EXCEEDED });
          return false;
        }
        this.inbound.add(packet.messageId);
        return true;
      }
      case 'puback':
      case 'pubcomp':
        this.release(client, packet.messageId);
        return true;
      case 'pubrec':
        if (((packet.reasonCode as number | undefined) ?? 0) >= ERROR_THRESHOLD) this.release(client, packet.messageId);
        return true;
      default:
        return true;
    }
  }

  /**
   * aedes would answer with a bare DISCONNECT 0x94 and nothing in the log; the operator is told once for the
   * connection (nothing more it sent is read), and the client hears what to change, unless its Maximum Packet
   * Size leaves no room for a reason string ([MQTT-3.14.2-3]).
   */
  private refuseAlias(client: AedesClient, packet: AedesPacket, message: string): false {
    this.violated = true;
    this.opts.onRefused?.(client, `publish ${packet.topic ? packet.topic.slice(0, 200) : '(topic by alias)'}`, message);
    const max = client.maximumPacketSize;
    const fits = max === undefined || max === 0 || Buffer.byteLength(message) + 16 <= max;
    // A client may publish before the broker has finished connecting it: the DISCONNECT waits until it has.
    const go = () => client.disconnect({ reasonCode: TOPIC_ALIAS_INVALID, ...(fits ? { properties: { reasonString: message } } : {}) });
    if (client.connected) go();
    else (client as unknown as { once(e: 'connected', fn: () => void): void }).once('connected', go);
    return false;
  }

  private release(client: AedesClient, messageId: number | undefined): void {
    if (messageId === undefined || !this.outbound.delete(messageId)) return;
    const counter = this.counters.get(messageId);
    if (counter !== undefined) {
      this.counters.delete(messageId);
      this.opts.shared?.acked(client, counter);
    }
    if (this.flushing) return;
    this.flushing = true;
    try {
      const max = client.receiveMaximum ?? 65535;
      while (this.waiting.length > 0 && this.outbound.size < max && !client.closed) {
        const w = this.waiting.shift()!;
        this.sendPublish(client, w.packet, w.opts);
      }
    } finally {
      this.flushing = false;
    }
  }
}

/**
 * The encoded size of a PUBLISH. Topic and payload alone decide it unless it
 * is near the limit; only then is it encoded to count exactly.
 */
function packetSize(packet: AedesPacket, limit: number): number {
  const payload = typeof packet.payload === 'string' ? Buffer.byteLength(packet.payload) : packet.payload.length;
  const floor = payload + Buffer.byteLength(packet.topic) + 4;
  if (floor > limit) return floor;
  if (!packet.properties && floor + 8 < limit) return floor + 8;
  return aedesMqttPacket().generate({ ...packet, cmd: 'publish' }, { protocolVersion: 5 }).length;
}
