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
 *   on their listeners);
 * - the kernel gives a bound port to no one else: not to a bind to port 0, not to an outgoing
 *   connection, not to a socket without SO_REUSEADDR;
 * - a server restarted on the same port (after a kill -9 in a crash test) finds it still reserved.
 *
 * UDP cannot be reserved that way: the CoAP input binds without SO_REUSEADDR, so that a port another
 * process holds fails it instead of being shared. A UDP port is only picked (bound to 0 and closed);
 * the kernel picks UDP ports at random, so a run beside this one is unlikely to get the same one.
 *
 * Node offers no TCP bind without listen, so the TCP holder is libuv's own socket handle
 * (`process.binding('tcp_wrap')`, the handle net.Server wraps); its bind sets SO_REUSEADDR.
 */
import { createSocket } from 'node:dgram';

interface TcpHandle {
  bind(address: string, port: number): number;
  getsockname(out: { port?: number }): number;
  close(): void;
}

interface TcpWrap {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number };
}

const held = new Map<string, TcpHandle>();

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

/** UDP ports this process has handed out: picked ports are released, so the kernel may pick one again. */
const udpHandedOut = new Set<number>();

/**
 * A loopback UDP port free when asked (for a CoAP input, which binds it without SO_REUSEADDR) and not
 * handed out before by this process. The probe sets no SO_REUSEADDR either: with it, the kernel may
 * pick a port another socket that set it holds.
 */
export async function freeUdpPort(): Promise<number> {
  for (;;) {
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(0, '127.0.0.1', () => resolve());
    });
    const port = s.address().port;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    if (udpHandedOut.has(port)) continue;
    udpHandedOut.add(port);
    return port;
  }
}
