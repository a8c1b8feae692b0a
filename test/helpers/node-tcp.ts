/**
 * A loopback TCP server beside a node test's Node-RED (a fake broker, a relay in front of a real one):
 * listening before the runtime starts, and at the end stopped after it, with every socket it handed out.
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import helper from 'node-red-node-test-helper';

/** Listens on a free loopback port, then starts the test runtime with `settings`; returns the port. */
export async function startBeside(server: Server, settings: Record<string, unknown>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  helper.settings(settings);
  await helper.startServer();
  return (server.address() as AddressInfo).port;
}

/** Unloads and stops the test runtime, then closes the server and the sockets it accepted or opened. */
export async function stopBeside(server: Server, sockets: Iterable<Socket>): Promise<void> {
  await helper.unload();
  await helper.stopServer();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
}
