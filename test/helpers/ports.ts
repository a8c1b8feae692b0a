/**
 * Ports for servers a test must tell a number to (the runtime's listeners, mosquitto, influxd,
 * victoria-metrics, a stock Node-RED), with no moment at which another process can take them.
 *
 * Picking a port by listening on 0 and closing again leaves it free until the server binds it:
 * a test run beside this one (or any outgoing connection, which takes a port from the same range)
 * may get it meanwhile, and the server under test fails with "address in use" or, worse, the test
 * talks to the other run's server. Instead this process keeps the port bound, without listening,
 * until it exits, with SO_REUSEADDR set:
 * - the server binds beside it, since on Linux two sockets that both set SO_REUSEADDR share an
 *   address while neither listens on it yet (Node's libuv, Go's net package and mosquitto all set it
 *   on their listeners; a UDP server must ask for it: the coap package does so by default);
 * - the kernel gives a bound port to no one else: not to a bind to port 0, not to an outgoing
 *   connection, not to a socket without SO_REUSEADDR;
 * - a server restarted on the same port (after a kill -9 in a crash test) finds it still reserved.
 * A UDP datagram goes to the socket bound last, the server, while it runs.
 *
 * UDP differs in one way that matters: when the kernel picks a port (bind to 0) for a socket that
 * sets SO_REUSEADDR, it ignores every socket that sets it too, so such a probe may be handed a port
 * another run holds, or whose CoAP input is listening on it, and the datagrams of that run then go to
 * this run's socket, bound last. So the UDP port is picked by a socket without SO_REUSEADDR (the
 * kernel then hands out no port any socket holds) and only then held with it, on that port; a
 * socket that came between the two binds makes it try another port.
 *
 * Node offers no TCP bind without listen, so the TCP holder is libuv's own socket handle
 * (`process.binding('tcp_wrap')`, the handle net.Server wraps); its bind sets SO_REUSEADDR.
 */
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';

interface TcpHandle {
  bind(address: string, port: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}

interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number };
}

const held = new Map<string, TcpHandle | Socket>();

function tcpWrap(): TcpWrap {
  return (process as unknown as { binding(name: string): TcpWrap }).binding('tcp_wrap');
}

/** A loopback TCP port reserved for this process; a server given it may listen on it at any time. */
export async function freePort(): Promise<number> {
  const { TCP, constants } = tcpWrap();
  const handle = new TCP(constants.SOCKET);
  const err = handle.bind('127.0.0.1', 0);
  const out: { port?: number } = {};
  if (err === 0) handle.getsockname(out);
  if (err !== 0 || !out.port) {
    handle.close();
    throw new Error(`cannot reserve a TCP port (error ${err})`);
  }
  held.set(`tcp:${out.port}`, handle);
  return out.port;
}

/** A loopback UDP port reserved for this process (for a CoAP input: its socket sets SO_REUSEADDR). */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    // Without SO_REUSEADDR: a port no socket holds, whether or not that socket set it.
    const probe = await udpSocket(false, 0);
    const port = probe.address().port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const holder = await udpSocket(true, port).catch((err: unknown) => {
      if (attempt < 20 && (err as { code?: string }).code === 'EADDRINUSE') return undefined;
      throw err;
    });
    const sockets = udpSocketsOn(port);
    if (holder && (sockets === undefined || sockets === 1)) {
      held.set(`udp:${port}`, holder);
      return port;
    }
    holder?.close();
    if (attempt >= 20) throw new Error(`cannot reserve a UDP port: another socket came onto each of 20 ports first (last ${port})`);
  }
}

function udpSocket(reuseAddr: boolean, port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr });
  // Datagrams that reach a holder while no server runs are read and dropped.
  s.on('message', () => undefined);
  return new Promise<Socket>((resolve, reject) => {
    s.once('error', (err) => {
      s.close();
      reject(err);
    });
    s.bind(port, '127.0.0.1', () => {
      s.unref();
      resolve(s);
    });
  });
}

/** How many UDP sockets of this network namespace are bound to `port` (any address); undefined without /proc/net/udp. */
function udpSocketsOn(port: number): number | undefined {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let count: number | undefined;
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    count ??= 0;
    // "  sl  local_address rem_address ...": the local address ends with ":PORT" in hex.
    for (const line of text.split('\n').slice(1)) if (line.trim().split(/\s+/)[1]?.endsWith(hex)) count++;
  }
  return count;
}
