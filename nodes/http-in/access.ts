/**
 * Who is sending an HTTP request, by the rules of the runtime's device
 * registry (nodes/lib/security/device-auth.ts): a device with its secret
 * (`Authorization: Bearer <secret>` on a route that names the device, Basic
 * `id:secret`, InfluxDB's `u`/`p` or `Token id:secret`), a TLS client
 * certificate whose CN is a device id, the input's shared login, or nobody
 * (accepted only while the runtime listens on loopback).
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { presentedLogin } from '../lib/inputs/auth';
import { isLoopback } from '../lib/security/net';
import type { AuthResult } from '../lib/security/device-auth';
import { deviceAuth } from '../shared/devices';
import type { ActiveHttpIn } from './active';

function first(v: unknown): string | undefined {
  if (Array.isArray(v)) return first(v[0]);
  return typeof v === 'string' ? v : undefined;
}

/** The CN of a client certificate the HTTPS server verified, if any. */
export function verifiedCN(req: IncomingMessage): string | undefined {
  const sock = req.socket as Partial<TLSSocket>;
  if (!sock.authorized || typeof sock.getPeerCertificate !== 'function') return undefined;
  const cn = sock.getPeerCertificate()?.subject?.CN;
  return typeof cn === 'string' && cn !== '' ? cn : Array.isArray(cn) && typeof cn[0] === 'string' ? cn[0] : undefined;
}

/** The listener is bound to loopback: anonymous devices may write (the rule of nodes/lib/inputs/auth.ts). */
export function onLoopback(bind: string | undefined): boolean {
  return bind !== undefined && bind !== '' && isLoopback(bind);
}

/**
 * authenticateHttp() decided at once for a request that presents no login and
 * no client certificate, when the registry can (nodes/lib/security/device-auth.ts
 * anonymousNow); undefined when the request must wait for authenticateHttp().
 */
export function authenticateHttpNow(req: IncomingMessage, q: Record<string, unknown>, input: ActiveHttpIn): AuthResult | undefined {
  if (req.headers.authorization !== undefined || q.u !== undefined || q.p !== undefined) return undefined;
  if ((req.socket as Partial<TLSSocket>).authorized) return undefined;
  return deviceAuth().anonymousNow(req.socket.remoteAddress, input.loopback, input.login);
}

/** `device` is the device the route names: a bare secret (Bearer) is that device's. */
export function authenticateHttp(req: IncomingMessage, q: Record<string, unknown>, input: ActiveHttpIn, device?: string): Promise<AuthResult> {
  const presented = presentedLogin(req.headers.authorization, { u: first(q.u), p: first(q.p) });
  let username = presented?.username;
  if (presented && username === '' && device !== undefined) username = device;
  return deviceAuth().authenticate({
    protocol: 'http',
    username,
    password: presented?.password,
    remote: req.socket.remoteAddress,
    certCN: verifiedCN(req),
    loopback: input.loopback,
    shared: input.login,
  });
}
