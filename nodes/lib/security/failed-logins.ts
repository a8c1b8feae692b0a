/**
 * Failed logins per source address: an address over its budget (failures per
 * minute) is refused for a minute before any credential is checked.
 *
 * HTTP and CoAP authenticate every request, so the limiter (whose answers are
 * promises) is asked only about addresses that failed lately. Which ones did is
 * kept in an LRU of bounded size: a password attack spread over many addresses
 * costs O(1) per failure and bounded memory. When it evicts an address that
 * failed lately, every address is asked about for the next two minutes, so an
 * address over its budget is still refused.
 */
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory } from './rate-limiter';

/** The limiter forgets an address a minute after its last failure, two if that blocked it. */
const REMEMBER_MS = 120_000;

export interface FailedLoginsOptions {
  /** Failed logins one address may make per minute before it is refused for a minute. */
  perMinute: number;
  /** Addresses kept as having failed lately (default 10,000). */
  capacity?: number;
}

export class FailedLogins {
  private readonly limiter: RateLimiterMemory;
  private readonly perMinute: number;
  private readonly recent: LRUCache<string, number>;
  /** Until then an address is looked up even when `recent` does not hold it (it evicted one that failed lately). */
  private askAllUntil = 0;

  constructor(opts: FailedLoginsOptions) {
    this.perMinute = opts.perMinute;
    this.limiter = new RateLimiterMemory({ keyPrefix: 'auth-fail', points: opts.perMinute, duration: 60, blockDuration: 60 });
    this.recent = new LRUCache<string, number>({
      max: opts.capacity ?? 10_000,
      ttl: REMEMBER_MS,
      dispose: (at, _remote, reason) => {
        if (reason === 'evict' && Date.now() - at < REMEMBER_MS) this.askAllUntil = Date.now() + REMEMBER_MS;
      },
    });
  }

  /** Addresses kept as having failed lately. */
  get tracked(): number {
    return this.recent.size;
  }

  /** Whether `remote` may be over its budget (then ask blockedFor); false: it may log in without the question. */
  suspect(remote: string): boolean {
    return this.recent.has(remote) || Date.now() < this.askAllUntil;
  }

  /** How long `remote` is refused for (ms, at least 1 s), or undefined when it may try. */
  async blockedFor(remote: string): Promise<number | undefined> {
    const state = await this.limiter.get(remote).catch(() => null);
    if (!state) {
      this.recent.delete(remote);
      return undefined;
    }
    // The budget's last failure blocks: with 20 a minute, the 21st try is refused.
    return state.consumedPoints >= this.perMinute ? Math.max(1000, state.msBeforeNext) : undefined;
  }

  /** Counts a failed login from `remote`. */
  async failed(remote: string): Promise<void> {
    this.recent.set(remote, Date.now());
    await this.limiter.penalty(remote, 1).catch(() => undefined);
  }
}
