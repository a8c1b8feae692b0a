/**
 * Libraries that Node-RED, its core nodes and Dashboard 2 require when they
 * load but call only for one feature, loaded with that feature's first use
 * instead of at start.
 *
 * Each stays in memory for the life of the process once required, and an idle
 * runtime with the default pack never calls any of them: together they were
 * ~5 MB of V8 heap (114 modules) and, through axios, Node's own fetch
 * implementation (undici, ~2 MB of heap and ~1.7 MB of the node binary's
 * pages), which axios touches when it loads (it reads the global `FormData`,
 * `Request` and `Response`, which Node creates on first access).
 * docs/performance.md ("Memory") has the measurements.
 *
 * A deferred library's entry in the module cache is a stand-in: the first
 * property read, call or `new` through it requires the real library (which
 * then replaces the stand-in in the cache) and forwards to it, so code that
 * requires it later gets the library itself. Only libraries whose requirers
 * read them inside functions are listed: a requirer that destructures the
 * library when it loads would load it at once (correct, but nothing gained).
 * `npm start` installs this before Node-RED loads anything.
 */
import Module, { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** The requiring file (resolved from this package) and the library it requires, with what uses it. */
export const DEFERRED_MODULES: ReadonlyArray<{ from: string; request: string; usedBy: string }> = [
  { from: '@flowfuse/node-red-dashboard/nodes/config/ui_base.js', request: 'axios', usedBy: 'Dashboard 2: saving a flow edited in the dashboard' },
  { from: '@node-red/util/lib/util.js', request: 'moment-timezone', usedBy: "JSONata's $moment() and a formatted timestamp property (an inject node's date format)" },
  { from: '@node-red/registry/lib/installer.js', request: 'tar', usedBy: 'installing a node module from an uploaded tarball' },
  { from: '@node-red/nodes/core/parsers/70-HTML.js', request: 'cheerio', usedBy: 'the html node' },
  { from: '@node-red/nodes/core/parsers/70-YAML.js', request: 'js-yaml', usedBy: 'the yaml node and the template node with YAML output' },
  { from: '@node-red/nodes/core/network/21-httpin.js', request: 'multer', usedBy: 'the http in node with file uploads' },
];

const STAND_IN = Symbol.for('upperstack.deferredModule');

/**
 * A stand-in for the module at `path` in the module cache, unless the module
 * is loaded already. Returns whether one was put in place.
 */
export function deferModule(path: string): boolean {
  // The cache every require() in the process shares (Module._cache).
  const cache = require.cache;
  if (cache[path]) return false;
  const load = createRequire(path);
  let real: unknown;
  let loaded = false;
  const library = (): object => {
    if (!loaded) {
      // Out of the cache first, or require() would hand back the stand-in.
      if (cache[path]?.exports === standIn) delete cache[path];
      real = load(path);
      loaded = true;
    }
    return real as object;
  };
  // A bound function: callable and constructible, with no own `prototype` to answer for.
  const target = function () {}.bind(undefined);
  const standIn: object = new Proxy(target, {
    get: (_t, key) => (key === STAND_IN && !loaded ? true : Reflect.get(library(), key)),
    set: (_t, key, value) => Reflect.set(library(), key, value),
    has: (_t, key) => Reflect.has(library(), key),
    apply: (_t, self, args: unknown[]) => Reflect.apply(library() as (...a: unknown[]) => unknown, self, args),
    construct: (_t, args: unknown[]) => Reflect.construct(library() as new (...a: unknown[]) => object, args),
    ownKeys: () => Reflect.ownKeys(library()),
    // Reported configurable: the proxy's own target has none of these properties.
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(library(), key);
      return d && { ...d, configurable: true };
    },
    getPrototypeOf: () => Reflect.getPrototypeOf(library()),
  });
  const entry = new Module(path);
  entry.filename = path;
  entry.paths = [];
  entry.loaded = true;
  entry.exports = standIn;
  cache[path] = entry;
  return true;
}

/** Whether `exports` is a stand-in whose library has not been loaded yet. */
export function isDeferred(exports: unknown): boolean {
  return (typeof exports === 'function' || typeof exports === 'object') && exports !== null && (exports as Record<symbol, unknown>)[STAND_IN] === true;
}

/**
 * Puts stand-ins for DEFERRED_MODULES in place, each resolved as its requirer
 * would resolve it; a requirer that is not installed is passed over. Returns
 * the libraries deferred.
 */
export function installDeferredModules(list = DEFERRED_MODULES): string[] {
  const done: string[] = [];
  for (const { from, request } of list) {
    let path: string;
    try {
      path = createRequire(dirname(require.resolve(from)) + '/').resolve(request);
    } catch {
      continue;
    }
    if (deferModule(path)) done.push(request);
  }
  return done;
}
