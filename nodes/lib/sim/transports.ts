/**
 * How simulated devices reach the pipeline: MQTT (a connection per device or a
 * shared pool), HTTP (`POST /ingest/{device}`) and CoAP (`POST
 * /telemetry/{device}`, confirmable), each resolving a send once the server
 * acknowledged it: PUBACK for MQTT QoS 1, a 2xx status for HTTP, a 2.xx
 * response for CoAP. Device credentials come from one hook, so a device
 * registry can hand out a login or token per device.
 */
import { Agent as HttpAgent, request as httpRequest, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { deviceIdProblem } from '../devices/record';
import { DEFAULT_LIMITS, LIMIT_RANGES } from '../limits';
import type { SimDevice } from './simulator';
import { refusedByCoap, refusedByHttp, refusedForSize } from './split';

export interface Credentials {
  username?: string;
  password?: string;
  /** Sent as `Authorization: Bearer <token>` (HTTP) or the `k` URI query (CoAP): a device's secret. */
  token?: string;
}

/** Who a device logs in as; the device is undefined for a connection shared by many devices. */
export type CredentialsHook = (device: SimDevice | undefined) => Credentials;

export interface Transport {
  readonly name: string;
  /**
   * The largest payload the receiving input takes, in bytes, when the protocol has no answer that says a message
   * was too large: a batch that would be larger goes as several messages before it is sent (split.ts).
   */
  readonly maxMessageBytes?: number;
  open(devices: readonly SimDevice[]): Promise<void>;
  /** Resolves once the server acknowledged the message; rejects with why not. */
  send(device: SimDevice, payload: Buffer, contentType: string): Promise<void>;
  close(): Promise<void>;
}

/** "{device}" in a template becomes the device id. */
export function fill(template: string, device: string): string {
  return template.split('{device}').join(device);
}

/** Which option makes the topic impossible, and why, in words naming it as the user set it. */
export interface TopicProblem {
  option: 'prefix' | 'topic';
  message: string;
}

type OptionNames = Readonly<Record<TopicProblem['option'], string>>;
const CLI_NAMES: OptionNames = { prefix: '--prefix', topic: '--topic' };

/**
 * Why simulated ids (the prefix and a number) would be refused by every input, as the registry's id
 * rule (deviceIdProblem) refuses them over MQTT, HTTP and CoAP alike, or undefined. `names` are the
 * options as the user knows them: the CLI's flags by default, a node's field names in the editor.
 */
export function devicePrefixProblem(prefix: string, names: OptionNames = CLI_NAMES): TopicProblem | undefined {
  // The longest id it makes: the prefix and up to five digits (10,000 devices at most).
  if (deviceIdProblem(`${prefix}10000`) === undefined) return undefined;
  return { option: 'prefix', message: `${names.prefix} "${prefix}" cannot start a device id: ids hold only letters, digits, ".", "_", "-", ":" or "@" (1 to 128), or every input refuses them` };
}

/**
 * Why an MQTT topic template and device id prefix cannot form a topic a device
 * may publish to, or undefined when they can: the prefix as devicePrefixProblem
 * says, a wildcard (+, #) in the topic is refused by the broker.
 */
export function mqttTopicProblem(template: string, prefix: string, names: OptionNames = CLI_NAMES): TopicProblem | undefined {
  const id = devicePrefixProblem(prefix, names);
  if (id) return id;
  const inTopic = [...template].find((c) => c === '+' || c === '#' || c === '\u0000');
  const shown = (c: string) => (c === '\u0000' ? '\\0' : c);
  if (inTopic !== undefined) return { option: 'topic', message: `${names.topic} "${template}" holds "${shown(inTopic)}": a device cannot publish to a topic with a wildcard (+ or #)` };
  if (template === '') return { option: 'topic', message: `${names.topic} must not be empty` };
  return undefined;
}

/** Expands {device} in every credential for that device. */
export function templateCredentials(c: Credentials): CredentialsHook {
  return (d) => {
    const id = d?.id ?? '';
    const out: Credentials = {};
    if (c.username !== undefined) out.username = fill(c.username, id);
    if (c.password !== undefined) out.password = fill(c.password, id);
    if (c.token !== undefined) out.token = fill(c.token, id);
    return out;
  };
}

const none: CredentialsHook = () => ({});

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export interface MqttTransportOptions {
  url: string;
  /** Topic template; "{device}" is the device id. */
  topic: string;
  qos?: 0 | 1;
  /** Connections: a number shared round-robin, or "device" for one each (client id = device id). */
  connections?: number | 'device';
  /** MQTT 5 (default) sends the content type with each message. */
  protocolVersion?: 4 | 5;
  credentials?: CredentialsHook;
  /**
   * The largest payload of one publish, in bytes (default 1 MiB, what the MQTT inputs' decode takes by default).
   * The input acknowledges a larger one and dead-letters it as PAYLOAD_TOO_LARGE, so the sender must not send it.
   */
  maxMessageBytes?: number;
  /** Extra client options (TLS files, keepalive, ...). */
  client?: IClientOptions;
}

/**
 * The range of `maxMessageBytes`, as the simulate node's "Largest message" and `upperstack simulate --max-bytes`
 * take it: up to the decode node's largest limit, and at least 1 KiB, room for one reading of any profile in any
 * codec (a smart plug's in SenML is the largest, ~200 bytes); a smaller limit would leave every reading over it.
 */
export const MAX_MESSAGE_BYTES_RANGE = { min: 1024, max: LIMIT_RANGES.maxBytes.max } as const;

/** The URL schemes MQTT.js connects with. */
const MQTT_SCHEMES = new Set(['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:']);

export class MqttTransport implements Transport {
  readonly name = 'mqtt';
  readonly maxMessageBytes: number;
  private clients: MqttClient[] = [];
  private perDevice = false;

  constructor(private readonly o: MqttTransportOptions) {
    // An http:// URL would reach a web server and fail on its answer with a packet parser's error.
    let scheme: string;
    try {
      scheme = new URL(o.url).protocol;
    } catch {
      throw new Error(`an MQTT URL looks like mqtt://host:1883, got ${o.url}`);
    }
    if (!MQTT_SCHEMES.has(scheme)) throw new Error(`an MQTT URL starts with mqtt://, mqtts://, ws:// or wss://, got ${o.url}`);
    this.maxMessageBytes = o.maxMessageBytes ?? DEFAULT_LIMITS.maxBytes;
  }

  async open(devices: readonly SimDevice[]): Promise<void> {
    const creds = this.o.credentials ?? none;
    this.perDevice = this.o.connections === 'device';
    const count = this.perDevice ? devices.length : Math.max(1, Math.min(Number(this.o.connections ?? 10), devices.length));
    const owners: Array<SimDevice | undefined> = this.perDevice ? [...devices] : Array.from({ length: count }, () => undefined);
    const base = `upperstack-sim-${process.pid}-${Date.now().toString(36)}`;
    this.clients = new Array(count);
    await inBatches(
      owners.map((d, i) => ({ d, i })),
      100,
      async ({ d, i }) => {
        const c = creds(d);
        this.clients[i] = await mqtt.connectAsync(this.o.url, {
          clientId: d ? d.id : `${base}-${i}`,
          protocolVersion: this.o.protocolVersion ?? 5,
          clean: true,
          reconnectPeriod: 1000,
          connectTimeout: 10_000,
          ...(c.username !== undefined ? { username: c.username } : {}),
          ...(c.password !== undefined ? { password: c.password } : {}),
          ...this.o.client,
        });
      },
    ).catch(async (err: Error) => {
      await this.close();
      throw new Error(`cannot connect to ${this.o.url}: ${err.message}`);
    });
  }

  send(device: SimDevice, payload: Buffer, contentType: string): Promise<void> {
    const client = this.clients[this.perDevice ? device.index : device.index % this.clients.length];
    const qos = this.o.qos ?? 1;
    const opts = (this.o.protocolVersion ?? 5) === 5 ? { qos, properties: { contentType } } : { qos };
    return new Promise((resolve, reject) => client.publish(fill(this.o.topic, device.id), payload, opts, (err) => (err ? reject(err) : resolve())));
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.filter(Boolean).map((c) => c.endAsync(true).catch(() => undefined)));
    this.clients = [];
  }
}

export interface HttpTransportOptions {
  /** Base URL of the HTTP input, e.g. http://127.0.0.1:1880. */
  url: string;
  /** Path template (default "/ingest/{device}"). */
  path?: string;
  /** Sockets kept open to the server (default 64). */
  connections?: number;
  credentials?: CredentialsHook;
  timeoutMs?: number;
}

export class HttpTransport implements Transport {
  readonly name = 'http';
  private agent: HttpAgent | undefined;
  private readonly base: URL;

  constructor(private readonly o: HttpTransportOptions) {
    this.base = new URL(o.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`an HTTP URL starts with http:// or https://, got ${o.url}`);
  }

  async open(): Promise<void> {
    const Agent = this.base.protocol === 'https:' ? HttpsAgent : HttpAgent;
    this.agent = new Agent({ keepAlive: true, maxSockets: this.o.connections ?? 64 });
  }

  send(device: SimDevice, payload: Buffer, contentType: string): Promise<void> {
    const c = (this.o.credentials ?? none)(device);
    const path = fill(this.o.path ?? '/ingest/{device}', encodeURIComponent(device.id));
    const headers: Record<string, string | number> = { 'content-type': contentType, 'content-length': payload.length };
    if (c.token) headers.authorization = `Bearer ${c.token}`;
    else if (c.username !== undefined) headers.authorization = `Basic ${Buffer.from(`${c.username}:${c.password ?? ''}`).toString('base64')}`;
    const basePath = this.base.pathname.replace(/\/$/, '');
    const opts: RequestOptions = { method: 'POST', host: this.base.hostname, port: this.base.port || undefined, path: basePath + path, headers, agent: this.agent, timeout: this.o.timeoutMs ?? 30_000 };
    const request = this.base.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(opts, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          if (body.length < 2000) body += d;
        });
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve();
          let why = body.trim();
          try {
            why = (JSON.parse(body) as { error?: { message?: string } }).error?.message ?? why;
          } catch {
            // not JSON: the text as it came
          }
          const message = `HTTP ${status}${why ? `: ${why.slice(0, 200)}` : ''}`;
          // Too large in bytes or in readings: the sender splits the batch (split.ts).
          reject(status === 413 ? refusedForSize(message, payload.length, undefined) : refusedByHttp(message, status));
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('HTTP request timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    this.agent?.destroy();
    this.agent = undefined;
  }
}

/** CoAP Content-Format numbers (RFC 7252 registry) of the codecs that have one. */
const COAP_FORMATS: Record<string, number> = {
  'application/json': 50,
  'application/cbor': 60,
  'application/senml+json': 110,
  'application/senml+cbor': 112,
};

/**
 * Bodies over this go block-wise (RFC 7959 Block1) in blocks of this size (SZX 6): a block with the
 * header and the path and query options stays within the coap package's 1280-byte packet limit, as a
 * constrained device's would, where one datagram of the whole batch would be refused before sending.
 */
const COAP_BLOCK_BYTES = 1024;
const COAP_BLOCK_SZX = 6;

export interface CoapTransportOptions {
  /** coap://host:port of the CoAP input. */
  url: string;
  /** Path template (default "/telemetry/{device}"). */
  path?: string;
  credentials?: CredentialsHook;
}

export class CoapTransport implements Transport {
  readonly name = 'coap';
  private agent: import('coap').Agent | undefined;
  private coap: typeof import('coap') | undefined;
  private readonly host: string;
  private readonly port: number;

  constructor(private readonly o: CoapTransportOptions) {
    const u = new URL(o.url);
    if (u.protocol !== 'coap:') throw new Error(`a CoAP URL starts with coap://, got ${o.url}`);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 5683);
  }

  async open(): Promise<void> {
    this.coap = await import('coap');
    this.agent = new this.coap.Agent({ type: this.host.includes(':') ? 'udp6' : 'udp4' });
  }

  send(device: SimDevice, payload: Buffer, contentType: string): Promise<void> {
    const c = (this.o.credentials ?? none)(device);
    // Options carry text as it is, one segment or parameter each (RFC 7252 §6.4): the library would put a
    // percent-encoded `pathname` or `query` into them still encoded, and split a value holding `&` in two.
    const path = (this.o.path ?? '/telemetry/{device}').split('/').filter((segment) => segment !== '').map((segment) => Buffer.from(fill(segment, device.id)));
    // The CoAP input's logins: `k` is the secret of the path's device, `u`/`p` a user name and password.
    const query = c.token ? [`k=${c.token}`] : c.username !== undefined ? [`u=${c.username}`, `p=${c.password ?? ''}`] : [];
    return new Promise((resolve, reject) => {
      const req = this.coap!.request({ hostname: this.host, port: this.port, method: 'POST', confirmable: true, agent: this.agent });
      req.setOption('Uri-Path', path);
      if (query.length) req.setOption('Uri-Query', query.map((q) => Buffer.from(q)));
      const format = COAP_FORMATS[contentType];
      if (format !== undefined) req.setOption('Content-Format', format);
      if (payload.length > COAP_BLOCK_BYTES) req.setOption('Block1', Buffer.of(COAP_BLOCK_SZX));
      req.on('response', (res: import('coap').IncomingMessage) => {
        const code = String(res.code);
        res.resume?.();
        if (code.startsWith('2.')) return resolve();
        const message = `CoAP ${code}${res.payload?.length ? `: ${res.payload.toString('utf8').slice(0, 200)}` : ''}`;
        // Size1 is the largest body the server takes (RFC 7959 §4); without it (too many readings) the sender halves.
        reject(code === '4.13' ? refusedForSize(message, payload.length, size1(res)) : refusedByCoap(message, code));
      });
      req.on('timeout', (err: Error) => reject(err ?? new Error('CoAP request timed out')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async close(): Promise<void> {
    const agent = this.agent;
    this.agent = undefined;
    // Waits for "close", not the callback: an agent whose socket already closed when idle emits
    // "close" without calling it.
    if (agent) await new Promise<void>((r) => agent.once('close', () => r()).close());
  }
}

function size1(res: import('coap').IncomingMessage): number | undefined {
  // The coap package gives a number, or the option's bytes for an option it has no parser for.
  const v: unknown = res.headers?.Size1;
  if (typeof v === 'number') return v;
  return Buffer.isBuffer(v) && v.length > 0 && v.length <= 4 ? v.readUIntBE(0, v.length) : undefined;
}

/** Hands each message to a function (the simulate node's output); acknowledged at once. */
export class FunctionTransport implements Transport {
  readonly name = 'output';
  constructor(private readonly fn: (device: SimDevice, payload: Buffer, contentType: string) => void) {}
  async open(): Promise<void> {}
  async send(device: SimDevice, payload: Buffer, contentType: string): Promise<void> {
    this.fn(device, payload, contentType);
  }
  async close(): Promise<void> {}
}
