/**
 * The anomaly engine's saved state as a file of JSON lines, written and read
 * where the engine runs (the worker thread, or the main thread when it runs
 * there): a head line (format, version, the engine's options and how many
 * devices and series follow), then one line per device, then one per series,
 * least recently seen first.
 *
 * A mature series saves 40–90 kB and a fleet's state runs to tens of MB
 * (docs/anomaly.md). Written a part at a time and read a line at a time, it
 * never exists as one text or one object, and it never crosses to the main
 * thread. The file is replaced atomically (fs-atomic.ts): a reader sees the
 * last whole save.
 */
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { DetectorConfigError, StateSaveError } from '../errors';
import { writeFileAtomicParts } from '../fs-atomic';
import { AnomalyEngine, type AnomalyEngineOptions, type DeviceState, type SeriesState, type StateHead } from './engine';

const FORMAT = 'upperstack-anomaly-state';
const READ_BYTES = 1 << 20;
/** Far above any part the engine writes (a series' window is under 100 kB); a longer line is not one of ours. */
const MAX_LINE_CHARS = 64 << 20;

/**
 * What saving may write on average, in bytes a second. Every save rewrites the whole file, and a fleet's
 * state runs to tens of MB: every 30 s that would be gigabytes an hour, wearing out the SD card or flash of
 * a small gateway. A large state is therefore saved less often (90 MB about every 48 minutes); a closing
 * node always saves, so only a crash loses what was learned since the last save.
 */
export const SAVE_BYTES_PER_SECOND = 32 * 1024;

/** How long to wait after a save of `bytes` before the next: at least `minMs`, at most `maxMs`. */
export function saveIntervalMs(bytes: number, minMs = 30_000, maxMs = 3_600_000): number {
  return Math.min(maxMs, Math.max(minMs, Math.ceil(bytes / SAVE_BYTES_PER_SECOND) * 1000));
}

export interface SavedStateFile {
  bytes: number;
  devices: number;
  series: number;
}

interface FileHead extends StateHead {
  format: typeof FORMAT;
}

/** The state file of the node `nodeId` in `dir`; an id is made safe as a file name. */
export function stateFileOf(dir: string, nodeId: string): string {
  return join(dir, 'anomaly', `${nodeId.replace(/[^A-Za-z0-9._-]/g, '_')}.jsonl`);
}

function* lines(engine: AnomalyEngine): Generator<string> {
  const head: FileHead = { format: FORMAT, ...engine.stateHead() };
  yield `${JSON.stringify(head)}\n`;
  for (const d of engine.deviceStates()) yield `${JSON.stringify(d)}\n`;
  for (const s of engine.seriesStates()) yield `${JSON.stringify(s)}\n`;
}

/** Saves the engine's state to `file`, replacing what was there; throws a StateSaveError when it cannot. */
export function writeStateFile(file: string, engine: AnomalyEngine): SavedStateFile {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const { devices, series } = engine.stateHead();
    return { bytes: writeFileAtomicParts(file, lines(engine)), devices, series };
  } catch (err) {
    throw new StateSaveError(`cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`, { file }, { cause: err });
  }
}

/** The file's lines, read a buffer at a time. */
function* fileLines(file: string): Generator<string> {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES);
    const utf8 = new StringDecoder('utf8');
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, READ_BYTES, null);
      const text = rest + (n > 0 ? utf8.write(buf.subarray(0, n)) : utf8.end());
      let from = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', from)) {
        yield text.slice(from, nl);
        from = nl + 1;
      }
      rest = text.slice(from);
      if (rest.length > MAX_LINE_CHARS) throw broken(file, `a line longer than ${MAX_LINE_CHARS} characters`);
      if (n === 0) break;
    }
    if (rest) yield rest;
  } finally {
    closeSync(fd);
  }
}

function broken(file: string, why: string): DetectorConfigError {
  return new DetectorConfigError(`the saved anomaly state in ${file} cannot be used: ${why}`, { parameter: 'state' });
}

function parse<T>(file: string, line: string, what: string): T {
  try {
    return JSON.parse(line) as T;
  } catch {
    throw broken(file, `${what} is not JSON`);
  }
}

function headOf(file: string, line: string | undefined): FileHead {
  const head = line === undefined ? undefined : parse<Partial<FileHead> | null>(file, line, 'the first line');
  if (!head || head.format !== FORMAT || head.version !== 1 || !Number.isSafeInteger(head.devices) || !Number.isSafeInteger(head.series)) {
    throw broken(file, `it does not start with a version 1 head line of ${FORMAT}`);
  }
  return head as FileHead;
}

/**
 * The engine saved in `file` (with `options` when given: series learned under
 * other detector settings are left out), or undefined when there is no file.
 * Throws a DetectorConfigError when the file is not a whole saved state.
 */
export function readStateFile(file: string, options?: AnomalyEngineOptions): AnomalyEngine | undefined {
  if (!existsSync(file)) return undefined;
  const it = fileLines(file);
  try {
    const head = headOf(file, it.next().value ?? undefined);
    const r = AnomalyEngine.restoring(head.options ?? {}, options);
    let devices = 0;
    let series = 0;
    for (const line of it) {
      if (!line) continue;
      if (devices < head.devices) {
        r.device(parse<DeviceState>(file, line, `device ${devices + 1}`));
        devices++;
      } else if (series < head.series) {
        r.series(parse<SeriesState>(file, line, `series ${series + 1}`));
        series++;
      } else throw broken(file, `more lines than the ${head.devices} devices and ${head.series} series it announces`);
    }
    if (devices < head.devices || series < head.series) {
      throw broken(file, `it holds ${devices} of ${head.devices} devices and ${series} of ${head.series} series`);
    }
    return r.done();
  } finally {
    it.return(undefined);
  }
}

/** How many devices and series the file holds, from its head line alone; undefined when there is no file. */
export function stateFileHead(file: string): { devices: number; series: number } | undefined {
  if (!existsSync(file)) return undefined;
  const it = fileLines(file);
  try {
    const head = headOf(file, it.next().value ?? undefined);
    return { devices: head.devices, series: head.series };
  } finally {
    it.return(undefined);
  }
}

/** Deletes the state file and any write of it that a crash left unfinished. */
export function removeStateFile(file: string): void {
  rmSync(file, { force: true });
  const dir = dirname(file);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const tmp = `${basename(file)}.tmp-`;
  for (const n of names) if (n.startsWith(tmp)) rmSync(join(dir, n), { force: true });
}
