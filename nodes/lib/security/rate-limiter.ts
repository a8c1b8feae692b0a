/**
 * rate-limiter-flexible's in-memory limiter and its result, the only parts
 * Upperstack uses. The package's index requires every limiter it has (Redis,
 * Mongo, MySQL, the cluster's, ...: 37 modules, ~1 MB of heap, and Node's
 * `cluster` module) to export them together; these two files need none of
 * them. The types are the package's own.
 */
import type * as Flexible from 'rate-limiter-flexible';

/* eslint-disable @typescript-eslint/no-require-imports */
export const RateLimiterMemory = require('rate-limiter-flexible/lib/RateLimiterMemory') as typeof Flexible.RateLimiterMemory;
export const RateLimiterRes = require('rate-limiter-flexible/lib/RateLimiterRes') as typeof Flexible.RateLimiterRes;
/* eslint-enable @typescript-eslint/no-require-imports */
export type RateLimiterMemory = Flexible.RateLimiterMemory;
export type RateLimiterRes = Flexible.RateLimiterRes;
