// What scripts/build.mjs knows of dist/ besides compiling: whether it is older than its sources
// (--if-stale), and which compiled files there lost their source.
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** What the build reads, relative to the checkout: tsconfig.json's sources and what is copied into dist/ or examples/. */
export const SOURCES = ['nodes', 'scripts', 'test', 'bench', 'flows', 'proto', 'schemas', 'settings.ts', 'tsconfig.json'];

/**
 * The newest change under `dir`: a file's mtime, or a folder's. A folder's moves when a file in it is added,
 * deleted or renamed, and a renamed file keeps its own mtime: without the folders such a change went unseen.
 */
export function newestMtime(dir) {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === 'dist') continue;
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** True unless `dist/.built` is newer than every source (a dist/ never built is stale). */
export function isStale(root, dist) {
  const marker = join(dist, '.built');
  if (!existsSync(marker)) return true;
  const built = statSync(marker).mtimeMs;
  return SOURCES.map((p) => join(root, p)).some((p) => existsSync(p) && (statSync(p).isDirectory() ? newestMtime(p) : statSync(p).mtimeMs) > built);
}

/** The names of what tsc writes for `X.ts` (`X.js`, its map, declarations): each stands for `X.ts`. */
const COMPILED = [/\.js$/, /\.js\.map$/, /\.d\.ts$/, /\.d\.ts\.map$/];

/**
 * Removes tsc's outputs in `dist` whose `.ts` source in `root` is gone (a deleted or renamed module or test), and
 * the folders that leaves empty. Anything else stays: the editor files, locales and icons copied beside the
 * runtime, the build's marker, and a file that stands at the same path in `root` (a copy, not an output).
 * Returns the removed files, relative to `dist`.
 */
export function removeOrphans(root, dist) {
  const removed = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      const rel = relative(dist, p);
      if (entry.isDirectory()) {
        walk(p);
        if (readdirSync(p).length === 0 && !existsSync(join(root, rel))) rmdirSync(p);
        continue;
      }
      const pattern = COMPILED.find((re) => re.test(entry.name));
      if (!pattern) continue;
      const source = join(root, rel.replace(pattern, '.ts'));
      if (existsSync(source) || existsSync(join(root, rel))) continue;
      rmSync(p);
      removed.push(rel);
    }
  };
  if (existsSync(dist)) walk(dist);
  return removed;
}
