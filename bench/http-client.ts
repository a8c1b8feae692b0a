/**
 * The HTTP rows' load client (bench/inputs.ts): one keep-alive connection that
 * POSTs a request and waits for its answer, for the same 2 cores as the server
 * it measures. node:http's client (ClientRequest, Agent, a response stream per
 * request) took ~100 µs of CPU per request here, as much as the runtime's own
 * request, and a server that needs less CPU lost more of the machine to it.
 * This one writes each request as one buffer and reads only the status line
 * and Content-Length of the answer (every server measured sends one).
 * BENCH_INPUT_CLIENT=node keeps node:http's (docs/performance.md).
 */
import { connect, type Socket } from 'node:net';

export class KeepAliveClient {
  private sock: Socket | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: ((status: number) => void) | undefined;
  private readonly host: string;

  constructor(
    host: string,
    private readonly port: number,
  ) {
    this.host = `${host}:${port}`;
  }

  /** POSTs body to path; the answer's status, or 0 when the connection failed or the answer is unreadable. */
  post(path: string, contentType: string, body: string): Promise<number> {
    const head = `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    return new Promise<number>((resolve) => {
      this.waiter = resolve;
      this.socket().write(head + body);
    });
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }

  private socket(): Socket {
    if (this.sock && !this.sock.destroyed) return this.sock;
    const s = connect({ port: this.port, host: '127.0.0.1', noDelay: true });
    this.buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => this.read(d));
    const fail = () => {
      if (this.sock === s) this.sock = undefined;
      this.finish(0);
    };
    s.on('error', fail);
    s.on('close', fail);
    this.sock = s;
    return s;
  }

  private read(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      // Chunked or unframed: not something these servers send; count it as failed and start over.
      this.close();
      this.finish(0);
      return;
    }
    const total = end + 4 + Number(m[1]);
    if (this.buf.length < total) return;
    const status = Number(head.slice(9, 12));
    this.buf = this.buf.length > total ? this.buf.subarray(total) : Buffer.alloc(0);
    if (/\r\nconnection:\s*close/i.test(head)) this.close();
    this.finish(status);
  }

  private finish(status: number): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(status);
  }
}
