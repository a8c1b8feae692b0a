/**
 * Built-in notifications for alert transitions: e-mail over SMTP (nodemailer),
 * a webhook (JSON POST, retried with backoff), MQTT (a topic on the embedded
 * broker or another broker). Sending never blocks the engine: each channel has
 * a bounded queue, and failures are reported to a callback, not thrown.
 */
import { createHash } from 'node:crypto';
import { createTransport, type Transporter } from 'nodemailer';
import type { AlertEvent } from './types';

/**
 * The transition's idempotency key as an HTTP header value: header values
 * are Latin-1 bytes without control characters, and a device id may hold
 * anything, so a key with other characters is percent-encoded
 * (encodeURIComponent); a key of printable ASCII is sent as it is.
 */
export function keyHeader(key: string): string {
  return /^[\x21-\x7e]*$/.test(key) ? key : encodeURIComponent(key);
}

/** A Message-ID that is the same for every send of one transition, so a mailbox can drop a repeat. */
export function messageIdOf(key: string): string {
  return `<${createHash('sha256').update(key).digest('hex').slice(0, 40)}@alert.upperstack>`;
}

export interface EmailChannel {
  host: string;
  port: number;
  /** TLS from the start (port 465); otherwise STARTTLS when the server offers it. */
  secure: boolean;
  user?: string;
  password?: string;
  from: string;
  to: string[];
}

export interface WebhookChannel {
  url: string;
  /** Sent as "Authorization: Bearer <token>" when set. */
  token?: string;
  /** Attempts in all (default 5), the first retry after retryMs (default 1 s), doubling. */
  attempts?: number;
  retryMs?: number;
  timeoutMs?: number;
}

export interface MqttChannel {
  /** Publishes (topic, JSON); the node gives the embedded broker or an MQTT.js client. */
  publish(topic: string, payload: string): Promise<void>;
  /** "upperstack/notifications/{device}"; {rule}, {severity}, {event} also work. */
  topic: string;
}

export interface NotifierOptions {
  email?: EmailChannel;
  webhook?: WebhookChannel;
  mqtt?: MqttChannel;
  onError?: (channel: 'email' | 'webhook' | 'mqtt', err: Error, e: AlertEvent) => void;
  onSent?: (channel: 'email' | 'webhook' | 'mqtt', e: AlertEvent) => void;
  /** Most notifications waiting per channel; past it the oldest are dropped (and reported). */
  maxQueue?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms).unref?.());

export function subjectOf(e: AlertEvent): string {
  const what = e.event === 'firing' ? e.severity.toUpperCase() : e.event.toUpperCase();
  return `[${what}] ${e.ruleName}: ${e.device}`;
}

export function textOf(e: AlertEvent): string {
  const lines = [
    e.message,
    '',
    `${e.event} (${e.previous} → ${e.state}), severity ${e.severity}`,
    `why: ${e.reason}`,
    `device: ${e.device}`,
    `rule: ${e.ruleName} (${e.rule})`,
    `at: ${new Date(e.ts).toISOString()}; since ${new Date(e.since).toISOString()}; occurrence ${e.occurrences}`,
  ];
  if (e.by) lines.push(`by: ${e.by}${e.note ? ` (${e.note})` : ''}`);
  return lines.join('\n');
}

export function topicOf(template: string, e: AlertEvent): string {
  const level = (s: string) => s.replace(/[+#/\u0000]/g, '_') || 'unknown';
  return template.replace(/\{(device|rule|severity|event)\}/g, (_, k: 'device' | 'rule' | 'severity' | 'event') => level(String(e[k])));
}

class Queue {
  private items: AlertEvent[] = [];
  private running = false;
  constructor(
    private readonly max: number,
    private readonly work: (e: AlertEvent) => Promise<void>,
    private readonly dropped: (e: AlertEvent) => void,
  ) {}

  push(e: AlertEvent): void {
    this.items.push(e);
    if (this.items.length > this.max) this.dropped(this.items.shift()!);
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.items.length) {
      const e = this.items.shift()!;
      await this.work(e).catch(() => undefined);
    }
    this.running = false;
  }

  idle(): boolean {
    return !this.running && this.items.length === 0;
  }
}

export class Notifier {
  private transport: Transporter | undefined;
  private readonly queues: Partial<Record<'email' | 'webhook' | 'mqtt', Queue>> = {};
  private closed = false;

  constructor(private readonly opts: NotifierOptions) {
    const max = opts.maxQueue ?? 1000;
    const fail = (ch: 'email' | 'webhook' | 'mqtt') => (e: AlertEvent) => opts.onError?.(ch, new Error(`more than ${max} ${ch} notifications waiting; dropped the oldest`), e);
    if (opts.email) {
      const m = opts.email;
      this.transport = createTransport({
        host: m.host,
        port: m.port,
        secure: m.secure,
        ...(m.user ? { auth: { user: m.user, pass: m.password ?? '' } } : {}),
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
      this.queues.email = new Queue(max, (e) => this.email(e), fail('email'));
    }
    if (opts.webhook) this.queues.webhook = new Queue(max, (e) => this.webhook(e), fail('webhook'));
    if (opts.mqtt) this.queues.mqtt = new Queue(max, (e) => this.mqtt(e), fail('mqtt'));
  }

  /** Queues an event on every channel its rule wants (all configured ones when the rule says nothing). */
  send(e: AlertEvent): void {
    if (this.closed || !e.notify) return;
    const wants = e.notifyChannels;
    if (this.queues.email && wants?.email !== false) this.queues.email.push(e);
    if (this.queues.webhook && wants?.webhook !== false) this.queues.webhook.push(e);
    if (this.queues.mqtt && wants?.mqtt !== false) this.queues.mqtt.push(e);
  }

  private async email(e: AlertEvent): Promise<void> {
    const m = this.opts.email!;
    const to = Array.isArray(e.notifyChannels?.email) ? e.notifyChannels.email : m.to;
    if (!to.length) return;
    try {
      await this.transport!.sendMail({
        from: m.from,
        to,
        subject: subjectOf(e),
        text: textOf(e),
        ...(e.key ? { messageId: messageIdOf(e.key) } : {}),
        headers: { 'X-Upperstack-Alert': e.id, ...(e.key ? { 'X-Upperstack-Key': keyHeader(e.key) } : {}) },
      });
      this.opts.onSent?.('email', e);
    } catch (err) {
      this.opts.onError?.('email', err as Error, e);
      throw err;
    }
  }

  private async webhook(e: AlertEvent): Promise<void> {
    const w = this.opts.webhook!;
    const attempts = w.attempts ?? 5;
    let delay = w.retryMs ?? 1000;
    let last: Error | undefined;
    for (let i = 0; i < attempts && !this.closed; i++) {
      try {
        const res = await fetch(w.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(w.token ? { authorization: `Bearer ${w.token}` } : {}),
            'x-upperstack-attempt': String(i + 1),
            ...(e.key ? { 'idempotency-key': keyHeader(e.key) } : {}),
          },
          body: JSON.stringify(e),
          signal: AbortSignal.timeout(w.timeoutMs ?? 10_000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) {
          this.opts.onSent?.('webhook', e);
          return;
        }
        last = new Error(`webhook ${w.url} answered ${res.status}`);
        // A 4xx other than 408/429 will not get better by retrying.
        if (res.status < 500 && res.status !== 408 && res.status !== 429) break;
      } catch (err) {
        last = err as Error;
      }
      if (i + 1 < attempts) {
        await sleep(delay);
        delay *= 2;
      }
    }
    this.opts.onError?.('webhook', last ?? new Error('webhook not sent'), e);
  }

  private async mqtt(e: AlertEvent): Promise<void> {
    const q = this.opts.mqtt!;
    try {
      await q.publish(topicOf(q.topic, e), JSON.stringify(e));
      this.opts.onSent?.('mqtt', e);
    } catch (err) {
      this.opts.onError?.('mqtt', err as Error, e);
    }
  }

  /** Waits (up to ms) for queued notifications, then closes the SMTP pool. */
  async close(ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end && Object.values(this.queues).some((q) => q && !q.idle())) await sleep(50);
    this.closed = true;
    this.transport?.close();
  }
}
