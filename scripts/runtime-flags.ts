/**
 * V8 heap flags the runtime is started with: `npm start` and the Docker image's
 * command pass exactly these (test/unit/runtime-flags.test.ts keeps them in
 * step), and so do the integration tests and `npm run bench`, so what is
 * measured is what ships. They must be on the command line: V8 sizes its heap
 * when the process starts, and setting them from start.ts has no effect.
 *
 * - `--max-semi-space-size=4`: the young generation's two halves may grow to
 *   4 MB instead of 16. It held ~22 MB of an idle runtime's RSS (new space
 *   27.6 MB committed 15 s after start, 1 MB after a GC); scavenges get more
 *   frequent and shorter (docs/performance.md, "Memory").
 * - `--max-old-space-size=512`: V8 lets the old generation grow by up to 4×
 *   its live size between full collections when the limit is 1 GB or more (the
 *   default here is several GB), by ~1.4× at 512 MB; the live heap of the pack
 *   under load is ~50–100 MB, far below the limit.
 *
 * To run with other values: `node <flags> dist/scripts/start.js`, or override
 * the image's command.
 */
export const RUNTIME_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--max-old-space-size=512'];
