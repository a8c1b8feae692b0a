/**
 * One listener of the embedded broker (TCP, TLS or WebSocket) taking its port. A port in use is tried again
 * (port-retry.ts) until it comes free or the broker stops; any other refusal fails the start at once.
 */
import type { Server as NetServer } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { ConfigError } from '../errors';
import { notePortHeld, portInUse } from '../port-holders';
import { isPortInUse, PortRetry } from '../port-retry';

export interface ListenOptions {
  bind: string;
  /** Who holds the port in port-holders.ts, and how to name it to a listener it refuses. */
  holder: object;
  owner: string;
  /** Aborted when the broker stops: a wait for the port ends, and a port taken meanwhile is let go. */
  signal: AbortSignal;
  /** Each refusal for the port in use; `first` for the first of this port, the one to log. */
  onPortInUse?: (err: ConfigError, first: boolean) => void;
  /** The port was in use when the broker started and is listened on now. */
  onPortFree?: (port: number) => void;
}

/** Resolves with the port bound once `server` listens; rejects on a refusal other than the port in use, or on stop. */
export function listenOn(server: NetServer | HttpServer, port: number, o: ListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const retry = new PortRetry();
    let inUse: ConfigError | undefined;
    const halt = () => {
      retry.stop();
      reject(inUse ?? new ConfigError(`the broker stopped before listening on ${o.bind}:${port}`, { port }));
    };
    if (o.signal.aborted) return halt();
    o.signal.addEventListener('abort', halt, { once: true });
    const attempt = () => {
      const onError = (err: NodeJS.ErrnoException) => {
        if (o.signal.aborted) return;
        if (!isPortInUse(err)) {
          o.signal.removeEventListener('abort', halt);
          return reject(new ConfigError(`cannot listen on ${o.bind}:${port}: ${err.message}`, { port }));
        }
        inUse = new ConfigError(portInUse('tcp', o.bind, port, o.holder, 'broker'), { port });
        o.onPortInUse?.(inUse, retry.refusals === 0);
        retry.after(attempt);
      };
      server.once('error', onError);
      server.listen(port, o.bind, () => {
        server.off('error', onError);
        o.signal.removeEventListener('abort', halt);
        // Stopped while this try was under way: the stop has already let go of the broker's other listeners.
        if (o.signal.aborted) return void server.close();
        const addr = server.address();
        const bound = typeof addr === 'object' && addr ? addr.port : port;
        notePortHeld('tcp', o.bind, bound, o.holder, o.owner);
        if (retry.refusals > 0) o.onPortFree?.(bound);
        resolve(bound);
      });
    };
    attempt();
  });
}
