/**
 * Preload for profiling the runtime under the benchmark (`--cpu-prof` is not
 * allowed in NODE_OPTIONS, `--require` is). It runs the V8 sampling profiler and
 * writes a .cpuprofile (Chrome DevTools, speedscope, or
 * `node dist/bench/profile-summary.js <file>`) to BENCH_CPU_PROFILE_OUT.
 * The benchmark sends SIGWINCH (ignored by default, unlike SIGUSR2 which makes
 * Node-RED exit and SIGUSR1 which opens the inspector) when its measured phase starts and again when it
 * ends, so the profile covers only that window (not start-up or warm-up); a
 * process that exits while profiling writes what it has. Alongside it,
 * `<out>.memory.json` has process.memoryUsage() every 100 ms of that window, to
 * tell the JS heap (queued messages) from native memory (DuckDB, buffers).
 * With BENCH_HEAP_PROFILE=1 the V8 sampling heap profiler runs over the same
 * window (a sample every 512 bytes, objects already collected included) and
 * writes `<out>.heapprofile` (DevTools' memory tab, or
 * `node dist/bench/heap-summary.js <file> <readings>`): what the runtime
 * allocates per reading, which the load on the machine does not move the way it
 * moves CPU time.
 */
import { Session } from 'node:inspector';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const out = process.env.BENCH_CPU_PROFILE_OUT;
if (out) {
  // A write failing inside the signal handler would take the runtime down mid-benchmark.
  mkdirSync(dirname(out), { recursive: true });
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_CPU_PROFILE_US) || 500 });
  let profiling = false;
  let written = false;
  const memory: Array<{ t: number } & NodeJS.MemoryUsage> = [];
  let memTimer: NodeJS.Timeout | undefined;
  const heap = process.env.BENCH_HEAP_PROFILE === '1';
  // The in-process inspector session answers synchronously, so this also works inside 'exit'.
  const stop = () => {
    if (!profiling || written) return;
    profiling = false;
    written = true;
    if (memTimer) clearInterval(memTimer);
    writeFileSync(`${out}.memory.json`, JSON.stringify(memory));
    if (heap) {
      session.post('HeapProfiler.stopSampling', (err, res) => {
        if (!err && res) writeFileSync(`${out}.heapprofile`, JSON.stringify(res.profile));
      });
    }
    session.post('Profiler.stop', (err, res) => {
      if (!err && res) writeFileSync(out, JSON.stringify(res.profile));
    });
  };
  process.on('SIGWINCH', () => {
    if (written) return;
    if (!profiling) {
      profiling = true;
      session.post('Profiler.start');
      if (heap) {
        session.post('HeapProfiler.enable');
        session.post('HeapProfiler.startSampling', { samplingInterval: 512, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      }
      const t0 = Date.now();
      memTimer = setInterval(() => memory.push({ t: Date.now() - t0, ...process.memoryUsage() }), 100);
      memTimer.unref();
    } else stop();
  });
  process.on('exit', stop);
}
