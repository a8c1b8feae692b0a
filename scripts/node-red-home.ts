/**
 * Where the commands that need Node-RED find it. The package brings no Node-RED of its own (a user's
 * Node-RED is the one it runs in; node-red is a devDependency and an optional peer): a checkout and the
 * image have it beside the package, a user's own Node-RED is usually the `node-red` command on PATH.
 */
import { existsSync, realpathSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

/** A command needs Node-RED and none was found: what to install, in one line. */
export class NodeRedMissingError extends Error {}

/** The `node-red` command on PATH, resolved to its package folder (npm links it to node-red/red.js). */
function nodeRedOnPath(env: NodeJS.ProcessEnv): string | undefined {
  const names = process.platform === 'win32' ? ['node-red.cmd', 'node-red'] : ['node-red'];
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of names) {
      const bin = join(dir, name);
      if (!existsSync(bin)) continue;
      try {
        const real = realpathSync(bin);
        // npm's link: .../node_modules/node-red/red.js; a Windows shim sits beside node_modules/node-red.
        for (const pkg of [dirname(real), join(dirname(real), 'node_modules', 'node-red')]) {
          if (existsSync(join(pkg, 'package.json')) && existsSync(join(pkg, 'red.js'))) return pkg;
        }
      } catch {
        // A dangling link: not a Node-RED.
      }
    }
  }
  return undefined;
}

/**
 * The folder of one of Node-RED's packages (`@node-red/nodes`, ...): the one beside this package, else
 * the one of the `node-red` command on PATH. Throws NodeRedMissingError saying what to install.
 */
export function nodeRedPackage(name: string, needs: string, env: NodeJS.ProcessEnv = process.env): string {
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // Not beside the package: a user's own Node-RED.
  }
  const onPath = nodeRedOnPath(env);
  if (onPath) {
    try {
      return dirname(require.resolve(`${name}/package.json`, { paths: [onPath] }));
    } catch {
      // A node-red command without that package: said below.
    }
  }
  throw new NodeRedMissingError(`${needs} needs Node-RED, and none was found beside this package or as the node-red command on PATH: install Node-RED (npm install -g node-red), or run it where node-red is installed`);
}
