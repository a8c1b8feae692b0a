/**
 * The DuckDB files open in this process and who holds each. DuckDB's file lock is per process, so a
 * second instance on a file (two store configs naming it, as an editor import of a pack makes beside the
 * default one) opens without complaint; after that neither instance sees what the other writes, and both
 * checkpoint into the file. The second is refused instead, as unavailable, until the first lets go.
 */
import { resolve } from 'node:path';
import { StoreUnavailableError } from '../errors';

const holders = new Map<string, { holder: object; owner: string }>();

/** Takes `path` for `holder` (described by `owner` in the refusal of another); throws while another holds it. */
export function holdFile(path: string, holder: object, owner: string): void {
  if (path === ':memory:') return;
  // One file under any spelling of its path (relative to the working directory, or absolute).
  const file = resolve(path);
  const held = holders.get(file);
  if (held && held.holder !== holder) {
    throw new StoreUnavailableError(
      `the DuckDB file "${path}" is open in ${held.owner} already (DuckDB lets one store hold a file): use that store, or give this one another file`,
    );
  }
  holders.set(file, { holder, owner });
}

/** Lets `path` go, if `holder` holds it. */
export function releaseFile(path: string, holder: object): void {
  const file = resolve(path);
  if (holders.get(file)?.holder === holder) holders.delete(file);
}
