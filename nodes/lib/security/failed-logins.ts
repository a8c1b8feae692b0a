/**
 * Failed logins per source address and login name: a name over its budget
 * (failures per minute) is refused from that address for a minute before any
 * credential is checked, and so is the whole address once all its names
 * together are over a larger budget.
 *
 * Devices behind one NAT, cellular gateway or proxy share an address: a device
 * retrying a stale secret must block only its own login there, not its
 * neighbours'. The address-wide budget keeps guessing many names from one
 * address as slow as it was.
 *
 * HTTP and CoAP authenticate every request, so the limiters (whose answers are
 * promises) are asked only about addresses that failed lately. Which ones did is
 * kept in an LRU of bounded size: a password attack spread over many addresses
 * costs O(1) per failure and bounded memory. When it evicts an address that
 * failed lately, every address is asked about for the next two minutes, so an
 * address or a name over its budget is still refused.
 */
import { LRUCache } from 'lru-cache';
import { RateLimiterMemory } from './rate-limiter';

/** The limiter forgets an address a minute after its last failure, two if that blocked it. */
const REMEMBER_MS = 120_000;
/** The address-wide budget when none is given: so many names' budgets. */
const NAMES_PER_ADDRESS = 5;
/** Longer names share the budget of their first characters, so one key never holds a megabyte. */
const NAME_KEPT = 256;

export interface FailedLoginsOptions {
  /** Failed logins one name may make from one address per minute before it is refused there for a minute. */
  perMinute: number;
  /** Failed logins of all names from one address per minute before the address is refused (default 5 × perMinute). */
  perAddress?: number;
  /** Addresses kept as having failed lately (default 10,000). */
  capacity?: number;
}

/** A refusal for a while: of the name from that address, or of the address whoever logs in. */
export interface Blocked {
  ms: number;
  scope: 'name' | 'address';
}

export class FailedLogins {
  private readonly byName: RateLimiterMemory;
  private readonly byAddress: RateLimiterMemory;
  private readonly perMinute: number;
  private readonly perAddress: number;
  private readonly recent: LRUCache<string, number>;
  /** Until then an address is looked up even when `recent` does not hold it (it evicted one that failed lately). */
  private askAllUntil = 0;

  constructor(opts: FailedLoginsOptions) {
    this.perMinute = opts.perMinute;
    this.perAddress = opts.perAddress ?? NAMES_PER_ADDRESS * opts.perMinute;
    this.byName = new RateLimiterMemory({ keyPrefix: 'auth-fail-name', points: this.perMinute, duration: 60, blockDuration: 60 });
    this.byAddress = new RateLimiterMemory({ keyPrefix: 'auth-fail', points: this.perAddress, duration: 60, blockDuration: 60 });
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

  /** Whether `remote` may be over a budget (then ask blockedFor); false: it may log in without the question. */
  suspect(remote: string): boolean {
    return this.recent.has(remote) || Date.now() < this.askAllUntil;
  }

  /** Whether `name` (the login presented, '' for none) may not try from `remote` now, and for how long (at least 1 s). */
  async blockedFor(remote: string, name: string): Promise<Blocked | undefined> {
    const [address, pair] = await Promise.all([this.byAddress.get(remote).catch(() => null), this.byName.get(pairKey(remote, name)).catch(() => null)]);
    if (!address) {
      // Every failure counts against the address: none there, none of its names either.
      this.recent.delete(remote);
      return undefined;
    }
    // A budget's last failure blocks: with 20 a minute, the 21st try is refused.
    if (address.consumedPoints >= this.perAddress) return { ms: Math.max(1000, address.msBeforeNext), scope: 'address' };
    if (pair && pair.consumedPoints >= this.perMinute) return { ms: Math.max(1000, pair.msBeforeNext), scope: 'name' };
    return undefined;
  }

  /** Counts a failed login of `name` ('' for none) from `remote`. */
  async failed(remote: string, name: string): Promise<void> {
    this.recent.set(remote, Date.now());
    await Promise.all([this.byAddress.penalty(remote, 1).catch(() => undefined), this.byName.penalty(pairKey(remote, name), 1).catch(() => undefined)]);
  }
}

/** An address holds no NUL, so the key names one pair only. */
function pairKey(remote: string, name: string): string {
  return `${remote}\u0000${name.slice(0, NAME_KEPT)}`;
}
