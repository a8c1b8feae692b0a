/**
 * Missing heartbeat. A silent device sends no message that could trigger a
 * check, so the verdict comes from a timer: the node owns a HeartbeatTimer
 * that calls checkHeartbeats(now) on the engine.
 */
import { durationWords } from './format';

export interface HeartbeatOptions {
  /** Expected time between a device's readings; learned from its timestamps when absent. */
  interval?: string | number;
  /** A device is offline once this many intervals pass with no data. */
  missed?: number;
}

export interface HeartbeatEvent {
  device: string;
  status: 'offline' | 'online';
  /** When the device was last heard of (arrival time, epoch ms). */
  lastSeen: number;
  /** How long it has been (offline) or had been (online) silent, ms. */
  silentFor: number;
  /** The interval the decision was based on, ms. */
  expectedEvery: number;
  reason: string;
}

/** How often a device reports, from the last few gaps between its timestamps. */
export class Cadence {
  private readonly gaps: number[];
  private next: number;

  constructor(saved?: number[]) {
    this.gaps = saved ? saved.slice(-16) : [];
    this.next = this.gaps.length % 16;
  }

  add(gap: number): void {
    if (!(gap > 0)) return;
    if (this.gaps.length < 16) this.gaps.push(gap);
    else this.gaps[this.next] = gap;
    this.next = (this.next + 1) % 16;
  }

  /** The median gap; undefined until three gaps were seen, as one gap says little. */
  typical(): number | undefined {
    if (this.gaps.length < 3) return undefined;
    const s = [...this.gaps].sort((a, b) => a - b);
    return s[s.length >> 1];
  }

  toJSON(): number[] {
    // Oldest first, so a restored cadence overwrites in the same order.
    return [...this.gaps.slice(this.next), ...this.gaps.slice(0, this.next)];
  }
}

export function offlineEvent(device: string, lastSeen: number, now: number, every: number): HeartbeatEvent {
  const silentFor = now - lastSeen;
  return {
    device,
    status: 'offline',
    lastSeen,
    silentFor,
    expectedEvery: every,
    reason: `device ${device} has sent nothing for ${durationWords(silentFor)}; it usually reports every ${durationWords(every)}`,
  };
}

export function onlineEvent(device: string, lastSeen: number, now: number, every: number): HeartbeatEvent {
  const silentFor = now - lastSeen;
  return {
    device,
    status: 'online',
    lastSeen,
    silentFor,
    expectedEvery: every,
    reason: `device ${device} is sending again after ${durationWords(silentFor)} of silence`,
  };
}

export interface HeartbeatTarget {
  checkHeartbeats(now?: number): HeartbeatEvent[];
}

/**
 * Calls checkHeartbeats every `everyMs` and hands newly offline devices to
 * onEvents. The timer is unref'd: it never keeps a process alive on its own.
 */
export class HeartbeatTimer {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly target: HeartbeatTarget,
    private readonly onEvents: (events: HeartbeatEvent[]) => void,
    private readonly everyMs = 1000,
  ) {}

  start(): this {
    if (!this.timer) {
      this.timer = setInterval(() => {
        const events = this.target.checkHeartbeats();
        if (events.length) this.onEvents(events);
      }, this.everyMs);
      this.timer.unref?.();
    }
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get running(): boolean {
    return this.timer !== null;
  }
}
