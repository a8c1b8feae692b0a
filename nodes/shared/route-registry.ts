/**
 * The one registry of which methods the routes of a node app (RED.httpNode) take, path by path. Both answers
 * that name them ask it: OPTIONS, 204 with `Allow` (route-options.ts), and another method, 405 with the same
 * `Allow` where the final 404 would answer (http.ts), so the two cannot list different methods.
 *
 * A table is registered under an owner for as long as the routes it describes are served: an http in node's
 * from its start to its close, the query API's for the life of the app its routes were added to (Express
 * cannot take a route back out; those that read the store answer 503 while no api node is deployed). An owner registering again
 * replaces its table instead of adding a second; owners on one app are asked in the order they first
 * registered and never replace each other; and the release a registration returns removes that registration
 * only, so a node closing after its successor started does not take the successor's table with it.
 */
import type { UpperstackError } from '../lib/errors';

/** The refusal of a method on a path: the error, answered as JSON, or `body`, the same error in the shape the route's clients read (InfluxDB's). */
export interface WrongMethodAnswer {
  error: UpperstackError;
  body?: string;
}

export interface RouteTable {
  /** The methods the route at `path` (as the node app sees it) takes, OPTIONS included; undefined when none of these routes is there. */
  allowOf(path: string): readonly string[] | undefined;
  /** The refusal of `method` on `path` when a route there takes other methods; undefined when none is there, or it takes this one. */
  refuse(method: string, path: string): WrongMethodAnswer | undefined;
}

type Tables = WeakMap<object, Map<unknown, RouteTable>>;

// Through the global symbol registry: the settings file may load another copy of this module.
const ROUTE_TABLES = Symbol.for('upperstack.routeTables');

function tables(): Tables {
  const g = globalThis as unknown as Record<symbol, Tables | undefined>;
  return (g[ROUTE_TABLES] ??= new WeakMap());
}

/** Registers `table` as `owner`'s routes on `app`, replacing what `owner` registered there before; the release. */
export function registerRoutes(app: object, owner: unknown, table: RouteTable): () => void {
  const all = tables();
  let owners = all.get(app);
  if (!owners) all.set(app, (owners = new Map()));
  owners.set(owner, table);
  return () => {
    const now = all.get(app);
    if (now?.get(owner) === table) now.delete(owner);
  };
}

/** The methods `path` takes on `app`, from the first table that has a route there; undefined when none has. */
export function allowAt(app: object, path: string): readonly string[] | undefined {
  for (const table of tables().get(app)?.values() ?? []) {
    const allow = table.allowOf(path);
    if (allow) return allow;
  }
  return undefined;
}

/** The refusal of `method` on `path` on `app`, from the first table that refuses it; undefined when none does. */
export function refusalAt(app: object, method: string, path: string): WrongMethodAnswer | undefined {
  for (const table of tables().get(app)?.values() ?? []) {
    const wrong = table.refuse(method, path);
    if (wrong) return wrong;
  }
  return undefined;
}
