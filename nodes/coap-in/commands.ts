/**
 * `GET /commands/{device}` on the CoAP input: the latest command, or with Observe 0 an
 * observation that is pushed every new one (each notification with its own Content-Format).
 * Observe 1 with the observation's token cancels it (RFC 7641 §3.6) and is answered as a GET.
 */
import type { IncomingMessage, OutgoingMessage } from 'coap';
import { commandBoard, type Command } from '../lib/inputs/commands';
import { coapError } from '../lib/inputs/coap';
import { Observations } from '../lib/inputs/observations';
import { packetOf, send } from './answers';

type ContentFormat = Parameters<OutgoingMessage['setOption']>[1];

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
    const notify = (c: Command | undefined) => {
      res.setOption('Content-Format', (c?.contentType ?? 'application/json') as ContentFormat);
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
