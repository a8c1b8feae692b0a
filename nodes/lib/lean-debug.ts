/**
 * `debug` loggers that cost nothing while they are off.
 *
 * MQTT.js and mqtt-packet log through the `debug` package on every packet
 * (parsing, each PUBACK written, each packet handled): some fifteen calls per
 * received message. A `debug` logger takes its arguments as a rest parameter,
 * so each call allocates an array even when the namespace is off, which is
 * almost always: on a backlog drain that was a fifth of all the bytes the
 * runtime allocated per reading, and the garbage collector's work with it.
 *
 * leanDebug() wraps one logger in a function with fixed parameters that asks
 * the logger whether it is on before it passes anything. installLeanDebug()
 * makes every logger created from then on by the `debug` copies MQTT.js, aedes
 * and mqtt-packet load such a wrapper. `npm start` calls it before Node-RED
 * loads anything, and so does the upperstack-runtime plugin in any Node-RED
 * the package is installed into (Node-RED loads plugins before nodes), so
 * mqtt-packet's parser and writer loggers are lean too (the MQTT connection
 * node gives its client a no-op logger unless DEBUG is set). Nothing changes
 * for someone who turns logging on (DEBUG=mqttjs*,
 * or debug.enable() at run time): `enabled` is read on every call, and the
 * wrapper passes the arguments on, up to eight (a trailing `undefined` is
 * left out, as a call with fewer arguments would have been written).
 */
import { createRequire } from 'node:module';

/** The part of a `debug` logger (debug 4) a caller sees. */
export interface DebugLogger {
  (...args: unknown[]): void;
  enabled: boolean;
  namespace: string;
  extend(namespace: string, delimiter?: string): DebugLogger;
  [key: string]: unknown;
}

type CreateDebug = ((namespace: string) => DebugLogger) & Record<string, unknown>;

const LEAN = Symbol.for('upperstack.leanDebug');
/** Properties of a logger that callers read or set (debug 4): forwarded to the wrapped one. */
const FORWARDED = ['enabled', 'namespace', 'useColors', 'color', 'log', 'diff', 'prev', 'curr', 'inspectOpts'];

/** A logger with fixed parameters around `d`: no allocation per call while `d` is off. */
export function leanDebug(d: DebugLogger): DebugLogger {
  if ((d as unknown as Record<symbol, unknown>)[LEAN]) return d;
  const lean = function (a?: unknown, b?: unknown, c?: unknown, e?: unknown, f?: unknown, g?: unknown, h?: unknown, i?: unknown): void {
    if (!d.enabled) return;
    const args = [a, b, c, e, f, g, h, i];
    while (args.length > 1 && args[args.length - 1] === undefined) args.pop();
    d(...args);
  } as DebugLogger;
  for (const key of FORWARDED) {
    Object.defineProperty(lean, key, {
      get: () => d[key],
      set: (v: unknown) => {
        d[key] = v;
      },
      enumerable: true,
    });
  }
  lean.extend = (namespace: string, delimiter?: string) => leanDebug(d.extend(namespace, delimiter));
  (lean as unknown as Record<string, unknown>).destroy = () => (typeof d.destroy === 'function' ? (d.destroy as () => unknown)() : false);
  Object.defineProperty(lean, LEAN, { value: true });
  return lean;
}

/**
 * The copies of the `debug` package MQTT.js, mqtt-packet and aedes load, by file. Installed
 * from the registry they may be two or three (mqtt and mqtt-packet each get a debug 4 of their
 * own when the install's top-level `debug` is an older major); in this repository's install, one.
 */
function mqttDebugModules(): Map<string, CreateDebug> {
  const found = new Map<string, CreateDebug>();
  const add = (from: NodeJS.Require) => {
    try {
      const path = from.resolve('debug');
      if (!found.has(path)) found.set(path, from('debug') as CreateDebug);
    } catch {
      // that library is not installed, or has no `debug`: nothing of it to make lean
    }
  };
  const packetsOf = (from: NodeJS.Require) => {
    try {
      add(createRequire(from.resolve('mqtt-packet')));
    } catch {
      // not installed
    }
  };
  for (const lib of ['mqtt', 'aedes']) {
    let from: NodeJS.Require;
    try {
      from = createRequire(require.resolve(lib));
    } catch {
      continue;
    }
    add(from);
    packetsOf(from);
  }
  return found;
}

/** Replaces one loaded `debug` module's exports with a factory of lean loggers. */
function makeLean(path: string, createDebug: CreateDebug): boolean {
  const cached = require.cache[path];
  if (!cached) return false;
  const current = cached.exports as CreateDebug;
  if ((current as unknown as Record<symbol, unknown>)[LEAN]) return true;
  // A Proxy, so enable(), disable(), formatters and the rest stay the package's own, shared state.
  const lean = new Proxy(createDebug, {
    apply: (target, _self, args: [string]) => leanDebug(target(...args)),
    // debug 4 also names itself `default` and `debug`: those are the lean one too.
    get: (target, key, receiver) => (key === LEAN ? true : key === 'default' || key === 'debug' ? lean : Reflect.get(target, key, receiver)),
  });
  cached.exports = lean;
  return true;
}

/**
 * Makes the `debug` packages MQTT.js, mqtt-packet and aedes use hand out lean
 * loggers from now on. Loggers made before (a module that has already loaded)
 * stay as they are, so call it before the MQTT libraries are loaded. Returns
 * whether it is in place (false when no such library is installed).
 */
export function installLeanDebug(): boolean {
  const found = mqttDebugModules();
  let all = found.size > 0;
  for (const [path, createDebug] of found) all = makeLean(path, createDebug) && all;
  return all;
}
