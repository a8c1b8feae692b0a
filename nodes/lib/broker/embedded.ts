/**
 * The embedded MQTT broker (aedes; MQTT 3.1, 3.1.1 and 5) with its TCP, TLS and WebSocket listeners.
 * In-process subscribers are served from aedes' authorizePublish hook, which runs
 * before aedes writes PUBACK (QoS 1) or PUBREC (QoS 2): a device's publish is
 * acknowledged only after every matching subscriber says it is durable. A plain
 * aedes.subscribe() would not do, as aedes acknowledges QoS 1 before delivery.
 *
 * What aedes leaves out of MQTT 5 is added around it: flow control and packet
 * size limits per connection (connection.ts), sessions and wills (sessions.ts),
 * and state kept in the data folder across restarts (persistence.ts).
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ConfigError } from '../errors';
import { releasePorts } from '../port-holders';
import { listenOn } from './listen';
import { isLoopback } from '../security/net';
import { topicMatches } from '../mqtt/topic';
import type { AedesClient, AedesInstance, AedesPacket } from './aedes-types';
import { BrokerPersistence, type PersistenceStats } from './persistence';
import { gateOf, installWriteHook } from './connection';
import { handleGated, sharedLogin, tlsServer, watchClients, webSocketServer } from './aedes-setup';
import { installSessionFixes, stripWillProperties, type SessionHooks } from './sessions';
import { SharedSubscriptions } from './shared';
import { InboundQos2 } from './qos2';
import { ReturningFilters, type Returning } from './returning';
import { ackWhenAll } from './ack-all';
import { installDeviceAuth, judgeRestoredWills, remoteOf, type AuthAedes, type AuthClient } from './auth';
import { principalName } from '../security/mqtt-rules';
import { brokerSettings, checkBrokerOptions, type BrokerEvents, type BrokerOptions, type InProcessPacket } from './options';

interface Sender {
  remote?: string;
  actor?: string;
}
/** `fail`: the subscriber cannot make the message durable (ack will not come); a subscriber that never fails ignores it. */
type Deliver = (p: InProcessPacket, ack: () => void, fail: () => void) => void;

interface Subscriber {
  filter: string;
  deliver: Deliver;
  /** The filter's levels before its first wildcard, with the trailing `/` (`devices/` of devices/+/telemetry); '' for none. */
  tree: string;
}

/**
 * The tree a filter subscribes in: its levels before the first wildcard, never the whole filter (the tree of
 * `sensors/room1` is `sensors/`), so that a topic beside the ones it takes can be told from unrelated traffic.
 */
export function filterTree(filter: string): string {
  const levels = filter.split('/');
  let n = levels.findIndex((l) => l === '+' || l === '#');
  if (n < 0) n = levels.length - 1;
  return n > 0 ? `${levels.slice(0, n).join('/')}/` : '';
}

/** MQTT 5 DISCONNECT reason: the server cannot take the client's messages now, try again later. */
const SERVER_BUSY = 0x89;


export class EmbeddedMqttBroker {
  private aedes: AedesInstance | undefined;
  private persistence: BrokerPersistence | undefined;
  private sessions: SessionHooks | undefined;
  private shared: SharedSubscriptions | undefined;
  private servers: Array<NetServer | HttpServer> = [];
  private sockets = new Set<Socket>();
  private isListening = false;
  private subscribers: Subscriber[] = [];
  /** Filters of inputs being restarted: their publishes wait for them (returning.ts). */
  private readonly returning = new ReturningFilters();
  /** Per connection, once: its publishes are many. */
  private senders = new WeakMap<AedesClient, Sender>();
  private stopAuth: () => void = () => undefined;
  readonly addresses: Record<string, number> = {};

  constructor(private readonly opts: BrokerOptions, private readonly events: BrokerEvents = {}) {
    checkBrokerOptions(opts);
  }

  private starting: Promise<void> | undefined;
  /** Aborted by stop(): a listener still waiting for its port gives up. */
  private readonly halted = new AbortController();

  start(): Promise<void> {
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    // The port is bound before aedes and its persistence are ready (that takes a while on a data folder with
    // sessions): a client started next to the broker, such as a flow's mqtt-broker config node, then connects
    // at once instead of being refused and retrying seconds later with a clean session that missed what was
    // published meanwhile. Its CONNECT waits in the socket until aedes takes it.
    const early: { aedes?: AedesInstance } = {};
    const waiting: Socket[] = [];
    const tcp = createNetServer((socket) => {
      if (early.aedes) return this.track(socket, early.aedes);
      this.trackSocket(socket);
      waiting.push(socket);
    });
    const tcpPort = this.listen(tcp, this.opts.port);
    // Awaited below, after aedes: a refusal (port in use) must not go unhandled meanwhile.
    tcpPort.catch(() => undefined);
    installWriteHook();
    const { Aedes } = (await import('aedes')) as unknown as { Aedes: { createBroker(o: object): Promise<AedesInstance> } };
    const s = brokerSettings(this.opts);
    const onError = (err: Error) => this.events.onError?.(err);
    const persistence = new BrokerPersistence({ dir: this.opts.dataDir, maxQueued: s.maxQueued });
    this.persistence = persistence;
    const aedes = await Aedes.createBroker({
      concurrency: 1000,
      persistence,
      maximumPacketSize: s.maximumPacketSize,
      receiveMaximum: s.receiveMaximum,
      ...(this.opts.heartbeatIntervalMs ? { heartbeatInterval: this.opts.heartbeatIntervalMs } : {}),
    });
    this.aedes = aedes;
    (aedes as unknown as { on(e: 'error', fn: (err: Error) => void): void }).on('error', onError);
    const qos2 = new InboundQos2(persistence, {
      cap: s.receiveMaximum,
      onError,
      onEvicted: (id, messageId) =>
        this.problem(id, new Error(`${id} has ${s.receiveMaximum} QoS 2 messages awaiting PUBREL: the oldest (packet id ${messageId}) is no longer held`)),
    });
    this.sessions = installSessionFixes(aedes, persistence, onError, (id) => qos2.forget(id));
    this.shared = new SharedSubscriptions(aedes, persistence, onError);
    const anonymousAllowed = isLoopback(this.opts.bind);
    const { username, password } = this.opts;
    aedes.authenticate = sharedLogin(username, password, anonymousAllowed);
    aedes.authorizePublish = (client, packet, cb) => {
      if (packet.topic.startsWith('$SYS')) return cb(new Error('$SYS topics are reserved'));
      stripWillProperties(packet);
      // QoS 2: a copy of a message whose PUBREL has not come yet is answered, not delivered again (qos2.ts).
      const undurable = () => this.dropUndurable(client);
      if (packet.qos === 2 && client && packet.messageId !== undefined) {
        return qos2.admit(client.id, packet, (ack, failed) => this.deliver(packet, ack, () => (failed(), undurable()), client), cb as () => void);
      }
      this.deliver(packet, cb as () => void, undurable, client);
    };
    const auth = this.opts.auth;
    if (auth) {
      const facts = { loopback: anonymousAllowed, shared: username ? { username, password: password ?? '' } : undefined, onRefused: this.events.onRefused, onError };
      // The rules run first; the hooks above still run for what they allow.
      this.stopAuth = installDeviceAuth(aedes as unknown as AuthAedes, auth, facts);
      // Restored wills wait for the rules in force at start, however long the registry takes to load (or if it never
      // does): aedes' will timer (4 min) would publish them unchecked. Kept in the data folder meanwhile.
      const release = persistence.holdRestoredWills((count) => this.events.onWillsHeld?.(count));
      this.judgeRestored = () => judgeRestoredWills(aedes as unknown as AuthAedes, auth, facts).then((judged) => {
          // Not all judged (the error is logged): held, and judged again at the next start.
          if (judged) release();
        });
      if (this.restoredToJudge) void this.judgeRestored();
    }
    watchClients(aedes, this.events, onError);

    this.addresses.tcp = await tcpPort;
    early.aedes = aedes;
    for (const socket of waiting.splice(0)) if (!socket.destroyed) this.handle(socket, aedes);
    if (this.opts.tlsPort) {
      const tls = tlsServer(this.opts, (socket) => this.track(socket, aedes));
      this.addresses.tls = await this.listen(tls, this.opts.tlsPort);
    }
    if (this.opts.wsPort) {
      const http = await webSocketServer((conn, req) => this.handle(conn, aedes, req), (s) => this.trackSocket(s));
      this.addresses.ws = await this.listen(http, this.opts.wsPort);
    }
    this.isListening = true;
  }

  listening(): boolean {
    return this.isListening;
  }

  clients(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  /** Offline sessions, queued and retained messages, dropped messages, bytes on disk. */
  stats(): PersistenceStats | undefined {
    return this.persistence?.stats();
  }

  /**
   * The returned function unsubscribes; `removed: false` says the subscriber is being restarted (a redeploy):
   * publishes on its filter wait for the next subscriber of that filter, unacknowledged, instead of finding nobody.
   */
  subscribe(filter: string, deliver: Deliver): (removed?: boolean) => void {
    const sub: Subscriber = { filter, deliver, tree: filterTree(filter) };
    this.subscribers.push(sub);
    this.returning.back(filter, deliver);
    return (removed = true) => {
      this.subscribers = this.subscribers.filter((s) => s !== sub);
      if (!removed && this.aedes) this.returning.add(filter);
    };
  }

  private judgeRestored: (() => Promise<void>) | undefined;
  private restoredToJudge = false;

  /**
   * The access rules in force at start are settled (the deploy that started the broker is over): the wills restored
   * from the data folder are judged by them (auth.ts judgeRestoredWills), now or as soon as the rules are installed.
   */
  judgeWills(): Promise<void> {
    if (this.judgeRestored) return this.judgeRestored();
    this.restoredToJudge = true;
    return Promise.resolve();
  }

  /** A deploy is over: publishes still waiting for an input that did not come back are routed as they would be now. */
  releaseReturning(): void {
    this.returning.release();
  }

  publish(topic: string, payload: Buffer, qos: 0 | 1 = 0, retain = false): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new ConfigError('the broker is not started'));
    return new Promise((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic, payload, qos, retain, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  async stop(): Promise<void> {
    // A stop during start (a quick redeploy) waits for it, or its listeners would outlive the stop; a listener
    // waiting for its port to come free stops waiting.
    this.halted.abort();
    this.returning.clear();
    await this.starting?.catch(() => undefined);
    this.isListening = false;
    this.stopAuth();
    // No new connections; closed() resolves once the last one is gone.
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    // The ports are free for another listener from now on, even while connections still close.
    releasePorts(this);
    this.servers = [];
    this.sessions?.stop();
    const aedes = this.aedes;
    this.aedes = undefined;
    // aedes tells MQTT 5 clients why (0x8B) and the session hooks note when their sessions expire.
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
    await this.persistence?.destroy();
    this.persistence = undefined;
  }

  /** Who a client is, for its deliveries: its address and port, and its login once it has logged in. */
  private senderOf(client: AedesClient): Sender {
    let from = this.senders.get(client);
    if (from) return from;
    const c = client as unknown as AuthClient;
    const address = remoteOf(c);
    const port = (c.conn as Partial<{ remotePort: number }>).remotePort;
    from = {};
    if (address) from.remote = port === undefined ? address : `${address}:${port}`;
    if (c.upperstackPrincipal) from.actor = principalName(c.upperstackPrincipal);
    // Cached only once the login is known (publishes come after it; a client without device auth has none).
    if (from.actor || !this.opts.auth) this.senders.set(client, from);
    return from;
  }

  /** To every in-process subscriber of the topic; `ack` once all have made it durable, `failed` when one cannot. */
  private deliver(packet: AedesPacket, ack: () => void, failed: () => void, client?: AedesClient | null): void {
    // Counted first, so that a message for one subscriber (the usual case) needs no array of targets.
    const subs = this.subscribers;
    let count = 0;
    for (let i = 0; i < subs.length; i++) if (topicMatches(subs[i].filter, packet.topic)) count++;
    const returning = this.returning.size === 0 ? undefined : this.returning.matching(packet.topic);
    if (returning) return this.deliverWaiting(packet, ack, failed, client, count, returning);
    if (count === 0) return client && !packet.retain ? this.unrouted(packet, ack, failed, client) : ack();
    const p = this.inProcess(packet, client);
    if (count === 1) {
      // The usual case: aedes' own callback is the ack (it takes no error), no counting closure per message.
      for (let i = 0; i < subs.length; i++) if (topicMatches(subs[i].filter, packet.topic)) return subs[i].deliver(p, ack, failed);
    }
    const all = ackWhenAll(count, ack, failed);
    // A subscriber that cannot make the message durable never acks: no PUBACK, and the connection is closed (dropUndurable).
    for (let i = 0; i < subs.length && count > 0; i++) {
      if (!topicMatches(subs[i].filter, packet.topic)) continue;
      count--;
      subs[i].deliver(p, all.acked, all.fail);
    }
  }

  /** deliver() for a publish an input being restarted would take (ReturningFilters.share). */
  private deliverWaiting(packet: AedesPacket, ack: () => void, failed: () => void, client: AedesClient | null | undefined, count: number, waiting: Returning[]): void {
    const now = this.subscribers.filter((s) => topicMatches(s.filter, packet.topic)).map((s) => s.deliver);
    const reroute = count === 0 && waiting.length === 1 ? () => this.deliver(packet, ack, failed, client) : undefined;
    this.returning.share(waiting, this.inProcess(packet, client), now, ack, failed, reroute);
  }

  private inProcess(packet: AedesPacket, client: AedesClient | null | undefined): InProcessPacket {
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    const p: InProcessPacket = { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, contentType: packet.properties?.contentType };
    if (client) {
      const from = this.senderOf(client);
      p.remote = from.remote;
      p.actor = from.actor;
    }
    return p;
  }

  /**
   * A client's publish that no in-process subscriber takes but that lies in the tree one subscribes in (a typo,
   * `devices/d1/telemtry`, or a level too many, `devices/d1/telemetry/extra`, beside devices/+/telemetry): a
   * device sending it at QoS 1 would be acknowledged and its reading lost without a trace. Unless someone else
   * receives it (an MQTT subscriber, a persistent session subscribed to it; a retained message is kept for
   * later and never comes here), it goes to the subscriber of that tree (the most specific one), marked with
   * the filters it missed, and is acknowledged as that subscriber says: the MQTT input journals it first and
   * refuses it to its dead-letter output. Topics outside every subscriber's tree are ordinary MQTT traffic.
   */
  private unrouted(packet: AedesPacket, ack: () => void, failed: () => void, client: AedesClient): void {
    const topic = packet.topic;
    let owner: Subscriber | undefined;
    const filters: string[] = [];
    for (const s of this.subscribers) {
      if (!s.tree || !topic.startsWith(s.tree)) continue;
      if (!owner || s.tree.length > owner.tree.length) owner = s;
      if (!filters.includes(s.filter)) filters.push(s.filter);
    }
    const persistence = this.persistence;
    // The broker's own routing: a subscriber connected now (aedes' mqemitter), then sessions kept for later.
    const matcher = this.aedes?.mq?._matcher;
    if (!owner || !persistence || !matcher || matcher.match(topic).length > 0) return ack();
    const to = owner;
    persistence.subscriptionsByTopic(topic).then(
      (subs) => {
        if (subs.length > 0) return ack();
        // Not retained (those are kept for later and never come here).
        const p = this.inProcess(packet, client);
        p.unrouted = filters;
        if (client.version === 5 && packet.qos > 0 && packet.messageId !== undefined) gateOf(client.conn)?.noMatchingSubscribers(packet.messageId);
        to.deliver(p, ack, failed);
      },
      () => ack(),
    );
  }

  /**
   * A subscriber could not make a client's publish durable (its journal cannot be written: disk full). aedes
   * reads none of the client's next packets until this one is answered, and a device waits for its PUBACK on a
   * live connection without resending, so both would wait for good: the connection is closed instead (MQTT 5:
   * DISCONNECT "server busy"), and the device resends what was not acknowledged when it reconnects.
   */
  /** A client the broker acted on by its own limits (BrokerEvents.onClientProblem). */
  private problem(id: string, err: Error): void {
    this.events.onClientProblem?.(id, err);
    this.events.onClientError?.(id, err);
  }

  private dropUndurable(client: AedesClient | null): void {
    if (!client || client.closed) return;
    this.problem(client.id, new Error(`${client.id}: a message could not be made durable (the journal cannot be written); the connection is closed so the client resends it`));
    client.disconnect({ reasonCode: SERVER_BUSY });
  }

  private track(socket: Socket, aedes: AedesInstance): void {
    this.trackSocket(socket);
    this.handle(socket, aedes);
  }

  private handle(conn: Duplex, aedes: AedesInstance, req?: IncomingMessage): void {
    handleGated(conn, aedes, req, brokerSettings(this.opts), this.events, (id, err) => this.problem(id, err), this.shared, this.sessions);
  }

  private trackSocket(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async listen(server: NetServer | HttpServer, port: number): Promise<number> {
    const { onPortInUse, onPortFree } = this.events;
    const owner = this.opts.owner ?? 'an embedded MQTT broker';
    const bound = await listenOn(server, port, { bind: this.opts.bind, holder: this, owner, signal: this.halted.signal, onPortInUse, onPortFree });
    this.servers.push(server);
    return bound;
  }
}
