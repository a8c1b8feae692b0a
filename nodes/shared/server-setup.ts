/**
 * What Upperstack sets up on the Node-RED runtime it is loaded into, whoever
 * started it (`npm start`, a user's own `node-red`, an application embedding
 * Node-RED): JSON answers to requests Node's HTTP parser refuses, on the
 * runtime's HTTP server, and idle keep-alive connections kept longer than the
 * clients' and proxies' own (nodes/lib/server-timeouts.ts) unless whoever made
 * the server set its timeout. Done once per server, however many callers ask.
 */
import type { Server } from 'node:http';
import { answerClientErrors } from '../lib/client-errors';
import { keepConnections, NODE_DEFAULT_KEEP_ALIVE_MS } from '../lib/server-timeouts';

/** The part of the node API this needs: `RED.server` is null/absent when Node-RED runs without an HTTP server. */
export interface RuntimeWithServer {
  server?: Server | null;
}

export function prepareServer(RED: RuntimeWithServer): boolean {
  if (!RED.server) return false;
  answerClientErrors(RED.server);
  if (RED.server.keepAliveTimeout === NODE_DEFAULT_KEEP_ALIVE_MS) keepConnections(RED.server);
  return true;
}
