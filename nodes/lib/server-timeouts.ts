/**
 * Idle keep-alive connections of Node-RED's HTTP server (the editor, the API and the HTTP inputs: one
 * server). Node closes an idle keep-alive connection after 5 s; clients and proxies keep one for longer
 * (Go 90 s, AWS load balancers 60 s, nginx upstream connections 60 s) and may send their next
 * request on it just as the server closes it: the client gets ECONNRESET, and a POST it does not retry is
 * lost to it. So the server keeps an idle connection longer than those (65 s), and the headers timeout is
 * longer than that again, as Node requires for a request that starts just before the keep-alive ends.
 */
import type { Server } from 'node:http';

export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
export const HEADERS_TIMEOUT_MS = 66_000;

/** Node's own default keep-alive timeout: a server that still has it was not set by its owner. */
export const NODE_DEFAULT_KEEP_ALIVE_MS = 5_000;

export function keepConnections(server: Pick<Server, 'keepAliveTimeout' | 'headersTimeout'>): void {
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
}
