/**
 * The embedded MQTT broker (aedes; MQTT 3.1, 3.1.1 and 5) with its TCP, TLS and WebSocket listeners.
 * In-process subscribers are served from aedes' authorizePublish hook, which runs
 * before aedes writes PUBACK (QoS 1) or PUBREC (QoS 2): a device's publish is
 * acknowledged only after every matching subscriber says it is durable. A plain
 * aedes.subscribe() would not do, as aedes acknowledges QoS 1 before delivery.
 */
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { ConfigError } from '../errors';
import { isLoopback } from '../security/net';
import { topicMatches } from '../mqtt/topic';

export interface BrokerOptions {
  port: number;
  bind: string;
  /** 0 disables WebSocket. */
  wsPort?: number;
  /** 0 disables TLS. */
  tlsPort?: number;
  tlsKeyFile?: string;
  tlsCertFile?: string;
  /** One device login; when set, every client must present it. */
  username?: string;
  password?: string;
}

interface AedesPacket {
  topic: string;
  payload: Buffer | string;
  qos: number;
  retain: boolean;
  cmd?: string;
  dup?: boolean;
  /** MQTT 5 only. */
  properties?: { contentType?: string };
}

interface AedesClient {
  id: string;
}

/** The part of aedes this module uses (aedes is ESM-only, loaded with import()). */
interface AedesInstance {
  handle: (conn: Duplex, req?: IncomingMessage) => void;
  publish(packet: AedesPacket, cb: (err?: Error | null) => void): void;
  close(cb: () => void): void;
  on(event: 'client' | 'clientDisconnect', fn: (client: AedesClient) => void): void;
  on(event: 'clientError' | 'connectionError', fn: (client: AedesClient, err: Error) => void): void;
  authorizePublish: (client: AedesClient | null, packet: AedesPacket, cb: (err?: Error | null) => void) => void;
  authenticate: (client: AedesClient, username: string | undefined, password: Buffer | undefined, cb: (err: (Error & { returnCode?: number }) | null, ok: boolean) => void) => void;
  connectedClients: number;
}

export interface BrokerEvents {
  onClient?: (id: string, connected: boolean) => void;
  onClientError?: (id: string, err: Error) => void;
}

type Deliver = (p: { topic: string; payload: Buffer; qos: number; retain: boolean; contentType?: string }, ack: () => void) => void;

export class EmbeddedMqttBroker {
  private aedes: AedesInstance | undefined;
  private servers: Array<NetServer | HttpServer> = [];
  private sockets = new Set<Socket>();
  private isListening = false;
  private subscribers: Array<{ filter: string; deliver: Deliver }> = [];
  readonly addresses: Record<string, number> = {};

  constructor(private readonly opts: BrokerOptions, private readonly events: BrokerEvents = {}) {
    for (const [name, port] of [['MQTT', opts.port], ['WebSocket', opts.wsPort ?? 0], ['TLS', opts.tlsPort ?? 0]] as const) {
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`${name} port must be a number from 0 to 65535`);
    }
    if (opts.tlsPort && (!opts.tlsKeyFile || !opts.tlsCertFile)) throw new ConfigError('TLS needs both a key file and a certificate file');
  }

  private starting: Promise<void> | undefined;

  start(): Promise<void> {
    this.starting = this.doStart();
    return this.starting;
  }

  private async doStart(): Promise<void> {
    const { Aedes } = (await import('aedes')) as unknown as { Aedes: { createBroker(o: object): Promise<AedesInstance> } };
    const aedes = await Aedes.createBroker({ concurrency: 1000 });
    this.aedes = aedes;
    const anonymousAllowed = isLoopback(this.opts.bind);
    const { username, password } = this.opts;
    aedes.authenticate = (_client, user, pass, cb) => {
      if (username) {
        const ok = user === username && pass !== undefined && pass.toString('utf8') === (password ?? '');
        if (!ok) return cb(Object.assign(new Error('bad user name or password'), { returnCode: 4 }), false);
        return cb(null, true);
      }
      if (anonymousAllowed) return cb(null, true);
      // Listening beyond loopback without a device login would open the broker to anyone.
      cb(Object.assign(new Error('not authorized: set a device login to accept clients off loopback'), { returnCode: 5 }), false);
    };
    aedes.authorizePublish = (_client, packet, cb) => {
      if (packet.topic.startsWith('$SYS')) return cb(new Error('$SYS topics are reserved'));
      const targets = this.subscribers.filter((s) => topicMatches(s.filter, packet.topic));
      if (targets.length === 0) return cb(null);
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const p = { topic: packet.topic, payload, qos: packet.qos, retain: packet.retain, contentType: packet.properties?.contentType };
      let waiting = targets.length;
      // A subscriber that cannot make the message durable never acks: no PUBACK, the device resends.
      for (const t of targets) t.deliver(p, () => --waiting === 0 && cb(null));
    };
    aedes.on('client', (c) => this.events.onClient?.(c.id, true));
    aedes.on('clientDisconnect', (c) => this.events.onClient?.(c.id, false));
    aedes.on('clientError', (c, err) => this.events.onClientError?.(c.id, err));

    const tcp = createNetServer((socket) => this.track(socket, aedes));
    this.addresses.tcp = await this.listen(tcp, this.opts.port);
    if (this.opts.tlsPort) {
      const tls = createTlsServer({ key: readFileSync(this.opts.tlsKeyFile!), cert: readFileSync(this.opts.tlsCertFile!) }, (socket) => this.track(socket, aedes));
      this.addresses.tls = await this.listen(tls, this.opts.tlsPort);
    }
    if (this.opts.wsPort) {
      const { WebSocketServer, createWebSocketStream } = await import('ws');
      const http = createHttpServer();
      const wss = new WebSocketServer({ server: http });
      wss.on('connection', (ws, req) => aedes.handle(createWebSocketStream(ws), req));
      http.on('connection', (s) => this.trackSocket(s));
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

  subscribe(filter: string, deliver: Deliver): () => void {
    const sub = { filter, deliver };
    this.subscribers.push(sub);
    return () => {
      this.subscribers = this.subscribers.filter((s) => s !== sub);
    };
  }

  publish(topic: string, payload: Buffer, qos: 0 | 1 = 0): Promise<void> {
    const aedes = this.aedes;
    if (!aedes) return Promise.reject(new ConfigError('the broker is not started'));
    return new Promise((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  async stop(): Promise<void> {
    // A stop during start (a quick redeploy) waits for it, or its listeners would outlive the stop.
    await this.starting?.catch(() => undefined);
    this.isListening = false;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers = [];
    const aedes = this.aedes;
    this.aedes = undefined;
    if (aedes) await new Promise<void>((r) => aedes.close(() => r()));
  }

  private track(socket: Socket, aedes: AedesInstance): void {
    this.trackSocket(socket);
    aedes.handle(socket);
  }

  private trackSocket(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private listen(server: NetServer | HttpServer, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new ConfigError(err.code === 'EADDRINUSE' ? `port ${port} on ${this.opts.bind} is already in use` : `cannot listen on ${this.opts.bind}:${port}: ${err.message}`, { port }));
      };
      server.once('error', onError);
      server.listen(port, this.opts.bind, () => {
        server.off('error', onError);
        this.servers.push(server);
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }
}
