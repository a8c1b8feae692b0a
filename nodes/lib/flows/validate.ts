/**
 * Checks a flow pack before it is imported: every node type is one the runtime
 * knows, every reference to a config node (or another node) names a node of
 * the pack (or one deployed already), and no secret travels inside it.
 * Problems say which node and which property.
 */
import { envNeedProblems } from './env-needs';

export interface FlowNode {
  id: string;
  type: string;
  z?: string;
  name?: string;
  [key: string]: unknown;
}

export interface Problem {
  node: string;
  type: string;
  property?: string;
  message: string;
}

export interface ValidateOptions {
  /** Node types the runtime offers. */
  knownTypes: ReadonlySet<string>;
  /** Ids of nodes already deployed, which references may also name. */
  deployedIds?: ReadonlySet<string>;
}

/** A value that names an environment variable, e.g. ${UPPERSTACK_API_KEY}. */
const ENV_REF = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;

/** Property names that hold secrets; a pack carries them as credentials, never inline. */
const SECRET_NAME = /(password|passwd|secret|token|api[-_]?key|private[-_]?key|credential)s?$/i;
/** Properties that name another node by id, besides the known config ones. */
const REFERENCE_PROPS = new Set(['store', 'broker', 'connection', 'server', 'tls', 'links', 'scope', 'g', 'z']);
/** Dashboard 2 widgets and config nodes name their group, page, base and theme by id. */
const UI_REFERENCE_PROPS = new Set(['group', 'page', 'ui', 'theme']);
const BUILTIN = new Set(['tab', 'subflow', 'group', 'junction']);

export function parsePack(text: string): FlowNode[] {
  const v = JSON.parse(text) as unknown;
  const list = Array.isArray(v) ? v : typeof v === 'object' && v !== null && Array.isArray((v as { flows?: unknown }).flows) ? (v as { flows: unknown[] }).flows : undefined;
  if (!list) throw new Error('a flow pack is a JSON array of nodes (as Node-RED exports it)');
  list.forEach((n, i) => {
    if (typeof n !== 'object' || n === null || typeof (n as FlowNode).id !== 'string' || typeof (n as FlowNode).type !== 'string') {
      throw new Error(`entry ${i} is not a node: each needs a string "id" and "type"`);
    }
  });
  return list as FlowNode[];
}

export function validatePack(nodes: readonly FlowNode[], opts: ValidateOptions): Problem[] {
  const problems: Problem[] = [];
  const ids = new Map<string, FlowNode>();
  for (const n of nodes) {
    if (ids.has(n.id)) problems.push({ node: n.id, type: n.type, message: `the id ${n.id} is used twice` });
    ids.set(n.id, n);
  }
  const exists = (id: string) => ids.has(id) || (opts.deployedIds?.has(id) ?? false);
  const subflows = new Set(nodes.filter((n) => n.type === 'subflow').map((n) => n.id));
  for (const n of nodes) {
    const known = BUILTIN.has(n.type) || opts.knownTypes.has(n.type) || (n.type.startsWith('subflow:') && subflows.has(n.type.slice(8)));
    if (!known) problems.push({ node: n.id, type: n.type, message: `unknown node type "${n.type}": install the module that provides it` });
    // Credentials that name environment variables (Node-RED resolves them when the node starts) carry no secret,
    // nor does a user name.
    const carried = (k: string, v: unknown) => v !== '' && v !== undefined && v !== null && !(typeof v === 'string' && (ENV_REF.test(v) || /^(user|username)$/i.test(k)));
    if ('credentials' in n && n.credentials && typeof n.credentials === 'object' && Object.entries(n.credentials as object).some(([k, v]) => carried(k, v))) {
      problems.push({ node: n.id, type: n.type, property: 'credentials', message: 'the pack carries credentials: export without them and set them after import (or use ${ENV} variables)' });
    }
    for (const [key, value] of Object.entries(n)) {
      if (key === 'id' || key === 'type' || key === 'credentials') continue;
      if (SECRET_NAME.test(key) && typeof value === 'string' && value !== '' && !ENV_REF.test(value)) {
        problems.push({ node: n.id, type: n.type, property: key, message: `"${key}" holds a secret inline: use a credential or an \${ENV} variable` });
      }
      // The core mqtt-broker config node's "broker" is its host name, not a node.
      const isRef = (REFERENCE_PROPS.has(key) && !(n.type === 'mqtt-broker' && key === 'broker')) || (n.type.startsWith('ui-') && UI_REFERENCE_PROPS.has(key));
      const refs = key === 'wires' ? (Array.isArray(value) ? value.flat() : []) : isRef ? (Array.isArray(value) ? value : [value]) : [];
      for (const ref of refs) {
        if (typeof ref !== 'string' || ref === '') continue;
        if (!exists(ref)) problems.push({ node: n.id, type: n.type, property: key, message: `${key} names ${ref}, which is neither in the pack nor deployed` });
      }
    }
  }
  problems.push(...envNeedProblems(nodes));
  return problems;
}

/** Node types Node-RED's core and this package define, from their editor templates. */
export function typesFromTemplates(htmls: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const html of htmls) for (const m of html.matchAll(/data-template-name="([^"]+)"/g)) out.add(m[1]);
  return out;
}
