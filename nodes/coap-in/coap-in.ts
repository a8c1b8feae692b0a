/**
 * upperstack-coap-in: battery devices post telemetry over CoAP on UDP
 * (`POST`/`PUT /telemetry/{device}`), and observe their commands
 * (`GET /commands/{device}` with Observe). A request is decoded and validated
 * like an HTTP one, journaled through the shared intake and answered 2.04 only
 * once durable; 4.00 (with a diagnostic: the request cannot be read), 4.01,
 * 4.03, 4.13 (with Size1, or naming the readings limit), 4.15, 4.22 (with a
 * diagnostic: read, but no reading in it is valid, HTTP's 422) and 5.03 (with Max-Age) under backpressure. A confirmable request sent again
 * with the same message ID from the same endpoint is stored once and answered
 * the same. No answer to an unauthenticated request is more than 3× its size.
 */
import type { Socket, RemoteInfo } from 'node:dgram';
import type { NodeAPI } from 'node-red';
import { createServer, type IncomingMessage, type OutgoingMessage, type Server } from 'coap';
import type { Received } from '../lib/ingest/record';
import { describeError } from '../lib/errors';
import { notePortHeld, portInUse, releasePorts } from '../lib/port-holders';
import { isPortInUse, PortRetry } from '../lib/port-retry';
import { outcomeWeight, requestOutcome, type InputOptions, type InputOutcome } from '../lib/inputs/request';
import { boundAmplification, coapContentType, coapError, coapOutcomeAnswer, ExchangeCache, octetStreamType, outcomeRoom, requestSize, type CoapAnswer } from '../lib/inputs/coap';
import { packetOf, queryOf, send, uriPathOf, wellKnown } from './answers';
import { coapAccess, refusalAnswer, type Access } from './access';
import { resourceRefusal } from '../lib/inputs/coap-request';
import { datagramFilter } from './datagrams';
import { checkAccess, type DeviceLogin } from '../lib/inputs/auth';
import { isLoopback } from '../lib/security/net';
import type { Refusal } from '../lib/security/device-auth';
import { isRegisteredDevice } from '../shared/devices';
import { registerHealth } from '../shared/runtime';
import { Observations } from '../lib/inputs/observations';
import { commandsResource } from './commands';
import { requestEmitter } from '../shared/request-emit';
import { checkDecoded } from '../shared/request-checks';
import { onClose } from '../shared/input';
import { startIntake } from '../shared/intake-start';
import { loadNodeSchema } from '../shared/schema';
import { migrate, parsePort, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { coapInMigrations, type CoapInNode, type CoapInNodeDef, type CoapInOptions } from './options';

/** One meta object for every record: the journal record serialises it once, not per request. */
const COAP_META: Record<string, string> = { route: 'coap' };
/** The parameters of a request without a Uri-Query; never changed, only read. */
const NO_QUERY: Readonly<URLSearchParams> = new URLSearchParams();

function outcomeOf(rec: Received, opts: InputOptions): InputOutcome {
  return requestOutcome({ route: 'coap', device: rec.device, contentType: rec.contentType, payload: rec.payload, receivedAt: rec.receivedAt, meta: rec.meta }, opts);
}

export = function register(RED: NodeAPI): void {
  function UpperstackCoapInNode(this: CoapInNode, def: CoapInNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<CoapInOptions>(def as unknown as Record<string, unknown>, coapInMigrations);
    const wires = (node as unknown as { wires?: string[][] }).wires;
    const port = parsePort(config.port === '' || /^\$\{/.test(config.port) ? process.env.UPPERSTACK_COAP_PORT ?? '5683' : config.port, 5683);
    const bind = !config.bind || /^\$\{/.test(config.bind) ? process.env.UPPERSTACK_BIND || '127.0.0.1' : config.bind;
    if (Number.isNaN(port)) {
      setStatus(node, 'failed', RED._('upperstack-coap-in.errors.port', { port: config.port }));
      node.error(RED._('upperstack-coap-in.errors.port', { port: config.port }));
      return;
    }
    const schema = loadNodeSchema(RED, node, config);
    if (!schema.ok) return;
    const inputOptions: InputOptions = { validate: schema.validate, maxBytes: config.maxBytes, octetFormat: config.octetFormat, protoType: config.protoType || undefined, registered: isRegisteredDevice };
    const username = node.credentials?.username || process.env.UPPERSTACK_MQTT_USERNAME || '';
    const login: DeviceLogin | undefined = username ? { username, password: node.credentials?.password || process.env.UPPERSTACK_MQTT_PASSWORD || '' } : undefined;
    if (!login && !checkAccess(undefined, undefined, bind).ok) node.warn(RED._('upperstack-coap-in.errors.noLogin'));
    const loopback = isLoopback(bind);
    const status = throttledStatus(node);
    const outcomes = new WeakMap<Received, InputOutcome>();
    const exchanges = new ExchangeCache();
    const { accessNow, access, firstBlock } = coapAccess(loopback, login);

    const emit = requestEmitter({ node, wires, topic: 'coap', outcomes, decode: (rec) => outcomeOf(rec, inputOptions), newId: () => RED.util.generateId() });

    const started = startIntake(RED, node, {
      name: config.name || `coap in ${node.id}`,
      highWater: config.highWater,
      highWaterReadings: config.highWaterReadings,
      emit,
      onEmitError: (err) => node.error(describeError(err).message),
      onWriteError: (err) => setStatus(node, 'failed', err.message),
      onPause: (paused) => {
        if (paused) setStatus(node, 'warning', RED._('upperstack-coap-in.status.paused'));
      },
    }, true);
    // Always there with `reopen`: a journal that cannot be opened is answered 5.03 on a bound port, not silence.
    if (!started) return;
    const intake = started.intake;

    let requests = 0;
    // No promise per request: the answer goes from the journal turn's callback (Intake.submitThen).
    const telemetry = (req: IncomingMessage, res: OutgoingMessage, device: string, who: Access, key: string | undefined): void => {
      const { authenticated, payload: unwrapped, contentType: unwrappedType } = who;
      const packet = packetOf(req);
      const requestBytes = requestSize(packet);
      const tokenLength = packet?.token?.length ?? 8;
      const reply = (a: CoapAnswer) => {
        const bounded = authenticated ? a : boundAmplification(a, requestBytes, tokenLength);
        if (key) exchanges.finish(key, bounded);
        send(res, bounded);
      };
      const query = req.url.includes('?') ? queryOf(req) : undefined;
      // `?precision=` for a line protocol body's times, as on /ingest; journaled with it, so a replay reads it the same.
      const precision = query?.get('precision') ?? undefined;
      const rec: Received = { source: `coap:/telemetry/${device}`, payload: unwrapped ?? req.payload, receivedAt: Date.now(), device, remote: `${req.rsinfo.address}:${req.rsinfo.port}`, meta: precision === undefined ? COAP_META : { route: 'coap', precision } };
      // An envelope without "ct": its body is taken to be in the envelope's own format.
      let ct = (unwrapped ? unwrappedType : undefined) ?? coapContentType(req.headers['Content-Format']);
      if (ct === 'application/octet-stream' && query) ct = octetStreamType(ct, query);
      if (ct) rec.contentType = ct;
      const outcome = outcomeOf(rec, inputOptions);
      const tooMany = checkDecoded(outcome, { principal: who.principal, device, via: 'coap', remote: req.rsinfo.address });
      if (tooMany) return reply(coapError('4.13', tooMany));
      outcomes.set(rec, outcome);
      try {
        intake.submitThen([rec], (result) => {
          if ('refused' in result) {
            outcomes.delete(rec);
            if (key) exchanges.forget(key);
            return send(res, boundAmplification(coapError('5.03', result.error, { 'Max-Age': Math.max(1, Math.ceil(result.retryAfterMs / 1000)) }), authenticated ? Infinity : requestBytes, tokenLength));
          }
          requests++;
          reply(coapOutcomeAnswer(outcome, authenticated ? Infinity : outcomeRoom(requestBytes, tokenLength)));
          // The readings mark counts what the request holds, not one per request.
        }, outcomeWeight(outcome));
      } catch (err) {
        outcomes.delete(rec);
        reply(coapError('4.13', describeError(err), { Size1: config.maxBytes }));
      }
    };

    const observations = new Observations();
    const commands = commandsResource(observations);

    const filterDatagram = datagramFilter(config.maxBytes, firstBlock);

    // The library binds with SO_REUSEADDR unless told not to: a second runtime on the port would then
    // say it listens while the kernel hands each datagram to only one of them.
    const server: Server = createServer({ type: bind.includes(':') ? 'udp6' : 'udp4', piggybackReplyMs: 500, reuseAddr: false });
    server.on('request', (req: IncomingMessage, res: OutgoingMessage) => {
      const packet = packetOf(req);
      // Not requests, though the library hands them on: a Reset it has no exchange for (it tests
      // `ack ?? reset`), and empty messages. An empty confirmable one is a ping: a Reset answers it (RFC 7252 §4.3).
      if (packet?.reset || packet?.ack) return;
      if (packet?.code === '0.00') {
        if (packet.confirmable) res.reset();
        return;
      }
      const requestBytes = requestSize(packet);
      const tokenLength = packet?.token?.length ?? 8;
      // Duplicate detection by endpoint and message ID, for CON and NON alike (RFC 7252 §4.5).
      const key = packet?.messageId !== undefined ? `${req.rsinfo.address}:${req.rsinfo.port}/${packet.messageId}` : undefined;
      if (key) {
        const seen = exchanges.begin(key);
        if (seen === 'pending') return; // the first copy is being journaled; its answer will come
        if (seen !== 'new') return send(res, seen);
      }
      let url: URL;
      try {
        url = new URL(req.url, 'coap://device');
      } catch {
        return send(res, boundAmplification(coapError('4.00', 'the request URI cannot be read'), requestBytes, tokenLength));
      }
      const path = url.pathname;
      const method = req.method;
      if (path === '/.well-known/core') {
        // Discovery is a GET anyone may send again: nothing to remember per message ID.
        if (key) exchanges.forget(key);
        if (method !== 'GET') return send(res, boundAmplification(coapError('4.05', 'GET only'), requestBytes, tokenLength));
        return wellKnown(packet, res, requestBytes, tokenLength);
      }
      // The Uri-Path options one by one: a "/" percent-encoded inside a segment (a%2Fb) belongs to the
      // device id, which the id rule then refuses, rather than making a path of three segments.
      const segments = uriPathOf(req);
      const device = segments.length === 2 ? segments[1] : '';
      const tele = device !== '' && segments[0] === 'telemetry';
      // Answers before the request is handled are remembered like the others, so a retransmission gets them too.
      const early = (a: CoapAnswer, authenticated = false) => {
        const bounded = authenticated ? a : boundAmplification(a, requestBytes, tokenLength);
        if (key) exchanges.finish(key, bounded);
        send(res, bounded);
      };
      const wrongResource = resourceRefusal(segments, method);
      if (wrongResource) return early(wrongResource);
      // Most requests carry no Uri-Query (the library joins them into the URL after a "?"): nothing to read then.
      const query = req.url.includes('?') ? queryOf(req, url) : NO_QUERY;
      const decided = (who: Access | Refusal): void => {
        if (!who.ok) {
          // A refusal that says to come back later must not be replayed to a retransmission after that.
          if (who.retryAfterMs !== undefined && key) exchanges.forget(key);
          const a = refusalAnswer(who);
          if (who.retryAfterMs !== undefined) return send(res, boundAmplification(a, requestBytes, tokenLength));
          return early(a);
        }
        if (tele) return telemetry(req, res, device, who, key);
        if (key) exchanges.forget(key);
        commands.serve(req, res, device);
      };
      const failed = (err: unknown) => send(res, coapError('4.00', describeError(err)));
      let now: ReturnType<typeof accessNow>;
      try {
        now = accessNow(query, req, device, tele);
      } catch (err) {
        return failed(err);
      }
      if (now !== undefined && !(now instanceof Promise)) return decided(now);
      void (now ?? access(query, req, device, tele)).then(decided).catch(failed);
    });

    // The library re-emits its socket's errors on the server: without a listener one (the port in use)
    // ended the whole runtime. Before the socket is bound it is the input's failure, and /health says so.
    let listening = false;
    let listenError: string | undefined;
    let closing = false;
    const retry = new PortRetry();
    const stopHealth = registerHealth(`coap:${node.name || node.id}`, node.id, () =>
      listenError !== undefined ? { ok: false, detail: `not listening on udp ${bind}:${port}: ${listenError}` } : { ok: true, detail: listening ? `listening on udp ${bind}:${port}` : 'starting' });
    // A port in use is said as the broker says it (port-holders.ts: the node of this runtime that has it, or
    // another program), tried again until it comes free (port-retry.ts) and logged once; any other refusal
    // fails the input for good.
    const listenFailed = (err: Error): void => {
      const again = isPortInUse(err);
      listenError = again ? `${portInUse('udp', bind, port, node, 'CoAP input')}; trying again` : describeError(err).message;
      setStatus(node, 'failed', listenError);
      if (!again || retry.refusals === 0) node.error(RED._('upperstack-coap-in.errors.listen', { port, bind, message: listenError }));
      if (!again) return;
      // The library keeps the socket that failed to bind until closed, and will not listen again before.
      server.close();
      retry.after(listen);
    };
    server.on('error', (err: Error) => {
      if (closing) return;
      if (listening) {
        node.warn(describeError(err).message);
        return;
      }
      listenFailed(err);
    });
    const listen = () => server.listen(port, bind, (err?: Error) => {
      if (closing) return;
      if (err) return listenFailed(err);
      listening = true;
      if (listenError !== undefined) node.log(RED._('upperstack-coap-in.log.portFree', { port, bind }));
      listenError = undefined;
      notePortHeld('udp', bind, port, node, `CoAP input "${node.name || node.type}" (${node.id})`);
      // Every datagram passes datagrams.ts before the library sees it (sizes, Block1 reassembly).
      const sock = (server as unknown as { _sock?: Socket })._sock;
      if (sock) {
        const handlers = sock.listeners('message') as Array<(msg: Buffer, rinfo: RemoteInfo) => void>;
        sock.removeAllListeners('message');
        sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
          try {
            // An observer's ACK of a confirmable notification lets the next waiting command go (commands.ts).
            commands.heard(msg, rinfo);
            const forward = filterDatagram(msg, rinfo, sock);
            if (forward) for (const h of handlers) h(forward, rinfo);
          } catch (err) {
            node.warn(describeError(err).message);
          }
        });
      }
      // A journal that cannot be opened keeps its red status (startIntake) until it opens.
      if (intake.stats().lastError === undefined) setStatus(node, 'connected', RED._('upperstack-coap-in.status.listening', { port, bind }));
    });
    listen();

    const rateTimer = setInterval(() => {
      // Not listening (the port in use): the failure stays on the node; a rate of 0 would show it green.
      if (intake.isPaused() || listenError !== undefined) return;
      // A journal that cannot be written (a full disk): the failure stays on the node until a write succeeds.
      const s = intake.stats();
      if (s.lastError !== undefined) {
        requests = 0;
        return;
      }
      status('connected', RED._('upperstack-coap-in.status.rate', { rate: requests, pending: s.pending }));
      requests = 0;
    }, 1000);

    onClose(node, async () => {
      closing = true;
      retry.stop();
      clearInterval(rateTimer);
      stopHealth();
      releasePorts(node);
      started.stopReplay();
      // Before the socket closes: a notification to an observation left open would be written to no socket.
      commands.close();
      observations.endAll();
      await new Promise<void>((resolve) => {
        try {
          server.close(() => resolve());
        } catch {
          resolve();
        }
      });
      started.close();
    });
  }

  registerNode(RED, 'upperstack-coap-in', UpperstackCoapInNode, {
    credentials: { username: { type: 'text' }, password: { type: 'password' } },
  });
};
