/**
 * The package in a user's own Node-RED, not under `npm start`: this checkout's node_modules/node-red/red.js
 * with a fresh user directory holding the package in its node_modules (a link to this checkout, as
 * `npm install <folder>` makes it), Node-RED's own default settings and nothing of npm start's environment.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { killBeforeCleanup } from './temp';
import { freePort } from './ports';

const ROOT = join(__dirname, '..', '..', '..');

export interface UserNodeRed {
  url: string;
  /** What Node-RED printed so far, stdout and stderr. */
  output(): string;
  /** SIGINT, then SIGKILL after 10 s; nothing when it has exited. */
  stop(): Promise<void>;
}

export interface UserNodeRedOptions {
  /** The user directory, made by the test (tempDir); it gets package.json and node_modules here. */
  userDir: string;
  /** A module of dist/test/helpers preloaded with `node -r`, e.g. 'debug-probe.js'. */
  preload: string;
  /** Besides PATH and HOME (the user directory): a user's shell sets nothing else. */
  env?: Record<string, string>;
  /** The user's flows.json, if any. */
  flows?: unknown[];
  /** What in the log means Node-RED is up (waited for 90 s at most). */
  started: RegExp;
}

export async function startUserNodeRed(o: UserNodeRedOptions): Promise<UserNodeRed> {
  writeFileSync(join(o.userDir, 'package.json'), JSON.stringify({ name: 'node-red-project', version: '0.0.1', private: true }));
  mkdirSync(join(o.userDir, 'node_modules'));
  symlinkSync(ROOT, join(o.userDir, 'node_modules', 'node-red-contrib-upperstack'), 'dir');
  if (o.flows) writeFileSync(join(o.userDir, 'flows.json'), JSON.stringify(o.flows));
  const port = await freePort();
  const red = join(ROOT, 'node_modules', 'node-red', 'red.js');
  const proc: ChildProcess = spawn(process.execPath, ['-r', join(ROOT, 'dist', 'test', 'helpers', o.preload), red, '--userDir', o.userDir, '--port', String(port), '-D', 'uiHost=127.0.0.1'], {
    cwd: o.userDir,
    env: { PATH: process.env.PATH, HOME: o.userDir, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killBeforeCleanup(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = performance.now() + 90_000;
  while (!o.started.test(out)) {
    if (proc.exitCode !== null) throw new Error(`node-red exited with ${proc.exitCode}:\n${out}`);
    if (performance.now() > deadline) throw new Error(`node-red did not start in 90 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    output: () => out,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGINT');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export type NodeSet = { module: string; types: string[]; enabled: boolean; err?: string };

/** The palette's node sets of this package, as GET /nodes lists them, and that answer's status. */
export async function upperstackNodeSets(url: string): Promise<{ status: number; ours: NodeSet[] }> {
  const res = await fetch(`${url}/nodes`, { headers: { accept: 'application/json' } });
  const sets = (await res.json()) as NodeSet[];
  return { status: res.status, ours: sets.filter((s) => s.module === 'node-red-contrib-upperstack') };
}

/** The node types package.json declares to Node-RED. */
export function declaredNodeTypes(): string[] {
  return Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } })['node-red'].nodes);
}
