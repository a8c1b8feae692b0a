/**
 * What the embedded broker (embedded.ts) sets up around aedes, at start and per connection: the login of a
 * broker without device auth (the shared user name and password, or anonymous clients on loopback), the client
 * events it passes on, the TLS and WebSocket servers beside the MQTT port, and the gate (connection.ts) each
 * accepted connection reaches aedes through. Apart from embedded.ts, which routes every publish, as none of
 * this runs per message.
 */
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { AedesClient, AedesInstance } from './aedes-types';
import { ConnectionGate, gateOf, gateSawConnack } from './connection';
import type { SessionHooks } from './sessions';
import type { SharedSubscriptions } from './shared';
import type { brokerSettings, BrokerEvents, BrokerOptions } from './options';

/** aedes' login check without device auth: the shared login if one is set, else anyone on a loopback listener. */
export function sharedLogin(username: string | undefined, password: string | undefined, anonymousAllowed: boolean): AedesInstance['authenticate'] {
  return (_client, user, pass, cb) => {
    if (username) {
      const ok = user === username && pass !== undefined && pass.toString('utf8') === (password ?? '');
      if (!ok) return cb(Object.assign(new Error('bad user name or password'), { returnCode: 4 }), false);
      return cb(null, true);
    }
    if (anonymousAllowed) return cb(null, true);
    // Listening beyond loopback without a device login would open the broker to anyone.
    cb(Object.assign(new Error('not authorized: set a device login to accept clients off loopback'), { returnCode: 5 }), false);
  };
}

/** Passes aedes' client events on to `events`, and says once if the write hook flow control relies on is missing. */
export function watchClients(aedes: AedesInstance, events: BrokerEvents, onError: (err: Error) => void): void {
  let hookChecked = false;
  aedes.on('connackSent', (_connack, client) => {
    if (hookChecked) return;
    hookChecked = true;
    // Without the hook, flow control and packet size limits would silently not apply.
    if (!gateSawConnack(client.conn)) onError(new Error('MQTT 5 flow control is not active: aedes does not write through the expected mqtt-packet'));
  });
  aedes.on('client', (c) => events.onClient?.(c.id, true));
  aedes.on('clientDisconnect', (c) => events.onClient?.(c.id, false));
  aedes.on('clientError', (c, err) => {
    if (c?.conn) gateOf(c.conn)?.noteRefusal(err);
    events.onClientError?.(c.id, err);
  });
}

/** The TLS listener's server (not listening yet). */
export function tlsServer(opts: BrokerOptions, onSocket: (socket: Socket) => void): TlsServer {
  // With a CA, a client certificate is asked for but not required: an unverified one is simply not used.
  const clientCerts = opts.tlsCaFile ? { ca: readFileSync(opts.tlsCaFile), requestCert: true, rejectUnauthorized: false } : {};
  return createTlsServer({ key: readFileSync(opts.tlsKeyFile!), cert: readFileSync(opts.tlsCertFile!), ...clientCerts }, onSocket);
}

/** The WebSocket listener's HTTP server (not listening yet): each WebSocket goes to `onStream`, each socket to `onSocket`. */
export async function webSocketServer(onStream: (conn: Duplex, req: IncomingMessage) => void, onSocket: (socket: Socket) => void): Promise<HttpServer> {
  const { WebSocketServer, createWebSocketStream } = await import('ws');
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  // ws re-emits the HTTP server's errors, where nobody listened: a port in use ended the runtime. listen() handles them.
  wss.on('error', () => undefined);
  wss.on('connection', (ws, req) => onStream(createWebSocketStream(ws), req));
  http.on('connection', (s) => onSocket(s));
  return http;
}

/**
 * Hands a connection a listener accepted to aedes behind its ConnectionGate (connection.ts): flow control, packet
 * size limits and the broker's own limits, whose problems go to `problem` and `events`.
 */
export function handleGated(
  conn: Duplex,
  aedes: AedesInstance,
  req: IncomingMessage | undefined,
  s: ReturnType<typeof brokerSettings>,
  events: BrokerEvents,
  problem: (id: string, err: Error) => void,
  shared: SharedSubscriptions | undefined,
  sessions: SessionHooks | undefined,
): void {
  const gate = new ConnectionGate(conn, aedes, {
    receiveMaximum: s.receiveMaximum,
    maxPending: s.maxQueued > 0 ? s.maxQueued : 65535,
    maxBehindBytes: s.maxBehindBytes,
    onProblem: (client: AedesClient, err: Error) => problem(client.id, err),
    onViolation: (client: AedesClient, err: Error) => {
      events.onProtocolError?.(client.id, err);
      events.onClientError?.(client.id, err);
    },
    onRefused: (client: AedesClient, what: string, message: string) => events.onRefused?.(client.id, what, message),
    shared,
    resumes: (client: AedesClient) => sessions?.resumes(client) === true,
  });
  const client = aedes.handle(conn, req);
  gate.attach(client);
}
