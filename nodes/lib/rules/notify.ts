/**
 * Built-in notifications for alert transitions: e-mail over SMTP (nodemailer),
 * a webhook (JSON POST, retried with backoff), MQTT (a topic on the embedded
 * broker or another broker). Sending never blocks the engine: each channel works
 * through a bounded queue (on disk where the node has a data folder:
 * notify-outbox.ts), and failures are reported to a callback, not thrown.
 */
import { createHash } from 'node:crypto';
import type { Transporter } from 'nodemailer';
import type { AlertEvent } from './types';
import { timeText } from './template';
import type { Channel, NotifyQueue, Outcome } from './notify-outbox';

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
  /** A channel that failed reached its receiver again. */
  onRecovered?: (channel: Channel) => void;
  /** Without `queue`: most notifications waiting per channel in memory; past it the oldest are dropped (and reported). */
  maxQueue?: number;
  /**
   * Where the channels' work waits: a NotifyOutbox (notify-outbox.ts) keeps it on disk, so what was not
   * sent survives a restart or kill -9 and a receiver that is down gets it later; default: in memory.
   */
  queue?: NotifyQueue;
  /** With a durable queue: the pause before a transition that could not be sent is tried again (default 5 s), doubling up to maxResendMs (5 min). */
  resendMs?: number;
  maxResendMs?: number;
}

/** A pause that ends early when `signal` aborts (the notifier closes). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function subjectOf(e: AlertEvent): string {
  const what = e.event === 'firing' ? e.severity.toUpperCase() : e.event.toUpperCase();
  return `[${what}] ${e.ruleName}: ${e.device}`;
}

export function textOf(e: AlertEvent): string {
  // The reader compares these times with the message's {since}, which is on the rule's clock: one clock for all.
  const tz = e.timezone ?? 'UTC';
  const lines = [
    e.message,
    '',
    `${e.event} (${e.previous} → ${e.state}), severity ${e.severity}`,
    `why: ${e.reason}`,
    `device: ${e.device}`,
    `rule: ${e.ruleName} (${e.rule})`,
    `at: ${timeText(e.ts, tz)}; since ${timeText(e.since, tz)}; occurrence ${e.occurrences}`,
  ];
  if (e.by) lines.push(`by: ${e.by}${e.note ? ` (${e.note})` : ''}`);
  return lines.join('\n');
}

export function topicOf(template: string, e: AlertEvent): string {
  const level = (s: string) => s.replace(/[+#/\u0000]/g, '_') || 'unknown';
  return template.replace(/\{(device|rule|severity|event)\}/g, (_, k: 'device' | 'rule' | 'severity' | 'event') => level(String(e[k])));
}

/** The Notifier's queue without a data folder: in memory, bounded, a failed send is dropped (reported). */
export class MemoryQueue implements NotifyQueue {
  readonly keeps = false;
  private readonly items: Record<Channel, AlertEvent[]> = { email: [], webhook: [], mqtt: [] };

  constructor(
    private readonly max: number,
    private readonly dropped: (channel: Channel, e: AlertEvent) => void,
  ) {}

  add(items: ReadonlyArray<{ channel: Channel; event: AlertEvent }>): void {
    for (const { channel, event } of items) {
      const list = this.items[channel];
      list.push(event);
      if (list.length > this.max) this.dropped(channel, list.shift()!);
    }
  }

  next(channel: Channel): AlertEvent | undefined {
    return this.items[channel][0];
  }

  settle(channel: Channel, event: AlertEvent): void {
    const list = this.items[channel];
    const i = list.indexOf(event);
    if (i >= 0) list.splice(i, 1);
  }
}

export class Notifier {
  private transport: Transporter | undefined;
  private readonly channels: Channel[] = [];
  private readonly running = new Set<Channel>();
  private readonly inFlight = new Set<Channel>();
  private readonly queue: NotifyQueue;
  /** Aborts the sends in flight and the pauses between retries when the node closes. */
  private readonly stop = new AbortController();
  private closed = false;

  constructor(private readonly opts: NotifierOptions) {
    const max = opts.maxQueue ?? 1000;
    this.queue = opts.queue ?? new MemoryQueue(max, (ch, e) => opts.onError?.(ch, new Error(`more than ${max} ${ch} notifications waiting; dropped the oldest`), e));
    if (opts.email) {
      const m = opts.email;
      // Loaded only where email is configured: nodemailer is ~2 MB of heap a runtime without it does not need.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { createTransport } = require('nodemailer') as typeof import('nodemailer');
      this.transport = createTransport({
        host: m.host,
        port: m.port,
        secure: m.secure,
        ...(m.user ? { auth: { user: m.user, pass: m.password ?? '' } } : {}),
        connectionTimeout: 10_000,
        greetingTimeout: 10_000,
        socketTimeout: 20_000,
      });
      this.channels.push('email');
    }
    if (opts.webhook) this.channels.push('webhook');
    if (opts.mqtt) this.channels.push('mqtt');
    // What a previous run left in a durable queue goes out first.
    for (const ch of this.channels) this.kick(ch);
  }

  /**
   * Queues transitions on every channel their rules want (all configured ones when a rule says nothing).
   * With a durable queue they are on disk when this returns; the sends start after the caller's turn.
   */
  send(events: AlertEvent | readonly AlertEvent[]): void {
    if (this.closed) return;
    const items: Array<{ channel: Channel; event: AlertEvent }> = [];
    for (const e of Array.isArray(events) ? (events as readonly AlertEvent[]) : [events as AlertEvent]) {
      if (!e.notify) continue;
      for (const ch of this.channels) if (e.notifyChannels?.[ch] !== false) items.push({ channel: ch, event: e });
    }
    if (!items.length) return;
    this.queue.add(items);
    for (const ch of new Set(items.map((i) => i.channel))) this.kick(ch);
  }

  private kick(ch: Channel): void {
    if (this.running.has(ch) || this.closed) return;
    this.running.add(ch);
    // On the next turn: the caller's own synchronous work (e.g. its state log) comes before any send.
    setImmediate(() => void this.drain(ch).finally(() => this.running.delete(ch)));
  }

  /**
   * Sends the channel's transitions oldest first. A receiver that cannot be reached holds the channel:
   * with a durable queue the same transition is tried again after a pause that doubles up to maxResendMs.
   */
  private async drain(ch: Channel): Promise<void> {
    const first = this.opts.resendMs ?? 5000;
    let pause = first;
    let failing = false;
    for (let e = this.queue.next(ch); e && !this.closed; e = this.queue.next(ch)) {
      this.inFlight.add(ch);
      const outcome = await this.sendOne(ch, e, !failing).finally(() => this.inFlight.delete(ch));
      if (this.closed) return;
      if (outcome !== 'failed' || !this.queue.keeps) {
        this.queue.settle(ch, e);
        if (outcome === 'sent') this.opts.onSent?.(ch, e);
        if (failing && outcome === 'sent') this.opts.onRecovered?.(ch);
        failing = false;
        pause = first;
        continue;
      }
      failing = true;
      await sleep(pause, this.stop.signal);
      pause = Math.min(pause * 2, this.opts.maxResendMs ?? 300_000);
    }
  }

  /** One send; `report` = tell onError about a failure (the first of a run of failures only). */
  private async sendOne(ch: Channel, e: AlertEvent, report: boolean): Promise<Outcome> {
    let refused: Error | undefined;
    try {
      refused = ch === 'email' ? await this.email(e) : ch === 'webhook' ? await this.webhook(e) : await this.mqtt(e);
      if (!refused) return 'sent';
    } catch (err) {
      if (this.closed) return 'failed';
      if (!this.queue.keeps) this.opts.onError?.(ch, err as Error, e);
      else if (report) this.opts.onError?.(ch, new Error(`${(err as Error).message}; kept, tried again later with the same key`), e);
      return 'failed';
    }
    this.opts.onError?.(ch, refused, e);
    return 'refused';
  }

  /** Sends; resolves with an error when the receiver refused it for good, rejects when it was not reached. */
  private async email(e: AlertEvent): Promise<Error | undefined> {
    const m = this.opts.email!;
    const to = Array.isArray(e.notifyChannels?.email) ? e.notifyChannels.email : m.to;
    if (!to.length) return undefined;
    try {
      await this.transport!.sendMail({
        from: m.from,
        to,
        subject: subjectOf(e),
        text: textOf(e),
        ...(e.key ? { messageId: messageIdOf(e.key) } : {}),
        headers: { 'X-Upperstack-Alert': e.id, ...(e.key ? { 'X-Upperstack-Key': keyHeader(e.key) } : {}) },
      });
      return undefined;
    } catch (err) {
      // A 5xx SMTP reply (no such mailbox, message refused) will not get better by sending again.
      const code = (err as { responseCode?: number }).responseCode;
      if (typeof code === 'number' && code >= 500) return err as Error;
      throw err;
    }
  }

  private async webhook(e: AlertEvent): Promise<Error | undefined> {
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
          signal: AbortSignal.any([this.stop.signal, AbortSignal.timeout(w.timeoutMs ?? 10_000)]),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) return undefined;
        last = new Error(`webhook ${w.url} answered ${res.status}`);
        // A 4xx other than 408/429 will not get better by retrying.
        if (res.status < 500 && res.status !== 408 && res.status !== 429) return last;
      } catch (err) {
        last = err as Error;
      }
      if (i + 1 < attempts) {
        await sleep(delay, this.stop.signal);
        delay *= 2;
      }
    }
    throw last ?? new Error('webhook not sent');
  }

  private async mqtt(e: AlertEvent): Promise<Error | undefined> {
    const q = this.opts.mqtt!;
    await q.publish(topicOf(q.topic, e), JSON.stringify(e));
    return undefined;
  }

  /**
   * Waits (up to ms) for the queued notifications, then stops. A durable queue keeps what is not sent for
   * the next start, so then only the sends under way are waited for, not the pauses of a receiver that is down.
   */
  async close(ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    const busy = (ch: Channel) => (this.queue.keeps ? this.inFlight.has(ch) : this.running.has(ch) && this.queue.next(ch) !== undefined);
    while (Date.now() < end && this.channels.some(busy)) await sleep(50);
    this.closed = true;
    this.stop.abort();
    this.transport?.close();
  }
}
