/** Where the package's own files (proto/, schemas/) live, from source or from dist/. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from './errors';

let cached: string | undefined;

/**
 * The directory holding this package's package.json. Walking up (rather than a
 * fixed '../../..') keeps working from nodes/lib (ts-node, tests) and from
 * dist/nodes/lib (the compiled package) alike.
 */
export function packageRoot(): string {
  if (cached !== undefined) return cached;
  let dir = __dirname;
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cached = dir);
    const parent = dirname(dir);
    if (parent === dir) throw new ConfigError(`cannot find the package root: no package.json in ${__dirname} or any folder above it`);
    dir = parent;
  }
}
