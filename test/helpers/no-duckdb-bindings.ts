/**
 * Preloaded (`node -r`) into a Node-RED a test starts: DuckDB's native part
 * cannot be found, as on a platform DuckDB has no build for or after
 * `npm install --omit=optional`, where npm leaves the optional
 * `@duckdb/node-bindings-<platform>-<arch>` package out. Refused the way Node
 * refuses a package that is not installed.
 */
import Module from 'node:module';

type Resolve = (request: string, ...rest: unknown[]) => string;
const resolver = Module as unknown as { _resolveFilename: Resolve };
const resolve = resolver._resolveFilename;
resolver._resolveFilename = function (request, ...rest) {
  if (/^@duckdb\/node-bindings-[^/]+\/duckdb\.node$/.test(request)) {
    throw Object.assign(new Error(`Cannot find module '${request}'`), { code: 'MODULE_NOT_FOUND' });
  }
  return resolve.call(this, request, ...rest);
};
