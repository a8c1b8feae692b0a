/**
 * Node config versions. Each node's defaults carry `configVersion`; configs saved
 * by older versions are brought forward one step at a time at deploy.
 */
export type Migration<T> = (old: Record<string, unknown>) => Record<string, unknown> & Partial<T>;

export function migrate<T>(config: Record<string, unknown>, steps: ReadonlyArray<Migration<T>>): T {
  let version = Number(config.configVersion ?? 0);
  let current: Record<string, unknown> = { ...config };
  while (version < steps.length) {
    current = { ...steps[version](current), configVersion: version + 1 };
    version++;
  }
  return current as T;
}

/** Reads a port from config text (it may come from ${ENV} substitution). */
export function parsePort(value: unknown, fallback: number): number {
  if (value === undefined || value === null || value === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n >= 0 && n <= 65535 ? n : NaN;
}

import type { NodeAPI } from 'node-red';
import { installReadingsCopy } from './fan-out';

/**
 * registerType with this package's node types: Node-RED's typings tie the
 * constructor's `this` to credential types of `unknown`, which our typed
 * credentials and config-node interfaces refine, hence the one cast.
 */
export function registerNode<TThis, TDef>(
  RED: NodeAPI,
  type: string,
  ctor: (this: TThis, def: TDef) => void,
  opts?: { credentials?: Record<string, { type: 'text' | 'password' }> },
): void {
  installReadingsCopy(RED);
  RED.nodes.registerType(type, ctor as unknown as Parameters<NodeAPI['nodes']['registerType']>[1], opts as Parameters<NodeAPI['nodes']['registerType']>[2]);
}
