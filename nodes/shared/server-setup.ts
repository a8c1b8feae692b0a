/**
 * What Upperstack sets up on the Node-RED runtime it is loaded into, whoever
 * started it (`npm start`, a user's own `node-red`, an application embedding
 * Node-RED): JSON answers to requests Node's HTTP parser refuses, on the
 * runtime's HTTP server. Done once per server, however many callers ask.
 */
import type { Server } from 'node:http';
import { answerClientErrors } from '../lib/client-errors';

/** The part of the node API this needs: `RED.server` is null/absent when Node-RED runs without an HTTP server. */
export interface RuntimeWithServer {
  server?: Server | null;
}

export function prepareServer(RED: RuntimeWithServer): boolean {
  if (!RED.server) return false;
  answerClientErrors(RED.server);
  return true;
}
