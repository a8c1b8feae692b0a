/**
 * The package manifests Node-RED's registry leaves in Node's module cache.
 *
 * To find node modules, the registry reads the package.json of every package
 * in the node_modules folders around it, through `require`: each manifest
 * stays in the module cache, and in the `children` of the registry module that
 * required it, for as long as the process runs. With this project's
 * dependencies that is ~520 manifests and ~2.6 MB of heap that an idle runtime
 * keeps for nothing (docs/performance.md, "Memory"). Once the flows have
 * started they are dropped; a later `require` of one (the rescan of a palette
 * install) reads the file again, and whoever kept a manifest's object keeps it.
 */
import { basename } from 'node:path';

/** Removes every cached package.json from `cache` and from its modules' children; returns how many. */
export function forgetPackageManifests(cache: NodeJS.Dict<NodeJS.Module> = require.cache): number {
  const gone = new Set<NodeJS.Module>();
  for (const id of Object.keys(cache)) {
    const m = cache[id];
    if (m !== undefined && basename(id) === 'package.json') {
      gone.add(m);
      delete cache[id];
    }
  }
  if (gone.size === 0) return 0;
  for (const m of Object.values(cache)) {
    if (m !== undefined && m.children.some((c) => gone.has(c))) m.children = m.children.filter((c) => !gone.has(c));
  }
  return gone.size;
}
