/**
 * `GET /commands/{device}` on the CoAP input: the latest command, or with Observe 0 an
 * observation that is pushed every new one (each notification with its own Content-Format and a
 * Max-Age of a day). Observe 1 with the observation's token cancels it (RFC 7641 §3.6) and is answered
 * as a GET. Some notifications are confirmable (ObserverCheck), so an observer that left without
 * cancelling is dropped; while one is unacknowledged, later commands wait behind it (ObserverOutbox).
 */
import type { RemoteInfo } from 'node:dgram';
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { commandBoard, type Command } from '../lib/inputs/commands';
import { coapError } from '../lib/inputs/coap';
import { COMMAND_MAX_AGE_S, emptyAckOf, ObserverCheck, ObserverOutbox, Observations } from '../lib/inputs/observations';
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
}

export function commandsResource(observations: Observations): CommandsResource {
  // The outstanding confirmable notifications, by endpoint and message ID: what to do once acknowledged.
  const awaiting = new Map<string, () => void>();
  const ackKey = (address: string, port: number, messageId: number) => `${address}:${port}/${messageId}`;

  const serve = (req: IncomingMessage, res: OutgoingMessage, device: string): void => {
    const key = Observations.key(req.rsinfo.address, req.rsinfo.port, packetOf(req)?.token);
    if (req.headers.Observe === 1) observations.cancel(key);
    const latest = commandBoard.get(device);
    if (req.headers.Observe !== 0) {
      if (!latest) return send(res, coapError('4.04', `no command for ${device} yet`));
      res.setOption('Content-Format', latest.contentType as ContentFormat);
      res.end(latest.payload);
      return;
    }
    // A confirmable registration gets confirmable notifications; a non-confirmable one some (§4.5).
    const check = packetOf(req)?.confirmable ? undefined : new ObserverCheck(Date.now());
    const stream = new NotificationStream(res);
    const outbox = new ObserverOutbox<Command>();
    let pendingAck: string | undefined;
    const push = (c: Command): void => {
      const confirmable = check ? check.confirmable(Date.now()) : true;
      const id = stream.write(c, confirmable);
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
    forget = observations.add(key, () => {
      stopListening();
      if (!res.writableEnded) res.end();
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

  return { serve, heard };
}
