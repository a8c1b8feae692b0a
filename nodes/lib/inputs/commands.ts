/**
 * Downlink commands: the latest command for each device, which CoAP clients
 * observe (`GET /commands/{device}` with Observe) and the command node sets.
 * One board per process, so the command node and the CoAP input meet without
 * wires; commands live in memory (a device that was offline gets the latest one
 * when it next asks).
 */
import { randomBytes } from 'node:crypto';
import { BadDeviceIdError, ConfigError, InvalidReadingError } from '../errors';
import { deviceIdProblem } from '../devices/record';

export interface Command {
  device: string;
  payload: Buffer;
  /** Media type: application/json for objects, text/plain for text, application/octet-stream for bytes. */
  contentType: string;
  /** Counts up per device, for Observe sequence numbers. */
  seq: number;
  /** Epoch ms it was set. */
  at: number;
  /**
   * The command's identity as a CoAP ETag (RFC 7252 §5.10.6), the same on every notification of it and different for
   * every command set, even one with the same payload: a device tells a repeat of a command it executed from a new one.
   */
  etag: string;
}

/** Larger commands are refused: an observe notification should fit a few datagrams. */
export const MAX_COMMAND_BYTES = 64 * 1024;
const MAX_DEVICES = 100_000;

// ETags are ASCII, so that one read back from a request (the CoAP library decodes it as UTF-8 text) is exactly the
// bytes sent; 64 digits keep them short: a prefix of PREFIX_DIGITS random digits, then the count of commands set.
const ETAG_DIGITS = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_';
const PREFIX_DIGITS = 3;
/** At most 8 bytes in all (RFC 7252 §5.10.6): up to 5 digits of count; past that, a new prefix. */
const COUNT_LIMIT = 64 ** 5;

/**
 * ETags of commands: a count kept across every device (a device forgotten and set again does not start over) under a
 * random prefix per process, so a restarted process, counting from 1 again, does not give a device the ETag of a
 * command it had before (one chance in 262,144 of the same prefix).
 */
export class CommandEtags {
  private prefix = '';
  private count = COUNT_LIMIT;

  next(): string {
    if (++this.count >= COUNT_LIMIT) {
      // Not the prefix the count ran out under, whose ETags were all given.
      const spent = this.prefix;
      do this.prefix = digits(randomBytes(PREFIX_DIGITS));
      while (this.prefix === spent);
      this.count = 1;
    }
    let n = this.count;
    let tail = '';
    while (n > 0) {
      tail = ETAG_DIGITS[n % 64] + tail;
      n = Math.floor(n / 64);
    }
    return this.prefix + tail;
  }
}

function digits(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += ETAG_DIGITS[b % 64];
  return s;
}

/**
 * Whether a request's ETag options (RFC 7252 §5.10.6.2, as bytes or as the library's text of them) name `etag`.
 * Text is compared as is: `etag` is ASCII, and bytes that are not decode to other characters.
 */
export function etagMatches(requested: ReadonlyArray<unknown>, etag: string): boolean {
  for (const v of requested) {
    if (typeof v === 'string' ? v === etag : Buffer.isBuffer(v) && v.equals(Buffer.from(etag, 'latin1'))) return true;
  }
  return false;
}

type Listener = (c: Command) => void;
type Watcher = (device: string, observers: number) => void;

export class CommandBoard {
  private readonly latest = new Map<string, Command>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly watchers = new Set<Watcher>();
  private readonly etags = new CommandEtags();

  /**
   * Sets the device's command and tells its observers. A device outside the id rule is refused: no
   * device can observe or subscribe under such a name, so the command could never arrive.
   */
  set(device: string, value: unknown, now = Date.now()): Command {
    checkCommandDevice(device);
    const { payload, contentType } = commandBytes(value);
    const prev = this.latest.get(device);
    const c: Command = { device, payload, contentType, seq: (prev?.seq ?? 0) + 1, at: now, etag: this.etags.next() };
    this.latest.delete(device);
    this.latest.set(device, c);
    // Oldest devices go first when too many are remembered.
    if (this.latest.size > MAX_DEVICES) this.latest.delete(this.latest.keys().next().value as string);
    for (const l of this.listeners.get(device) ?? []) {
      // An observer that cannot be told any more (its socket is gone) is dropped; the command and the
      // other observers do not fail for it.
      try {
        l(c);
      } catch {
        if (this.listeners.get(device)?.delete(l)) this.changed(device);
      }
    }
    if (this.listeners.get(device)?.size === 0) this.listeners.delete(device);
    return c;
  }

  get(device: string): Command | undefined {
    return this.latest.get(device);
  }

  /** Calls back for every later command of the device; returns the unsubscribe function. */
  observe(device: string, listener: Listener): () => void {
    let set = this.listeners.get(device);
    if (!set) this.listeners.set(device, (set = new Set()));
    set.add(listener);
    this.changed(device);
    return () => {
      const s = this.listeners.get(device);
      if (!s?.delete(listener)) return;
      if (s.size === 0) this.listeners.delete(device);
      this.changed(device);
    };
  }

  /**
   * Calls back whenever a device gains or loses an observer, which may be long after its last command (an
   * observer that went away is dropped once a confirmable notification goes unanswered); returns the unwatch function.
   */
  watchObservers(watcher: Watcher): () => void {
    this.watchers.add(watcher);
    return () => {
      this.watchers.delete(watcher);
    };
  }

  private changed(device: string): void {
    const count = this.observers(device);
    for (const w of this.watchers) w(device, count);
  }

  observers(device: string): number {
    return this.listeners.get(device)?.size ?? 0;
  }
}

/** Throws unless `device` can receive a command: present, and an id by the rule (BAD_DEVICE_ID). */
export function checkCommandDevice(device: unknown): asserts device is string {
  if (typeof device !== 'string' || device === '') throw new InvalidReadingError('a command needs a device: set msg.device (or msg.topic devices/{device}/commands)', { path: 'device' });
  const problem = deviceIdProblem(device);
  if (problem) throw new BadDeviceIdError(problem, { path: 'device' });
}

/** The bytes and media type of a command value. */
export function commandBytes(value: unknown): { payload: Buffer; contentType: string } {
  let payload: Buffer;
  let contentType: string;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    payload = Buffer.from(value);
    contentType = 'application/octet-stream';
  } else if (typeof value === 'string') {
    payload = Buffer.from(value, 'utf8');
    contentType = 'text/plain';
  } else if (value === undefined || value === null) {
    // Not the text "null", nor an empty command: a CoAP observer could not tell that from "no command yet".
    throw new InvalidReadingError(`a command needs a payload: msg.payload is ${String(value)} (send "" for an empty command)`, { path: 'payload' });
  } else {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      throw new InvalidReadingError(`the command cannot be written as JSON: ${err instanceof Error ? err.message : String(err)}`, { path: 'payload' });
    }
    // A function or a symbol has no JSON: it would go out as the text "null".
    if (text === undefined) throw new InvalidReadingError(`the command cannot be written as JSON: msg.payload is a ${typeof value}`, { path: 'payload' });
    payload = Buffer.from(text, 'utf8');
    contentType = 'application/json';
  }
  if (payload.length > MAX_COMMAND_BYTES) throw new InvalidReadingError(`a command of ${payload.length} bytes is larger than ${MAX_COMMAND_BYTES}`, { path: 'payload' });
  return { payload, contentType };
}

/** The board of this process. */
export const commandBoard = new CommandBoard();

/**
 * Throws CONFIG_INVALID unless `template` is a topic for each device: with `{device}` and no wildcards. The editor
 * checks the same, but a flow imported or written by hand is not checked there, and without `{device}` every
 * device's command would go to one topic.
 */
export function checkCommandTopic(template: string): void {
  if (!template.includes('{device}')) throw new ConfigError(`the MQTT topic "${template.slice(0, 80)}" has no {device}: every device's command would go to that one topic; use e.g. devices/{device}/commands, or leave it empty for no MQTT`, { path: 'topic' });
  if (/[+#]/.test(template)) throw new ConfigError(`the MQTT topic "${template.slice(0, 80)}" has a wildcard (+ or #): a command is published to one topic; use e.g. devices/{device}/commands`, { path: 'topic' });
}

/** `devices/{device}/commands` with the device filled in (a device with / + # cannot be one topic level). */
export function commandTopic(template: string, device: string): string {
  if (/[/+#\u0000]/.test(device)) throw new InvalidReadingError(`device "${device.slice(0, 40)}" cannot be one MQTT topic level (it contains /, + or #)`, { path: 'device' });
  return template.replace('{device}', device);
}

/** The device of msg.device, or of a topic like devices/{device}/commands; INVALID_READING for a msg.device that is not text. */
export function commandDevice(msg: { device?: unknown; topic?: unknown }, template: string): string | undefined {
  if (typeof msg.device === 'string' && msg.device) return msg.device;
  // A number from a function node (`msg.device = 42`) would otherwise be told "a command needs a device".
  if (msg.device !== undefined && msg.device !== null && msg.device !== '') {
    const kind = Array.isArray(msg.device) ? 'an array' : typeof msg.device === 'object' ? 'an object' : `a ${typeof msg.device}`;
    const hint = typeof msg.device === 'number' || typeof msg.device === 'bigint' ? `: send "${String(msg.device)}"` : '';
    throw new InvalidReadingError(`msg.device must be the device id as text, not ${kind}${hint}`, { path: 'device' });
  }
  if (typeof msg.topic !== 'string') return undefined;
  const [pre, post] = template.split('{device}');
  if (post === undefined || !msg.topic.startsWith(pre) || !msg.topic.endsWith(post)) return undefined;
  const d = msg.topic.slice(pre.length, msg.topic.length - post.length);
  return d && !d.includes('/') ? d : undefined;
}
