/**
 * Plans the import of a flow pack into a running Node-RED's deployed flows, as
 * `upperstack flows import` does it: the pack's tabs and nodes get fresh ids
 * (so a pack imported twice, or next to one with the same ids, never replaces
 * anything), its config nodes are reused when one of the same type and name is
 * deployed, and the import is refused, with the reason, when it would break
 * what is deployed: a second DuckDB store on the same file (DuckDB locks it),
 * a second broker or CoAP input on the same port, a second invoice node of a series, a second HTTP input, query
 * API or alert node (their routes and the one rule set exist once per
 * runtime), a second dashboard on the same path, an HTTP route already taken,
 * or a reference the runtime cannot resolve.
 */
import { randomBytes } from 'node:crypto';
import { validatePack, type FlowNode, type Problem } from './validate';

export interface ImportPlan {
  /** Deployed flows plus the pack's nodes, ready for POST /flows. */
  flows: FlowNode[];
  /** The pack's new nodes as deployed (fresh ids). */
  added: FlowNode[];
  /** Pack config nodes replaced by deployed ones: pack id → deployed node. */
  reused: Array<{ type: string; name: string; id: string }>;
  /** The new tabs' labels. */
  tabs: string[];
}

export class ImportRefusedError extends Error {
  override readonly name = 'ImportRefusedError';
  constructor(readonly problems: Problem[]) {
    super(`the pack was not imported: ${problems.map((p) => `node ${p.node} (${p.type})${p.property ? ` ${p.property}` : ''}: ${p.message}`).join('; ')}`);
  }
}

const CONTAINERS = new Set(['tab', 'subflow', 'group', 'junction']);

/** Flow nodes live on a tab or in a subflow (`z`) and have wires; config nodes have neither. */
function isConfig(n: FlowNode): boolean {
  return !n.z && !('wires' in n) && !CONTAINERS.has(n.type) && !n.type.startsWith('subflow:');
}

export function freshId(): string {
  return randomBytes(8).toString('hex');
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Node-RED's whole-property reference, `${NAME}`: replaced when NAME is set, left as written when not. */
const ENV_REF = /^\$\{(\S+)\}$/;

/**
 * A property as Node-RED hands it to the node: a `${NAME}` property takes the value of the node's tab's
 * environment (its `str` entries), else the global one (`global-config`), else the process's (`env`).
 */
function envResolver(flows: readonly FlowNode[], env: Env): (n: FlowNode, v: string) => string {
  const scopes = new Map<string, Map<string, string>>();
  for (const f of flows) {
    if ((f.type !== 'tab' && f.type !== 'global-config') || !Array.isArray(f.env)) continue;
    const vars = new Map<string, string>();
    for (const e of f.env as Array<{ name?: unknown; value?: unknown; type?: unknown }>) {
      if (typeof e?.name === 'string' && (e.type === 'str' || e.type === undefined) && typeof e.value === 'string') vars.set(e.name, e.value);
    }
    scopes.set(f.type === 'tab' ? f.id : '\u0000global', vars);
  }
  return (n, v) => {
    const name = ENV_REF.exec(v)?.[1];
    if (!name) return v;
    for (const scope of [n.z ? scopes.get(n.z) : undefined, scopes.get('\u0000global')]) {
      const value = scope?.get(name);
      if (value !== undefined) return value;
    }
    return env[name] ?? v;
  };
}

/**
 * What one running instance can have only once, as a key: a node of the pack
 * whose key a deployed node (not reused) already has would break one of them.
 * Keys hold the values the nodes run with (`${ENV}` resolved, the nodes' own
 * defaults when unset), so a placeholder and the number it stands for clash;
 * `shown` is that value as the refusal says it, with the reference beside it.
 */
function exclusiveKey(n: FlowNode, resolve: (n: FlowNode, v: string) => string): { key: string; why: string; shown: string } | undefined {
  const s = (v: unknown) => (v === undefined || v === null ? '' : String(v).trim());
  let shown = '';
  // The value a node runs with: the reference resolved, else the node's default (an unset one means "not set").
  const r = (v: unknown, fallback = ''): string => {
    const raw = s(v);
    const value = resolve(n, raw).trim();
    const effective = value === '' || ENV_REF.test(value) ? fallback || value : value;
    shown = ENV_REF.test(raw) && effective !== raw ? `${effective} (${raw})` : effective;
    return effective;
  };
  const k = exclusiveKeyOf(n, s, r);
  return k && { ...k, shown };
}

function exclusiveKeyOf(n: FlowNode, s: (v: unknown) => string, r: (v: unknown, fallback?: string) => string): { key: string; why: string } | undefined {
  switch (n.type) {
    case 'upperstack-store-config': {
      const sinks = Array.isArray(n.sinks) ? (n.sinks as Array<Record<string, unknown>>) : [{ kind: n.kind ?? 'duckdb', path: n.path ?? '' }];
      const duck = sinks.find((k) => s(k.kind || 'duckdb') === 'duckdb');
      if (!duck) return undefined;
      const path = r(duck.path, '<data>/upperstack.duckdb');
      return { key: `duckdb:${path}`, why: `a second store on the DuckDB file {value}: DuckDB lets one store hold a file, so one of them would fail to open. Name the pack's store config like the deployed one ("{deployed}") to share it, or give it another file` };
    }
    case 'upperstack-broker':
      return { key: `mqtt-port:${r(n.port, '1883')}`, why: 'a second embedded broker on port {value}, which the deployed one listens on' };
    case 'upperstack-coap-in':
      return { key: `coap-port:${r(n.port, '5683')}`, why: 'a second CoAP input on port {value}, which the deployed one listens on' };
    case 'upperstack-http-in':
    case 'upperstack-api':
    case 'upperstack-alert':
      return { key: n.type, why: `a second ${n.type} node: its routes (and, for alerts, the one rule set) exist once per runtime, and one is deployed already ("{deployed}")` };
    case 'upperstack-invoice':
      return { key: `invoice-series:${r(n.series, 'INV')}`, why: 'a second invoice node of the series {value}, which the deployed one ("{deployed}") numbers: both would bill the same customers and months from one gap-free series. Give the pack\'s invoice node a series of its own, or keep the deployed one' };
    case 'ui-base':
      return { key: `ui-path:${r(n.path, '/dashboard')}`, why: 'a second Dashboard 2 base at {value}, which the deployed dashboard serves' };
    case 'http in':
      return { key: `http:${s(n.method).toUpperCase()} ${s(n.url)}`, why: 'the HTTP route {value} is served by a deployed http in node already' };
    default:
      return undefined;
  }
}

function valueOf(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}

/** Nodes that run: not disabled, not on a disabled tab. */
function active(flows: readonly FlowNode[]): FlowNode[] {
  const off = new Set(flows.filter((n) => n.type === 'tab' && n.disabled === true).map((n) => n.id));
  return flows.filter((n) => n.d !== true && !(n.z && off.has(n.z)));
}

/** Replaces every id the map knows in a node's references: top-level strings and arrays (of arrays) of strings. */
function remap(n: FlowNode, ids: ReadonlyMap<string, string>): FlowNode {
  const swap = (v: unknown): unknown => (typeof v === 'string' ? (ids.get(v) ?? v) : Array.isArray(v) ? v.map(swap) : v);
  const out: FlowNode = { ...n };
  for (const [k, v] of Object.entries(n)) {
    if (k === 'id' || k === 'type' || k === 'name' || k === 'info' || k === 'label') continue;
    out[k] = swap(v);
  }
  out.id = ids.get(n.id) ?? n.id;
  if (n.type.startsWith('subflow:')) out.type = `subflow:${ids.get(n.type.slice(8)) ?? n.type.slice(8)}`;
  return out;
}

/**
 * `env`: the environment `${NAME}` properties are resolved in for the refusals' keys and messages (the
 * runtime's when the caller runs beside it); the flows keep the references as written.
 */
export function planImport(pack: readonly FlowNode[], deployed: readonly FlowNode[], opts: { knownTypes: ReadonlySet<string>; env?: Env }): ImportPlan {
  const problems: Problem[] = [];
  // Deployed config nodes by type and name: the pack's of the same type and name are the same thing.
  const byName = new Map<string, FlowNode>();
  for (const n of deployed) if (isConfig(n) && typeof n.name === 'string' && n.name) byName.set(`${n.type}\u0000${n.name}`, n);
  const ids = new Map<string, string>();
  const reused: ImportPlan['reused'] = [];
  for (const n of pack) {
    const match = isConfig(n) && typeof n.name === 'string' && n.name ? byName.get(`${n.type}\u0000${n.name}`) : undefined;
    if (match) {
      ids.set(n.id, match.id);
      reused.push({ type: n.type, name: String(n.name), id: match.id });
    } else {
      ids.set(n.id, freshId());
    }
  }
  const reusedIds = new Set(reused.map((r) => r.id));
  const added = pack.filter((n) => !reusedIds.has(ids.get(n.id)!)).map((n) => remap(n, ids));

  const taken = new Map<string, FlowNode>();
  const resolve = envResolver([...deployed, ...added], opts.env ?? {});
  for (const n of active(deployed)) {
    const k = exclusiveKey(n, resolve);
    if (k) taken.set(k.key, n);
  }
  for (const n of active(added)) {
    const k = exclusiveKey(n, resolve);
    const other = k ? taken.get(k.key) : undefined;
    if (k && other) {
      const packId = [...ids].find(([, to]) => to === n.id)?.[0] ?? n.id;
      problems.push({ node: packId, type: n.type, message: k.why.replace('{value}', k.shown || valueOf(k.key)).replace('{deployed}', String(other.name || other.id)) });
    } else if (k) {
      taken.set(k.key, n);
    }
  }
  // Types the runtime has and references that resolve, against the deployed ids too (link nodes may name deployed ones).
  const deployedIds = new Set(deployed.map((n) => n.id));
  for (const p of validatePack(added, { knownTypes: opts.knownTypes, deployedIds })) {
    const packId = [...ids].find(([, to]) => to === p.node)?.[0] ?? p.node;
    problems.push({ ...p, node: packId, message: p.message.replace(/names (\S+),/, (_, id: string) => `names ${[...ids].find(([, to]) => to === id)?.[0] ?? id},`) });
  }
  if (!added.some((n) => !isConfig(n))) problems.push({ node: '-', type: '-', message: 'the pack has no flow to add (only config nodes, all deployed already)' });
  if (problems.length) throw new ImportRefusedError(problems);

  // Nodes exported without a tab (a selection) go on a new tab of their own.
  const tabs = added.filter((n) => n.type === 'tab');
  const loose = added.filter((n) => !isConfig(n) && !CONTAINERS.has(n.type) && !n.z);
  if (loose.length) {
    const tab: FlowNode = { id: freshId(), type: 'tab', label: 'Imported', disabled: false, info: '' };
    for (const n of loose) n.z = tab.id;
    added.unshift(tab);
    tabs.push(tab);
  }
  return { flows: [...deployed, ...added], added, reused, tabs: tabs.map((t) => String(t.label ?? t.id)) };
}

/** A deployed flow for sharing: credentials removed (the admin API never sends their values, but a flows file may hold them). */
export function stripCredentials(flows: readonly FlowNode[]): FlowNode[] {
  return flows.map((n) => {
    const { credentials: _drop, ...rest } = n as FlowNode & { credentials?: unknown };
    return rest as FlowNode;
  });
}

/** One tab with the config nodes its nodes use (directly or through other config nodes). */
export function selectTab(flows: readonly FlowNode[], label: string): FlowNode[] {
  const tab = flows.find((n) => n.type === 'tab' && (n.label === label || n.id === label));
  if (!tab) throw new Error(`no tab "${label}"; the tabs are: ${flows.filter((n) => n.type === 'tab').map((n) => `"${String(n.label)}"`).join(', ')}`);
  const byId = new Map(flows.map((n) => [n.id, n]));
  const out = new Map<string, FlowNode>([[tab.id, tab]]);
  for (const n of flows) if (n.z === tab.id) out.set(n.id, n);
  const queue = [...out.values()];
  while (queue.length) {
    const n = queue.shift()!;
    for (const [k, v] of Object.entries(n)) {
      if (k === 'id' || k === 'z' || k === 'wires') continue;
      for (const ref of Array.isArray(v) ? v.flat() : [v]) {
        const c = typeof ref === 'string' ? byId.get(ref) : undefined;
        if (c && isConfig(c) && !out.has(c.id)) {
          out.set(c.id, c);
          queue.push(c);
        }
      }
    }
  }
  return [...out.values()];
}
