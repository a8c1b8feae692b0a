/**
 * What the Dockerfile's build stage leaves in node_modules, worked out from its text and package-lock.json
 * without running npm (no registry needed): `npm ci`, then `npm prune --omit=dev` keeps the lock's
 * production packages, then an `npm install --no-save --save-prod --omit=dev <name>@<version>` puts a
 * development package back (node-red, which the image runs) with the dependencies the lock gives it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface LockEntry {
  version?: string;
  dev?: boolean;
  link?: boolean;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

/** The build stage's RUN commands, each split into its `&&` steps, continuation lines joined. */
export function buildSteps(dockerfile: string): string[] {
  const build = dockerfile.split(/^FROM /m)[1];
  const runs = [...build.replace(/\\\n\s*/g, ' ').matchAll(/^RUN (.+)$/gm)].map((m) => m[1]);
  return runs.flatMap((r) => r.split(/\s+&&\s+/).map((s) => s.trim()));
}

/** A shell variable set in a step, `NAME=$(node -p "...")`: its value, the expression run in the project folder. */
function assignment(step: string, root: string): [string, string] | undefined {
  const m = /^([A-Z_]+)=\$\(node -p "([^"]+)"\)$/.exec(step);
  return m ? [m[1], execFileSync(process.execPath, ['-p', m[2]], { cwd: root, encoding: 'utf8' }).trim()] : undefined;
}

/** The lock path `name` resolves to from the package at lock path `from` (Node's lookup up the folders). */
function resolveIn(lock: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (lock[candidate]) return candidate;
    if (!dir) return undefined;
    const i = dir.lastIndexOf('/node_modules/');
    dir = i === -1 ? '' : dir.slice(0, i);
  }
}

export interface ImageModules {
  /** Lock paths of the packages the image's node_modules holds. */
  paths: Set<string>;
  /** Development packages put back after the prune, as `name@version` with the version the command asks for. */
  reinstalled: string[];
}

export function imageModules(root: string, dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')): ImageModules {
  const lock = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const steps = buildSteps(dockerfile);
  const ci = steps.findIndex((s) => /^npm ci\b/.test(s));
  if (ci === -1) throw new Error('the build stage does not run npm ci');
  const prune = steps.findIndex((s) => /^npm prune\b.*--omit=dev\b/.test(s));
  const all = Object.keys(lock).filter((k) => k && !lock[k].link);
  const paths = new Set(prune === -1 ? all : all.filter((k) => !lock[k].dev));
  const reinstalled: string[] = [];
  const vars = new Map<string, string>();
  for (const step of prune === -1 ? [] : steps.slice(prune + 1)) {
    const set = assignment(step, root);
    if (set) vars.set(...set);
    if (!/^npm install\b/.test(step)) continue;
    const words = step.split(/\s+/).slice(2).map((w) => w.replace(/^"(.*)"$/, '$1').replace(/\$\{?([A-Z_]+)\}?/g, (_, v: string) => vars.get(v) ?? ''));
    const flags = words.filter((w) => w.startsWith('-'));
    // Without --save-prod the package stays a dev one to npm and --omit=dev leaves it out; without
    // --no-save package.json would change; without --omit=dev the dev packages come back.
    if (!['--no-save', '--save-prod', '--omit=dev'].every((f) => flags.includes(f))) continue;
    for (const spec of words.filter((w) => !w.startsWith('-'))) {
      const at = spec.lastIndexOf('@');
      const name = spec.slice(0, at);
      const version = spec.slice(at + 1);
      reinstalled.push(`${name}@${version}`);
      const top = `node_modules/${name}`;
      // Another version than the lock's is resolved afresh from the registry: not the lock's tree.
      if (lock[top]?.version !== version) continue;
      const queue = [top];
      while (queue.length) {
        const next = queue.pop()!;
        paths.add(next);
        const entry = lock[next];
        for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) {
          const found = resolveIn(lock, next, dep);
          if (found && !paths.has(found)) queue.push(found);
        }
      }
    }
  }
  return { paths, reinstalled };
}
