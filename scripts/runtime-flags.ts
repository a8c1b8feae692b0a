/**
 * V8 heap flags the runtime is started with: `npm start` and the Docker image's
 * command pass exactly these (test/unit/runtime-flags.test.ts keeps them in
 * step), and so do the integration tests and `npm run bench`, so what is
 * measured is what ships. They must be on the command line: V8 sizes its heap
 * when the process starts, and setting them from start.ts has no effect.
 *
 * - `--max-semi-space-size=4`: the young generation's two halves may grow to
 *   4 MB instead of 16. They held ~22 MB of an idle runtime's RSS (new space
 *   27.6 MB committed 15 s after start, 1 MB after a GC).
 * - `--heap-growing-percent=50`: after a full collection the old generation may
 *   grow to 1.5× its live size before the next one; by default V8 lets it grow
 *   up to 4× when the heap limit is 1 GB or more (it is several GB here). That
 *   headroom was most of the 380–470 MB peaks. Capping the heap instead
 *   (`--max-old-space-size=512`) bounded the peak as well but cost 20–50% more
 *   CPU per reading, and would turn a larger working set into a crash.
 *
 * Together they cost ~8% (single readings) to ~19% (batches) more CPU per
 * reading in the bench (docs/performance.md, "Memory"). To run with other
 * values: `node <flags> dist/scripts/start.js`, or override the image's command;
 * the test/bench helper leaves out a default whose flag its NODE_OPTIONS sets
 * (`BENCH_RUNTIME_NODE_OPTIONS`), since node lets its own command line win
 * over NODE_OPTIONS.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--heap-growing-percent=50'];

/**
 * Environment the runtime starts with, where `npm start`, the Docker image and
 * the test/bench helper set it alike (a value already in the environment wins).
 *
 * - `MALLOC_ARENA_MAX=2`: glibc gives each thread that allocates its own malloc
 *   arena (up to 8 per core); the runtime's main thread, anomaly worker, V8's
 *   and libuv's pools and DuckDB's thread each kept freed memory in theirs. Two
 *   arenas: idle RSS 153–154 MB against 161–162 (alternating runs), peak RSS of
 *   the single-reading rows 8 MB lower, CPU per reading within the bench's
 *   spread (docs/performance.md, Memory). It must be in the environment before
 *   the process starts (glibc reads it at its first allocation), so the start
 *   script cannot set it; other C libraries (musl) ignore it.
 */
export const RUNTIME_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** `--max_semi_space_size=8` → `max-semi-space-size` (V8 takes `_` and `-` alike). */
function flagName(option: string): string {
  return option.replace(/^--(no-)?/, '').split('=')[0].replace(/_/g, '-');
}

/**
 * The default flags less those `nodeOptions` (a NODE_OPTIONS value) sets
 * itself, in either spelling or as `--no-…`: an explicit option is what the
 * runtime then runs with.
 */
export function runtimeNodeFlags(nodeOptions = ''): string[] {
  const given = new Set(
    nodeOptions
      .split(/\s+/)
      .filter((w) => w.startsWith('--'))
      .map(flagName),
  );
  return RUNTIME_NODE_FLAGS.filter((f) => !given.has(flagName(f)));
}
