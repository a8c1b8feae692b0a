/**
 * `GET /commands/{device}` on the CoAP input: the latest command, or with Observe 0 an
 * observation that is pushed every new one (each notification with its own Content-Format).
 * Observe 1 with the observation's token cancels it (RFC 7641 §3.6) and is answered as a GET. Some
 * notifications are confirmable (ObserverCheck), so an observer that left without cancelling is dropped.
 */
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { commandBoard, type Command } from '../lib/inputs/commands';
import { coapError } from '../lib/inputs/coap';
import { ObserverCheck, Observations } from '../lib/inputs/observations';
import { packetOf, send } from './answers';

type ContentFormat = Parameters<OutgoingMessage['setOption']>[1];

/**
 * The library's observe stream (ObserveWriteStream) takes the type of each notification after the first from
 * `_packet`: the request's, so never confirmable for a non-confirmable registration, and marked as an ACK
 * (coapjs/node-coap#218, not to be fixed there). It sends a confirmable one with retransmissions, and ends the
 * stream on a Reset or when no ACK came within EXCHANGE_LIFETIME.
 */
interface NotificationType {
  _packet?: { confirmable?: boolean; ack?: boolean };
}

export function commandsResource(observations: Observations): (req: IncomingMessage, res: OutgoingMessage, device: string) => void {
  return (req, res, device) => {
    const key = Observations.key(req.rsinfo.address, req.rsinfo.port, packetOf(req)?.token);
    if (req.headers.Observe === 1) observations.cancel(key);
    const latest = commandBoard.get(device);
    if (req.headers.Observe !== 0) {
      if (!latest) return send(res, coapError('4.04', `no command for ${device} yet`));
      res.setOption('Content-Format', latest.contentType as ContentFormat);
      return res.end(latest.payload);
    }
    // A confirmable registration gets confirmable notifications from the library; a non-confirmable one some (§4.5).
    const check = packetOf(req)?.confirmable ? undefined : new ObserverCheck(Date.now());
    const type = (res as unknown as NotificationType)._packet;
    let first = true;
    const notify = (c: Command | undefined) => {
      res.setOption('Content-Format', (c?.contentType ?? 'application/json') as ContentFormat);
      // The first is the answer to the registration, in its exchange.
      if (!first && check && type) {
        type.confirmable = check.confirmable(Date.now());
        type.ack = false;
      }
      first = false;
      res.write(c ? c.payload : Buffer.alloc(0));
    };
    // The latest command now (or an empty notification), then every new one.
    notify(latest);
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
