/**
 * Downlink commands: the latest command for each device, which CoAP clients
 * observe (`GET /commands/{device}` with Observe) and the command node sets.
 * One board per process, so the command node and the CoAP input meet without
 * wires; commands live in memory (a device that was offline gets the latest one
 * when it next asks).
 */
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
}

/** Larger commands are refused: an observe notification should fit a few datagrams. */
export const MAX_COMMAND_BYTES = 64 * 1024;
const MAX_DEVICES = 100_000;

type Listener = (c: Command) => void;
type Watcher = (device: string, observers: number) => void;

export class CommandBoard {
  private readonly latest = new Map<string, Command>();
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly watchers = new Set<Watcher>();

  /**
   * Sets the device's command and tells its observers. A device outside the id rule is refused: no
   * device can observe or subscribe under such a name, so the command could never arrive.
   */
  set(device: string, value: unknown, now = Date.now()): Command {
    checkCommandDevice(device);
    const { payload, contentType } = commandBytes(value);
    const prev = this.latest.get(device);
    const c: Command = { device, payload, contentType, seq: (prev?.seq ?? 0) + 1, at: now };
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
