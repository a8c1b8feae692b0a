/**
 * The HTTP rows' load client (bench/inputs.ts): one keep-alive connection that
 * POSTs a request and waits for its answer, for the same 2 cores as the server
 * it measures. node:http's client (ClientRequest, Agent, a response stream per
 * request) took ~100 µs of CPU per request here, as much as the runtime's own
 * request, and a server that needs less CPU lost more of the machine to it.
 * undici's `Client` is one connection to one origin (pipelining 1: a request,
 * then its answer), with undici's own HTTP/1.1 parser (llhttp), and
 * `client.dispatch()` hands the answer to plain callbacks: no request or
 * response stream, no body object per request; the body is dropped as it
 * arrives and only the status is kept. Failed connections reconnect on the
 * next request. BENCH_INPUT_CLIENT=node keeps node:http's (docs/performance.md).
 */
import { Client, type Dispatcher } from 'undici';

export class KeepAliveClient {
  private readonly client: Client;
  private status = 0;
  private waiter: ((status: number) => void) | undefined;
  /** One handler for every request: this client has one request in flight at a time. */
  private readonly handler: Dispatcher.DispatchHandlers = {
    onConnect: () => {},
    onHeaders: (statusCode) => {
      this.status = statusCode;
      return true;
    },
    onData: () => true,
    onComplete: () => this.finish(this.status),
    onError: () => this.finish(0),
  };

  constructor(host: string, port: number) {
    this.client = new Client(`http://${host}:${port}`, { pipelining: 1 });
  }

  /** POSTs body to path; the answer's status, or 0 when the connection failed or the answer is unreadable. */
  post(path: string, contentType: string, body: string): Promise<number> {
    return new Promise<number>((resolve) => {
      this.status = 0;
      this.waiter = resolve;
      this.client.dispatch({ method: 'POST', path, headers: ['content-type', contentType], body }, this.handler);
    });
  }

  close(): void {
    this.client.destroy().catch(() => {});
  }

  private finish(status: number): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.(status);
  }
}
