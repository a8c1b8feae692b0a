/**
 * `GET /commands/{device}` on the CoAP input: the latest command, or with Observe 0 an
 * observation that is pushed every new one (each notification with its own Content-Format and a
 * Max-Age of a day). Observe 1 with the observation's token cancels it (RFC 7641 §3.6) and is answered
 * as a GET. Some notifications are confirmable (ObserverCheck), so an observer that left without
 * cancelling is dropped.
 */
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { commandBoard, type Command } from '../lib/inputs/commands';
import { coapError } from '../lib/inputs/coap';
import { COMMAND_MAX_AGE_S, ObserverCheck, Observations } from '../lib/inputs/observations';
import { packetOf, send } from './answers';

type ContentFormat = Parameters<OutgoingMessage['setOption']>[1];

/**
 * What of the library's observe stream (ObserveWriteStream) the notifications need. It takes the type of each
 * notification after the first from `_packet`, which it derives from the request: ACK-typed for a non-confirmable
 * registration (coapjs/node-coap#218, not to be fixed there), so the type is set here before each write. It sends a
 * confirmable one with retransmissions, and ends the stream on a Reset or when no ACK came within EXCHANGE_LIFETIME.
 */
interface ObserveStreamParts {
  _packet?: { confirmable?: boolean; ack?: boolean };
}

/** One observation's stream: a notification written with its type and Max-Age. */
class NotificationStream {
  private readonly parts: ObserveStreamParts;

  constructor(private readonly res: OutgoingMessage) {
    this.parts = res as unknown as ObserveStreamParts;
  }

  /** Writes `c` (or an empty notification: no command yet). `confirmable` undefined is the first, the answer to the registration in its exchange. */
  write(c: Command | undefined, confirmable: boolean | undefined): void {
    this.res.setOption('Content-Format', (c?.contentType ?? 'application/json') as ContentFormat);
    this.res.setOption('Max-Age', COMMAND_MAX_AGE_S);
    const packet = this.parts._packet;
    if (confirmable !== undefined && packet) {
      packet.confirmable = confirmable;
      packet.ack = false;
    }
    this.res.write(c ? c.payload : Buffer.alloc(0));
  }
}

export function commandsResource(observations: Observations): (req: IncomingMessage, res: OutgoingMessage, device: string) => void {
  return (req, res, device) => {
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
    const notify = (c: Command): void => stream.write(c, check ? check.confirmable(Date.now()) : true);
    // The latest command now (or an empty notification), then every new one.
    stream.write(latest, undefined);
    const stopListening = commandBoard.observe(device, notify);
    let forget = (): void => undefined;
    const ended = () => {
      stopListening();
      forget();
    };
    forget = observations.add(key, () => {
      stopListening();
      if (!res.writableEnded) res.end();
    });
    res.on('finish', ended);
    res.on('close', ended);
    res.on('error', ended);
  };
}
