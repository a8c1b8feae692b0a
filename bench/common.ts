/** Small helpers shared by the pipeline benchmark's processes (no dependencies beyond Node). */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A full collection on demand (gc is exposed at run time, so the bench needs no flag): twice, so what the first frees is gone too. */
export function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  return () => {
    gc();
    gc();
  };
}

const DAY = 86_400_000;
/**
 * Load readings get ts = TS_BASE + their index: unique and increasing per device, as a device sends them.
 * Yesterday's midnight (UTC; the same in every process of a run): inside the default pack's retention, as
 * live data is, so no reading is taken for imported history.
 */
export const TS_BASE = Math.floor(Date.now() / DAY) * DAY - DAY;
/** Filler readings of probe batches live on their own device and time range. */
export const PAD_BASE = TS_BASE - 7 * DAY;

/** What a publisher child process is told to do (passed as JSON in argv[2]). */
export interface PublisherConfig {
  url: string;
  /** Topics are `${topicPrefix}/${device}/telemetry`. */
  topicPrefix: string;
  clients: number;
  /** Messages each client publishes; each message holds `batch` readings. */
  messagesPerClient: number;
  batch: number;
  /** Load device of client i: `${devicePrefix}-c${i}`. */
  devicePrefix: string;
  /** Index of this publisher, so its load devices and client ids are unique. */
  index: number;
  /** QoS 1 messages each client keeps in flight. */
  inflight: number;
  /** When set, client 0 interleaves a probe message (reading ts = send time) every probeEveryMs. */
  probeDevice?: string;
  probeEveryMs: number;
  /** Messages per second per client (a fixed rate); absent: as fast as PUBACKs come back. */
  rate?: number;
}

/** What a later `go` publishes on the same connections (PublisherConfig's fields of the same names). */
export type PublisherJob = Pick<PublisherConfig, 'devicePrefix' | 'messagesPerClient' | 'probeDevice' | 'rate'>;

export type PublisherReport =
  | { type: 'ready' }
  | {
      type: 'done';
      firstPublish: number;
      lastAck: number;
      messages: number;
      readings: number;
      probes: number;
      /** CPU (µs) of this job, and of its first readings when it published more than those. */
      cpuUs: number;
      firstChunk?: { readings: number; cpuUs: number };
    }
  | { type: 'error'; message: string };

export interface RawSubscriberConfig {
  url: string;
  filter: string;
  /** Load readings to wait for. */
  expected: number;
  batch: number;
  /** Messages on this topic are probes (not counted). */
  probeTopic: string;
}

export type RawReport =
  | { type: 'ready' }
  | { type: 'progress' | 'complete'; readings: number; firstAt: number; lastAt: number; latencies: number[] };

/** A load reading: flat JSON with the device in the payload, two numeric fields. */
export function readingJson(device: string, ts: number, k: number): string {
  return `{"device":"${device}","ts":${ts},"temperature":${(200 + (k % 150)) / 10},"humidity":${(400 + (k % 97)) / 10}}`;
}

/** A message of `n` readings, the `first`-th reading of the device and those after it, at tsBase plus their number. */
export function batchJson(device: string, tsBase: number, first: number, n: number): string {
  const parts: string[] = [];
  for (let k = first; k < first + n; k++) parts.push(readingJson(device, tsBase + k, k));
  return `[${parts.join(',')}]`;
}

/** This process's CPU time since `start`, every thread, in µs. */
export function cpuSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return d.user + d.system;
}

/** A file's size in bytes, 0 while it does not exist (a WAL before the first write, after a checkpoint). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export interface ProcSample {
  /** Resident set now and its peak (VmHWM), in bytes. */
  rss: number;
  hwm: number;
  /** user + system CPU time in seconds. */
  cpu: number;
  /** The same for the main thread alone (worker threads, libuv and V8 helper threads left out). */
  mainCpu: number;
  /** CPU seconds of every thread by thread id (Linux names them all "node"; the id's order is their start order). */
  threads: Map<number, number>;
}

// CLK_TCK (clock ticks per second of /proc/<pid>/stat) is 100 on Linux.
const ticks = Number(process.env.BENCH_CLK_TCK) || 100;

/** User + system CPU seconds of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line. */
function statCpu(stat: string): number {
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / ticks;
}

/** A thread of a process: its id, its name (the kernel's comm: "node" for most of Node's) and CPU seconds. */
export interface ThreadStat {
  tid: number;
  name: string;
  cpu: number;
}

/** Every thread of a process now (those that end while being read are left out). */
export function threadStats(pid: number): ThreadStat[] {
  const out: ThreadStat[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      out.push({ tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), cpu: statCpu(stat) });
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** CPU seconds of a process's threads, summed by thread name ("main" for the main thread; libuv pool, V8 workers...). */
export function threadCpuByName(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of threadStats(pid)) {
    const name = t.tid === pid ? 'main' : t.name;
    out.set(name, (out.get(name) ?? 0) + t.cpu);
  }
  return out;
}

export function procSample(pid: number | undefined): ProcSample | undefined {
  if (!pid) return undefined;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    const cpu = statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const mainCpu = statCpu(readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8'));
    const threads = new Map<number, number>();
    for (const t of threadStats(pid)) threads.set(t.tid, t.cpu);
    return { rss: kb('VmRSS'), hwm: kb('VmHWM'), cpu, mainCpu, threads };
  } catch {
    return undefined;
  }
}

/** CPU seconds of one thread while watched; `tid` is relative to the process id (0 = main thread). */
export interface ThreadCpu {
  tid: number;
  cpu: number;
}

/** How long ProcWatch's `earlyRss` looks: the first seconds of a phase, against which a long phase's later growth shows. */
export const EARLY_RSS_MS = 15_000;

/** Samples a process's RSS every `ms` and keeps the maximum; also reports CPU used between start and stop. */
export class ProcWatch {
  private timer: NodeJS.Timeout | undefined;
  private start: ProcSample | undefined;
  private startAt = 0;
  maxRss = 0;
  /** The largest RSS sampled in the first `earlyMs`. */
  private earlyRss = 0;

  constructor(
    readonly pid: number | undefined,
    private readonly ms = 100,
    private readonly earlyMs = EARLY_RSS_MS,
  ) {}

  begin(): this {
    this.start = procSample(this.pid);
    this.startAt = Date.now();
    this.maxRss = this.start?.rss ?? 0;
    this.earlyRss = this.maxRss;
    this.timer = setInterval(() => {
      const s = procSample(this.pid);
      if (s && s.rss > this.maxRss) this.maxRss = s.rss;
      if (s && Date.now() - this.startAt <= this.earlyMs && s.rss > this.earlyRss) this.earlyRss = s.rss;
    }, this.ms);
    this.timer.unref();
    return this;
  }

  /** Peak RSS (max of sampled VmRSS and VmHWM), the largest sampled in the first `earlyMs`, CPU seconds used while watched and their average in cores. */
  end(): { peakRss: number; maxRss: number; earlyRss: number; hwm: number; cores: number; cpu: number; mainCpu: number; threads: ThreadCpu[] } {
    if (this.timer) clearInterval(this.timer);
    const s = procSample(this.pid);
    const seconds = (Date.now() - this.startAt) / 1000;
    const cpu = s && this.start ? s.cpu - this.start.cpu : NaN;
    const cores = seconds > 0 ? cpu / seconds : NaN;
    const maxRss = Math.max(this.maxRss, s?.rss ?? 0);
    const mainCpu = s && this.start ? s.mainCpu - this.start.mainCpu : NaN;
    const threads: ThreadCpu[] = [];
    if (s && this.start && this.pid) {
      for (const [tid, c] of s.threads) threads.push({ tid: tid - this.pid, cpu: c - (this.start.threads.get(tid) ?? 0) });
      threads.sort((a, b) => b.cpu - a.cpu);
    }
    return { peakRss: Math.max(maxRss, s?.hwm ?? 0), maxRss, earlyRss: this.earlyRss, hwm: s?.hwm ?? 0, cores, cpu, mainCpu, threads };
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
