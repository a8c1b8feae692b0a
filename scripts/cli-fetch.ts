/**
 * The admin commands' requests to a runtime. Node's fetch takes no CA of its own, so a runtime with a
 * self-signed certificate (docs/security.md) is reached through node:https with the CA given by --ca or
 * UPPERSTACK_CA; without one, fetch and the system CAs as before.
 */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';

export interface CliRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** The CA file (--ca, else $UPPERSTACK_CA); undefined when neither is set. `refuse` makes the error for a file that cannot be read. */
export function trustedCa(flag: string | undefined, refuse: (message: string) => Error): Buffer | undefined {
  const file = flag || process.env.UPPERSTACK_CA;
  if (!file) return undefined;
  try {
    return readFileSync(file);
  } catch (err) {
    throw refuse(`${flag ? '--ca' : 'UPPERSTACK_CA'}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/** A Response, as fetch gives it; with `ca`, the server's certificate is checked against that CA too. */
export function cliFetch(url: string | URL, init: CliRequest = {}, ca?: Buffer): Promise<Response> {
  if (!ca) return fetch(url, init);
  const target = new URL(url);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(target, { method: init.method ?? 'GET', headers: init.headers, ...(target.protocol === 'https:' ? { ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, v);
        }
        // A Response of these statuses may not have a body.
        const empty = status === 204 || status === 205 || status === 304;
        resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage, headers }));
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
