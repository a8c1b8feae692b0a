/**
 * Notifications still to send, on disk (<data>/alerts/outbox/): a transition
 * is appended here for each channel it goes to, and fsync'd, before its send
 * starts; a line marks it done once the receiver accepted it (or refused it
 * for good). A restart, a redeploy or kill -9 during a send leaves it here, and
 * the next start sends it again with the same idempotency key: at least once,
 * with a key (README, "Alerts").
 *
 * Bounded: at most `maxItems` transitions and `maxBytes` of them wait; past
 * either the oldest are dropped, each reported with its reason and counted
 * (a receiver down for days must not fill the disk or the heap). The file is
 * rewritten with only what waits once the done lines outweigh it.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AlertEvent } from './types';
import { writeFileAtomic } from '../fs-atomic';

export type Channel = 'email' | 'webhook' | 'mqtt';

/** What a channel's sender reports back: accepted, refused for good (4xx), or not reached (retry later). */
export type Outcome = 'sent' | 'refused' | 'failed';

/** Where a Notifier takes its channels' work from: this file, or a queue in memory. */
export interface NotifyQueue {
  /** Takes the transitions for the channels; durable when this returns, where the queue is. */
  add(items: ReadonlyArray<{ channel: Channel; event: AlertEvent }>): void;
  /** The oldest transition waiting for the channel (stays until settled). */
  next(channel: Channel): AlertEvent | undefined;
  /** The channel is done with the transition: sent, refused, or given up on. */
  settle(channel: Channel, event: AlertEvent): void;
  /** Whether a failed send stays for a later retry (true) or is dropped (false). */
  readonly keeps: boolean;
}

export interface OutboxLimits {
  /** Most transitions waiting over all channels (default 10,000). */
  maxItems?: number;
  /** Most bytes of waiting transitions (default 16 MiB); the file stays under about twice that. */
  maxBytes?: number;
}

type Line = { a: [Channel, AlertEvent] } | { d: [Channel, string] };

interface Entry {
  channel: Channel;
  event: AlertEvent;
  bytes: number;
}

const CHANNELS: readonly Channel[] = ['email', 'webhook', 'mqtt'];
/** Below this the file is not rewritten, whatever the share of done lines. */
const COMPACT_FLOOR = 1024 * 1024;

function idOf(channel: Channel, e: AlertEvent): string {
  // The engine gives every transition a key; an id with the time keeps an event without one apart.
  return `${channel}\u0000${e.key ?? `${e.id}@${e.ts}:${e.event}`}`;
}

export class NotifyOutbox implements NotifyQueue {
  readonly keeps = true;
  readonly file: string;
  private fd: number | undefined;
  /** Oldest first (a Map keeps insertion order), over all channels and per channel. */
  private readonly waiting = new Map<string, Entry>();
  private readonly perChannel: Record<Channel, Map<string, Entry>> = { email: new Map(), webhook: new Map(), mqtt: new Map() };
  private waitingBytes = 0;
  private fileBytes = 0;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  /** Transitions dropped since the start because the outbox was full. */
  dropped = 0;

  /**
   * Opens (and creates) the outbox in `dir`; what a previous run left unsent is waiting again.
   * `onDrop` hears of every transition dropped to keep within the limits.
   */
  constructor(
    dir: string,
    limits: OutboxLimits = {},
    private readonly onDrop: (channel: Channel, e: AlertEvent, reason: string) => void = () => undefined,
  ) {
    this.maxItems = Math.max(1, limits.maxItems ?? 10_000);
    this.maxBytes = Math.max(1024, limits.maxBytes ?? 16 * 1024 * 1024);
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'notifications.jsonl');
    this.load();
    this.rewrite();
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Transitions waiting, per channel. */
  counts(): Record<Channel, number> {
    return { email: this.perChannel.email.size, webhook: this.perChannel.webhook.size, mqtt: this.perChannel.mqtt.size };
  }

  private load(): void {
    if (!existsSync(this.file)) return;
    for (const text of readFileSync(this.file, 'utf8').split('\n')) {
      if (!text) continue;
      let line: Line;
      try {
        line = JSON.parse(text) as Line;
      } catch {
        continue; // a torn last line: the process died mid-write, before that send started
      }
      if ('a' in line && Array.isArray(line.a) && CHANNELS.includes(line.a[0]) && line.a[1] && typeof line.a[1] === 'object') {
        this.put(line.a[0], line.a[1], text.length + 1);
      } else if ('d' in line && Array.isArray(line.d)) {
        this.remove(`${line.d[0]}\u0000${line.d[1]}`);
      }
    }
  }

  private put(channel: Channel, event: AlertEvent, bytes: number): void {
    const id = idOf(channel, event);
    this.remove(id);
    const entry = { channel, event, bytes };
    this.waiting.set(id, entry);
    this.perChannel[channel].set(id, entry);
    this.waitingBytes += bytes;
  }

  private remove(id: string): Entry | undefined {
    const e = this.waiting.get(id);
    if (e) {
      this.waiting.delete(id);
      this.perChannel[e.channel].delete(id);
      this.waitingBytes -= e.bytes;
    }
    return e;
  }

  /** Starts a new file with only what waits (atomic, fsync'd). */
  private rewrite(): void {
    const text = [...this.waiting.values()].map((e) => `${JSON.stringify({ a: [e.channel, e.event] })}\n`).join('');
    if (this.fd !== undefined) closeSync(this.fd);
    writeFileAtomic(this.file, text);
    this.fd = openSync(this.file, 'a', 0o600);
    this.fileBytes = text.length;
  }

  private write(text: string, sync: boolean): void {
    if (this.fd === undefined) throw new Error('the notification outbox is closed');
    writeSync(this.fd, text);
    if (sync) fsyncSync(this.fd);
    this.fileBytes += text.length;
  }

  add(items: ReadonlyArray<{ channel: Channel; event: AlertEvent }>): void {
    if (!items.length) return;
    const lines: string[] = [];
    for (const { channel, event } of items) {
      const text = JSON.stringify({ a: [channel, event] } satisfies Line);
      lines.push(text);
      this.put(channel, event, text.length + 1);
    }
    const gone: string[] = [];
    while (this.waiting.size > this.maxItems || (this.waitingBytes > this.maxBytes && this.waiting.size > 1)) {
      const why = this.waiting.size > this.maxItems ? `more than ${this.maxItems} notifications waiting` : `more than ${this.maxBytes} bytes of notifications waiting`;
      const [id, oldest] = this.waiting.entries().next().value as [string, Entry];
      this.remove(id);
      this.dropped++;
      gone.push(JSON.stringify({ d: [oldest.channel, id.slice(id.indexOf('\u0000') + 1)] } satisfies Line));
      this.onDrop(oldest.channel, oldest.event, `${why}: dropped the oldest (${this.dropped} dropped since the start)`);
    }
    this.write(`${[...lines, ...gone].join('\n')}\n`, true);
    this.compactIfDue();
  }

  next(channel: Channel): AlertEvent | undefined {
    return (this.perChannel[channel].values().next().value as Entry | undefined)?.event;
  }

  settle(channel: Channel, event: AlertEvent): void {
    const id = idOf(channel, event);
    // Not the one waiting (dropped meanwhile, or replaced by a repeat of the same key): nothing to mark.
    if (this.waiting.get(id)?.event !== event) return;
    this.remove(id);
    // Not fsync'd: a done line lost to a power cut means one more send with the same key.
    if (this.fd !== undefined) this.write(`${JSON.stringify({ d: [channel, id.slice(id.indexOf('\u0000') + 1)] } satisfies Line)}\n`, false);
    this.compactIfDue();
  }

  /** Drops what waits for a channel that is no longer configured; how many. */
  discard(channel: Channel): number {
    const ids = [...this.perChannel[channel].keys()];
    if (!ids.length) return 0;
    for (const id of ids) this.remove(id);
    this.write(`${ids.map((id) => JSON.stringify({ d: [channel, id.slice(id.indexOf('\u0000') + 1)] } satisfies Line)).join('\n')}\n`, true);
    this.compactIfDue();
    return ids.length;
  }

  private compactIfDue(): void {
    if (this.fd !== undefined && this.fileBytes > COMPACT_FLOOR && this.fileBytes > 2 * this.waitingBytes) this.rewrite();
  }

  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
  }
}
