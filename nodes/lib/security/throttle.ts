/**
 * Failed API-key checks counted per source address: a stored key costs a
 * scrypt to check, so burning CPU with wrong secrets of a known key id (or
 * guessing) is stopped after `perMinute` failures from one address, for the rest of the minute,
 * while every other address goes on as usual. The same budget as device logins
 * (device-auth.ts).
 */
import { RateLimiterMemory } from './rate-limiter';

export class FailureThrottle {
  private readonly limiter: RateLimiterMemory;

  constructor(private readonly perMinute = 20) {
    this.limiter = new RateLimiterMemory({ keyPrefix: 'api-key-fail', points: perMinute, duration: 60 });
  }

  /** Milliseconds the address must wait (0: it may try). */
  async blockedMs(remote: string | undefined): Promise<number> {
    if (!remote) return 0;
    const state = await this.limiter.get(remote).catch(() => null);
    return state && state.consumedPoints >= this.perMinute ? Math.max(1000, state.msBeforeNext) : 0;
  }

  async failed(remote: string | undefined): Promise<void> {
    if (remote) await this.limiter.penalty(remote, 1).catch(() => undefined);
  }
}
