/**
 * Whether anything but the final 404 would answer a request, read from the
 * route tables of the runtime's Express apps.
 *
 * Node-RED's admin app parses every JSON and form body before any route is
 * matched (Upperstack's own node routes skip it: admin-pass.ts). A body that
 * does not parse becomes an error there, and an error skips every route, so
 * the runtime's error handler would answer a path nothing serves 400 for its
 * body where a well-formed body gets the 404. The handler asks `servedPath`
 * first: a path no route serves gets its 404 whatever the body.
 *
 * Only POST, PUT, PATCH and DELETE are judged; anything this cannot see into
 * counts as serving, so the answer stays the body's 400 as before:
 * - a route of the path and method, or middleware mounted under a matching path;
 * - middleware at the root it does not know to answer nothing (httpNodeAuth,
 *   an embedding's own); `answersNoPathOfItsOwn` marks Upperstack's own;
 * - Node-RED's editor and admin API, mounted as apps whose tables are out of
 *   reach: by the first path segments they serve (NODE_RED_ADMIN_SEGMENTS).
 */
import type { RequestHandler } from 'express';

/**
 * First segments of the paths Node-RED's editor and admin API apps answer a
 * POST, PUT, PATCH or DELETE on (test/nodes/served-path.test.ts reads them off
 * the installed Node-RED).
 */
export const NODE_RED_ADMIN_SEGMENTS: readonly string[] = ['flows', 'flow', 'nodes', 'context', 'library', 'settings', 'theme', 'projects'];

/** Root middleware that answers none of these methods: it reads or decorates the request and goes on. */
export const PASSING_MIDDLEWARE: readonly string[] = [
  'query', // Express
  'expressInit', // Express
  'jsonParser', // body-parser
  'urlencodedParser', // body-parser
  'initialize', // passport
  'corsMiddleware', // cors: answers OPTIONS only
  'serveStatic', // serve-static: answers GET and HEAD only
  'rawBodyCapture', // Node-RED's http in: reads the bodies of its raw routes
];

const JUDGED = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// Through the global symbol registry: the settings file and the nodes may load separate copies of this module.
const ANSWERS_NO_PATH = Symbol.for('upperstack.answersNoPathOfItsOwn');

type Marked = { [ANSWERS_NO_PATH]?: boolean };

/** Marks middleware that answers no path a route does not serve anyway, so `servedPath` reads past it. */
export function answersNoPathOfItsOwn<T extends RequestHandler | ((...args: never[]) => unknown)>(fn: T): T {
  (fn as Marked)[ANSWERS_NO_PATH] = true;
  return fn;
}

interface Layer {
  name?: string;
  handle: ((...args: never[]) => unknown) & Marked & { stack?: unknown };
  regexp: RegExp & { fast_slash?: boolean };
  route?: { methods?: Record<string, boolean | undefined> };
}

/** The part of an Express app this reads: its table, where it is mounted and on what. */
export interface RoutedApp {
  _router?: { stack?: unknown };
  mountpath?: unknown;
  parent?: RoutedApp;
}

/** The runtime's apps: the top-level app, and the node and admin apps nodes are given (mounted on it). */
export interface RuntimeApps {
  top: RoutedApp;
  node: RoutedApp;
  admin: RoutedApp;
}

/** `path` as the app mounted at `mount` sees it; undefined when that app never sees it. */
function within(path: string, mount: unknown): string | undefined {
  if (typeof mount !== 'string') return undefined;
  const base = mount.replace(/\/+$/, '').toLowerCase();
  if (base === '') return path;
  const lower = path.toLowerCase();
  if (lower === base) return '/';
  return lower.startsWith(`${base}/`) ? path.slice(base.length) : undefined;
}

/** `path` as `app` sees it, through every mount from `top` down; null: the app's mounts cannot be read. */
export function pathIn(app: RoutedApp, top: RoutedApp, path: string): string | undefined | null {
  const chain: RoutedApp[] = [];
  for (let a: RoutedApp | undefined = app; a !== top; a = a.parent) {
    if (!a || chain.length > 8) return null;
    chain.unshift(a);
  }
  let p: string | undefined = path;
  for (const a of chain) {
    if (typeof a.mountpath !== 'string') return null;
    p = within(p, a.mountpath);
    if (p === undefined) return undefined;
  }
  return p;
}

function layersOf(stack: unknown): Layer[] | null {
  return Array.isArray(stack) ? (stack as Layer[]) : null;
}

const firstSegment = (path: string): string => (path.split('/')[1] ?? '').toLowerCase();

/**
 * Whether a `method` request for `path` (the full path, no query string) would be answered by
 * something in the runtime's apps other than the final 404. True whenever that cannot be told.
 */
export function servedPath(apps: RuntimeApps, method: string, path: string, opts: { requireHttps?: boolean } = {}): boolean {
  if (!JUDGED.has(method.toUpperCase()) || opts.requireHttps) return true;
  const { top, node, admin } = apps;
  // With the editor, Node-RED mounts the nodes' admin app inside its own admin app (its editor and admin API).
  const editorAdmin = admin.parent && admin.parent !== top ? admin.parent : undefined;
  const known = [top, node, admin, ...(editorAdmin ? [editorAdmin] : [])];
  const work: Array<{ stack: Layer[]; path: string; app?: RoutedApp }> = [];
  for (const app of known) {
    // Express makes an app's table at its first route or middleware.
    const stack = app._router === undefined ? [] : layersOf(app._router.stack);
    const p = pathIn(app, top, path);
    if (!stack || p === null) return true;
    if (p !== undefined) work.push({ stack, path: p, app });
  }
  const m = method.toLowerCase();
  for (let item = work.pop(); item; item = work.pop()) {
    const { stack, path: p, app } = item;
    // Mounted apps show no table; the known ones are walked on their own, any other counts as serving.
    let unseen = stack.filter((l) => l.name === 'mounted_app').length - (app ? known.filter((k) => k !== app && k.parent === app).length : 0);
    if (app && app === editorAdmin) {
      // Node-RED's editor and admin API.
      unseen -= 2;
      if (NODE_RED_ADMIN_SEGMENTS.includes(firstSegment(p))) return true;
    }
    if (unseen > 0) return true;
    for (const layer of stack) {
      if (typeof layer.handle !== 'function' || layer.handle.length === 4) continue; // error handlers
      if (!(layer.regexp instanceof RegExp)) return true; // another Express than 4's layers
      const found = layer.regexp.exec(p);
      if (layer.route) {
        if (found && (layer.route.methods?._all || layer.route.methods?.[m])) return true;
        continue;
      }
      if (layer.name === 'mounted_app' && layer.regexp.fast_slash) continue;
      const inner = layersOf(layer.handle.stack);
      if (inner && found) {
        // A router: its table is walked with the path it sees.
        const rest = p.slice(found[0].length);
        work.push({ stack: inner, path: rest.startsWith('/') ? rest : `/${rest}` });
        continue;
      }
      if (layer.regexp.fast_slash) {
        if (layer.handle[ANSWERS_NO_PATH] || PASSING_MIDDLEWARE.includes(layer.name ?? '')) continue;
        return true;
      }
      if (found) return true;
    }
  }
  return false;
}
