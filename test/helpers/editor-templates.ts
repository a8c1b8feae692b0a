/**
 * Node templates as Node-RED's editor runs them, for tests: every template's
 * registerType definition loaded in a bare context (no dialog open: validators
 * read the node's own values), and what the editor would flag on a node.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';

type Validator = (this: unknown, v: unknown, opt?: object) => unknown;
interface Property {
  value?: unknown;
  required?: boolean;
  validate?: Validator;
}
interface Def {
  defaults: Record<string, Property>;
  onadd?: (this: Record<string, unknown>) => void;
}

/** A config node in the editor's flows, as eachConfig hands it over. */
export interface ConfigNode {
  id: string;
  type: string;
  z?: string;
  d?: boolean;
}

/** The config nodes the bare editor holds; added() sets them. */
let configNodes: ConfigNode[] = [];

export const root = join(__dirname, '..', '..', '..');

/** Each template's registerType definition, by node type. */
function loadTemplates(): Map<string, Def> {
  const defs = new Map<string, Def>();
  const context = {
    window: {},
    // No dialog is open: every lookup finds nothing, so validators read the node.
    $: () => ({ length: 0 }),
    RED: {
      nodes: {
        registerType: (type: string, def: Def) => void defs.set(type, def),
        node: () => null,
        eachNode: () => undefined,
        eachConfig: (cb: (c: ConfigNode) => unknown) => configNodes.forEach((c) => void cb(c)),
      },
    },
  };
  // The package's resources/ scripts a template loads before its own (editor.js, store-sinks.js, ...), each once.
  const loaded = new Set<string>();
  for (const dir of readdirSync(join(root, 'nodes'))) {
    const file = join(root, 'nodes', dir, `${dir}.html`);
    if (!existsSync(file)) continue;
    const html = readFileSync(file, 'utf8');
    for (const m of html.matchAll(/<script src="resources\/node-red-contrib-upperstack\/([\w.-]+\.js)"><\/script>/g)) {
      if (loaded.has(m[1])) continue;
      loaded.add(m[1]);
      const script = join(root, 'resources', m[1]);
      runInNewContext(readFileSync(script, 'utf8'), context, { filename: script });
    }
    for (const m of html.matchAll(/<script type="text\/javascript">([\s\S]*?)<\/script>/g)) {
      runInNewContext(m[1], context, { filename: file });
    }
  }
  return defs;
}

export const defs = loadTemplates();

/** What Node-RED 4.1's validateNodeProperty decides: true, or the reason (the property's name when there is none). */
export function verdict(def: Def, node: Record<string, unknown>, prop: string): true | string {
  const p = def.defaults[prop];
  const value = node[prop];
  if (typeof value === 'string' && /^\$(\([a-zA-Z_][a-zA-Z0-9_]*\)|\{[a-zA-Z_][a-zA-Z0-9_]*\})$/.test(value)) return true;
  if (p.required && value === '') return prop;
  if (!p.validate) return true;
  if (p.required === false && value === '') return true;
  const res = p.validate.call(node, value, {});
  if (p.validate.length === 2 && typeof res === 'string') return res;
  return res ? true : prop;
}

/** The reasons Node-RED would list for the node, by property. */
export function problems(type: string, node: Record<string, unknown>): Record<string, string> {
  const def = defs.get(type)!;
  const out: Record<string, string> = {};
  for (const prop of Object.keys(def.defaults)) {
    const v = verdict(def, node, prop);
    if (v !== true) out[prop] = v;
  }
  return out;
}

/** A node as the palette adds it, with changes. */
export function fresh(type: string, changes: Record<string, unknown>): Record<string, unknown> {
  const node: Record<string, unknown> = {};
  for (const [prop, p] of Object.entries(defs.get(type)!.defaults)) node[prop] = p.value;
  return { ...node, ...changes };
}

/** A node dropped from the palette onto tab z while the flows hold configs: its defaults, then its onadd, as Node-RED's createNode runs them. */
export function added(type: string, z: string, configs: ConfigNode[]): Record<string, unknown> {
  const node = { ...fresh(type, {}), z };
  configNodes = configs;
  try {
    defs.get(type)!.onadd?.call(node);
  } finally {
    configNodes = [];
  }
  return node;
}
