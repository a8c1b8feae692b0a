/**
 * The structured log option (UPPERSTACK_LOG_FORMAT=json): Node-RED's log
 * messages as one JSON object per line, for log shippers (Loki, Elasticsearch,
 * CloudWatch, journald) that index fields instead of parsing text.
 *
 *   {"time":"2026-01-01T00:00:00.000Z","level":"warn","msg":"...","node":{"id":"...","type":"upperstack-store","name":"store"},"flow":"..."}
 */

/** Node-RED's numeric levels (@node-red/util log.js). */
const LEVELS: Record<number, string> = { 10: 'fatal', 20: 'error', 30: 'warn', 40: 'info', 50: 'debug', 60: 'trace', 98: 'audit', 99: 'metric' };
const BY_NAME: Record<string, number> = { off: 1, fatal: 10, error: 20, warn: 30, info: 40, debug: 50, trace: 60 };

/** A log message as Node-RED hands it to a handler. */
export interface LogMessage {
  level: number;
  msg?: unknown;
  type?: string;
  id?: string;
  name?: string;
  z?: string;
  path?: string;
  timestamp?: number;
}

function text(v: unknown): { msg: string; stack?: string } {
  if (v instanceof Error) return { msg: v.message, stack: v.stack };
  if (typeof v === 'string') return { msg: v };
  try {
    return { msg: JSON.stringify(v) ?? String(v) };
  } catch {
    return { msg: String(v) };
  }
}

/** One line of JSON (no trailing newline) for a Node-RED log message. */
export function formatLogLine(m: LogMessage): string {
  const { msg, stack } = text(m.msg);
  const line: Record<string, unknown> = {
    time: new Date(m.timestamp ?? Date.now()).toISOString(),
    level: LEVELS[m.level] ?? String(m.level),
    msg,
  };
  if (m.id || m.type) line.node = { id: m.id, type: m.type, ...(m.name ? { name: m.name } : {}) };
  if (m.z) line.flow = m.z;
  if (m.path) line.path = m.path;
  if (stack) line.stack = stack;
  return JSON.stringify(line);
}

/**
 * Node-RED `logging` settings for a format: "text" keeps the console logger;
 * "json" replaces it with a handler writing formatLogLine() lines to `out`.
 */
export function loggingSettings(format: string | undefined, level: string | undefined, out: (line: string) => void = (l) => process.stdout.write(l + '\n')): Record<string, unknown> {
  const lvl = (level || 'info').toLowerCase();
  if ((format ?? 'text').toLowerCase() !== 'json') return { console: { level: lvl, metrics: false, audit: false } };
  const threshold = BY_NAME[lvl] ?? BY_NAME.info;
  return {
    console: { level: 'off', metrics: false, audit: false },
    json: {
      level: lvl,
      metrics: false,
      audit: false,
      handler: () => (m: LogMessage) => {
        if (m.level <= threshold) out(formatLogLine(m));
      },
    },
  };
}
