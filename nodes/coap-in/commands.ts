/**
 * `GET /commands/{device}` on the CoAP input: the latest command, or with Observe 0 an
 * observation that is pushed every new one (each notification with its own Content-Format and a
 * Max-Age of a day). Observe 1 with the observation's token cancels it (RFC 7641 §3.6) and is answered
 * as a GET. Some notifications are confirmable (ObserverCheck), and a periodic sweep re-notifies observers that had
 * none for a while, so an observer that left without cancelling is dropped even on a device that gets no command;
 * while one is unacknowledged, later commands wait behind it (ObserverOutbox). Observations are bounded (Observations).
 * Each command goes with its ETag (Command.etag), so a device tells a repeat from a new command with the same payload;
 * a plain GET naming the latest one's is answered 2.03 Valid (RFC 7252 §5.10.6.2).
 */
import type { RemoteInfo } from 'node:dgram';
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { commandBoard, etagMatches, type Command } from '../lib/inputs/commands';
import { coapError } from '../lib/inputs/coap';
import { COMMAND_GET_MAX_AGE_S, COMMAND_MAX_AGE_S, emptyAckOf, OBSERVE_CHECK, ObserverCheck, ObserverOutbox, Observations, REFUSED_OBSERVE_RETRY_S } from '../lib/inputs/observations';
import { packetOf, send } from './answers';

type ContentFormat = Parameters<OutgoingMessage['setOption']>[1];

/**
 * What of the library's observe stream (ObserveWriteStream) the notifications need. It takes the type of each
 * notification after the first from `_packet`, which it derives from the request: ACK-typed for a non-confirmable
 * registration (coapjs/node-coap#218, not to be fixed there), so the type is set here before each write. Its `_send`
 * gives the packet a message ID (and sends a confirmable one with retransmissions, ending the stream on a Reset or
 * when no ACK came within EXCHANGE_LIFETIME); the ID is read there, as nothing else tells it.
 */
interface ObserveStreamParts {
  _packet?: { confirmable?: boolean; ack?: boolean };
  _send?: (stream: unknown, packet: { messageId?: number }) => void;
}

/** One observation's stream: a notification written with its type and Max-Age, and the message ID it went with. */
class NotificationStream {
  private sentId: number | undefined;
  private readonly parts: ObserveStreamParts;

  constructor(private readonly res: OutgoingMessage) {
    this.parts = res as unknown as ObserveStreamParts;
    const librarySend = this.parts._send;
    if (librarySend) {
      this.parts._send = (stream, packet) => {
        librarySend.call(this.parts, stream, packet);
        this.sentId = packet.messageId;
      };
    }
  }

  /**
   * Writes `c` (or an empty notification: no command yet). `confirmable` undefined is the first, the answer to the
   * registration in its exchange; returns the message ID of a confirmable one.
   */
  write(c: Command | undefined, confirmable: boolean | undefined): number | undefined {
    this.res.setOption('Content-Format', (c?.contentType ?? 'application/json') as ContentFormat);
    this.res.setOption('Max-Age', COMMAND_MAX_AGE_S);
    // An empty notification (no command yet) names none.
    this.res.setOption('ETag', c ? c.etag : []);
    const packet = this.parts._packet;
    if (confirmable !== undefined && packet) {
      packet.confirmable = confirmable;
      packet.ack = false;
    }
    this.sentId = undefined;
    this.res.write(c ? c.payload : Buffer.alloc(0));
    return confirmable ? this.sentId : undefined;
  }
}

export interface CommandsResource {
  serve(req: IncomingMessage, res: OutgoingMessage, device: string): void;
  /** Every datagram the input's socket gets: an empty ACK settles the confirmable notification it answers. */
  heard(datagram: Buffer, rinfo: RemoteInfo): void;
  /** Stops the periodic check (the input closes; its observations are ended apart). */
  close(): void;
}

export function commandsResource(observations: Observations): CommandsResource {
  // One timer for every observation of the input; it keeps no process alive.
  const sweeper = setInterval(() => observations.sweep(Date.now()), OBSERVE_CHECK.sweepMs);
  sweeper.unref();
  // The outstanding confirmable notifications, by endpoint and message ID: what to do once acknowledged.
  const awaiting = new Map<string, () => void>();
  const ackKey = (address: string, port: number, messageId: number) => `${address}:${port}/${messageId}`;

  const serve = (req: IncomingMessage, res: OutgoingMessage, device: string): void => {
    const key = Observations.key(req.rsinfo.address, req.rsinfo.port, packetOf(req)?.token);
    if (req.headers.Observe === 1) observations.cancel(key);
    const latest = commandBoard.get(device);
    if (req.headers.Observe !== 0) {
      // No push follows a plain GET: the answer is fresh only for as long as no command is set (COMMAND_GET_MAX_AGE_S).
      const fresh = { 'Max-Age': COMMAND_GET_MAX_AGE_S };
      if (!latest) return send(res, coapError('4.04', `no command for ${device} yet`, fresh));
      // The library's block-wise answer (a command over 1 KiB) sets an ETag of its own, a checksum of the payload,
      // which two commands with the same payload share; the command's stays.
      const setOption = res.setOption.bind(res);
      res.setOption = (name, value) => setOption(name, name === 'ETag' ? latest.etag : value);
      res.setOption('ETag', latest.etag);
      res.setOption('Max-Age', COMMAND_GET_MAX_AGE_S);
      // A device that names the command it has is told it is still the latest, without the payload (RFC 7252 §5.10.6.2).
      const known = packetOf(req)?.options?.filter((o) => o.name === 'ETag').map((o) => o.value) ?? [];
      if (etagMatches(known, latest.etag)) {
        res.code = '2.03';
        res.end();
        return;
      }
      res.setOption('Content-Format', latest.contentType as ContentFormat);
      res.end(latest.payload);
      return;
    }
    // Checked before anything of the observation is made; the error goes without Observe, so no registration.
    const refused = observations.refusal(key, device);
    if (refused) return send(res, coapError('5.03', refused, { 'Max-Age': REFUSED_OBSERVE_RETRY_S }));
    // A confirmable registration gets confirmable notifications; a non-confirmable one some (§4.5).
    const check = new ObserverCheck(Date.now(), packetOf(req)?.confirmable === true);
    const stream = new NotificationStream(res);
    const outbox = new ObserverOutbox<Command>();
    let pendingAck: string | undefined;
    const push = (c: Command | undefined): void => {
      const id = stream.write(c, check.confirmable(Date.now()));
      outbox.sent(id !== undefined);
      if (id === undefined) return;
      pendingAck = ackKey(req.rsinfo.address, req.rsinfo.port, id);
      awaiting.set(pendingAck, acknowledged);
    };
    const acknowledged = (): void => {
      pendingAck = undefined;
      const next = outbox.acknowledged();
      if (next && !res.writableEnded) push(next);
    };
    const notify = (c: Command): void => {
      const now = outbox.offer(c);
      if (now) push(now);
    };
    // The sweep: an observer with nothing outstanding and no confirmable exchange for a while gets the latest command
    // again, confirmable; left unanswered, the library ends the stream as for any other.
    const recheck = (now: number): void => {
      if (outbox.isOutstanding || res.writableEnded || !check.due(now)) return;
      push(commandBoard.get(device));
    };
    // The latest command now (or an empty notification), then every new one.
    stream.write(latest, undefined);
    const stopListening = commandBoard.observe(device, notify);
    let forget = (): void => undefined;
    const ended = () => {
      stopListening();
      forget();
      if (pendingAck !== undefined) awaiting.delete(pendingAck);
      pendingAck = undefined;
    };
    forget = observations.add(key, {
      device,
      end: () => {
        stopListening();
        if (!res.writableEnded) res.end();
      },
      recheck,
    });
    res.on('finish', ended);
    res.on('close', ended);
    res.on('error', ended);
  };

  const heard = (datagram: Buffer, rinfo: RemoteInfo): void => {
    if (awaiting.size === 0) return;
    const id = emptyAckOf(datagram);
    if (id === undefined) return;
    const k = ackKey(rinfo.address, rinfo.port, id);
    const then = awaiting.get(k);
    if (!then) return;
    awaiting.delete(k);
    then();
  };

  return { serve, heard, close: () => clearInterval(sweeper) };
}
