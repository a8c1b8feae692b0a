/**
 * The InfluxDB rows' CPU budget: what every process of a measured burst spent, per reading stored, so a
 * row's rate can be set against what two cores allow (the whole machine's CPU per reading times the rate
 * cannot exceed 2 cores). Read from /proc at the burst's start and end:
 *
 *   consumer  its threads in three groups by start order (Linux names them all "node"; the order is the
 *             one docs/performance.md "Batches: the consumer's CPU thread by thread" found with gdb):
 *             the main thread, V8's delayed-task scheduler and 4 platform workers (GC, compilation), and
 *             the rest (the inspector's I/O thread, the libuv pool, worker threads)
 *   broker    mosquitto
 *   server    influxd (or victoria-metrics)
 *   load      the publisher processes (their own process.cpuUsage over the job; live bursts only: a
 *             drained burst is published before the measured window)
 *   bench     this process (it polls the server's count)
 *   other     the machine's busy time (/proc/stat) less all the above: whatever else ran
 */
import { readFileSync, readdirSync } from 'node:fs';
import { threadStats } from './common';

// CLK_TCK (clock ticks per second of /proc/<pid>/stat and /proc/stat) is 100 on Linux.
const TICKS = Number(process.env.BENCH_CLK_TCK) || 100;

export interface CpuBudget {
  /** Window length in seconds. */
  seconds: number;
  /** CPU seconds of each part in the window (see above). */
  main: number;
  v8: number;
  rest: number;
  broker: number;
  server: number;
  load: number;
  bench: number;
  other: number;
  /** Busy CPU seconds of the whole machine (every core). */
  machine: number;
  /** The consumer's threads that ran, as [start rank (0 = main; -1 started inside the window), CPU seconds]. */
  threads: Array<[number, number]>;
}

/** The pid of this process's child running `comm` (influxd, victoria-metrics: the helpers do not expose theirs). */
export function childPid(comm: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && name.startsWith(comm.slice(0, 15))) return Number(d);
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return undefined;
}

function procCpu(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS;
  } catch {
    return 0;
  }
}

function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
  return (f.reduce((a, b) => a + b, 0) - f[3] - f[4]) / TICKS;
}

/** CPU seconds of each thread of a process by thread id (empty once it is gone). */
function threadCpus(pid: number | undefined): Map<number, number> {
  const out = new Map<number, number>();
  if (!pid) return out;
  try {
    for (const t of threadStats(pid)) out.set(t.tid, t.cpu);
  } catch {
    // The process is gone.
  }
  return out;
}

/** Splits per-thread CPU deltas into the groups, by start order (threads started inside the window count as rest). */
function groups(pid: number, start: Map<number, number>, end: Map<number, number>): { main: number; v8: number; rest: number; threads: Array<[number, number]> } {
  const order = [...start.keys()].sort((a, b) => a - b);
  const rank = new Map(order.map((tid, i) => [tid, i]));
  const g = { main: 0, v8: 0, rest: 0, threads: [] as Array<[number, number]> };
  for (const [tid, cpu] of end) {
    const d = cpu - (start.get(tid) ?? 0);
    const i = rank.get(tid);
    if (d > 0) g.threads.push([i ?? -1, d]);
    if (tid === pid) g.main += d;
    else if (i !== undefined && i >= 1 && i <= 5) g.v8 += d;
    else g.rest += d;
  }
  g.threads.sort((a, b) => a[0] - b[0]);
  return g;
}

export class BudgetWatch {
  private startAt = 0;
  private machine0 = 0;
  private bench0 = 0;
  private broker0 = 0;
  private server0 = 0;
  private threads0 = new Map<number, number>();

  constructor(private readonly pids: { consumer: number | undefined; broker: number | undefined; server: number | undefined }) {}

  begin(): this {
    this.startAt = Date.now();
    this.threads0 = threadCpus(this.pids.consumer);
    this.broker0 = procCpu(this.pids.broker);
    this.server0 = procCpu(this.pids.server);
    const u = process.cpuUsage();
    this.bench0 = (u.user + u.system) / 1e6;
    this.machine0 = machineBusy();
    return this;
  }

  /** `loadCpu`: the publishers' CPU seconds in the window (0 for a drained burst). */
  end(loadCpu: number): CpuBudget {
    const machine = machineBusy() - this.machine0;
    const u = process.cpuUsage();
    const bench = (u.user + u.system) / 1e6 - this.bench0;
    const broker = procCpu(this.pids.broker) - this.broker0;
    const server = procCpu(this.pids.server) - this.server0;
    const g = this.pids.consumer ? groups(this.pids.consumer, this.threads0, threadCpus(this.pids.consumer)) : { main: 0, v8: 0, rest: 0, threads: [] };
    const known = g.main + g.v8 + g.rest + broker + server + loadCpu + bench;
    return { seconds: (Date.now() - this.startAt) / 1000, ...g, broker, server, load: loadCpu, bench, other: Math.max(0, machine - known), machine };
  }
}

/** One line: µs per reading stored of each part, and the rate two cores would allow at the measured total. */
export function budgetLine(b: CpuBudget, stored: number): string {
  const us = (s: number) => ((s / Math.max(1, stored)) * 1e6).toFixed(1);
  const known = b.main + b.v8 + b.rest + b.broker + b.server + b.load + b.bench;
  const cap = (2 / (known / Math.max(1, stored))).toFixed(0);
  return `CPU µs/reading: consumer main ${us(b.main)}, V8 helpers ${us(b.v8)}, rest ${us(b.rest)}; mosquitto ${us(b.broker)}; server ${us(b.server)}; publishers ${us(b.load)}; bench ${us(b.bench)}; all of these ${us(known)} (2 cores ÷ it: ${Number(cap).toLocaleString('en-US')} readings/s); machine ${us(b.machine)} (other ${us(b.other)}) over ${b.seconds.toFixed(2)} s; consumer threads [rank µs] ${b.threads.map(([r, s]) => `${r}:${us(s)}`).join(' ')}`;
}
