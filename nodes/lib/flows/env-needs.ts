/**
 * The environment a flow pack needs: variables it reads that have no working default, declared on its tab as
 * `"envNeeded": [{"name": "UPPERSTACK_MQTT_URL", "for": "..."}]` (Node-RED keeps the extra tab property and
 * ignores it). A pack's own references cannot tell this: the default pack reads UPPERSTACK_INFLUX_URL as an
 * optional extra, the influx-grafana pack is pointless without it. `flows import` names the unset ones before the
 * pack fails at start with an error about an empty URL, or runs doing nothing.
 *
 * `"setByNpmStart": true` marks a variable `npm start` sets in its runtime itself (the query API key, generated
 * on first start when unset): only a Node-RED of one's own needs it in its environment, so `flows import` says
 * so instead of warning every `npm start` user about a variable they never set.
 */
import type { Env } from './import';
import type { FlowNode, Problem } from './validate';

export interface EnvNeed {
  name: string;
  /** What the variable is for and what goes wrong without it. */
  for: string;
  /** The tab that declares it. */
  tab: string;
  /** `npm start` sets it in the runtime whatever the environment says (settings.ts). */
  setByNpmStart: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function declared(n: FlowNode): unknown[] | undefined {
  return n.type === 'tab' && n.envNeeded !== undefined ? (Array.isArray(n.envNeeded) ? n.envNeeded : [n.envNeeded]) : undefined;
}

/** Malformed declarations, for `flows validate`. */
export function envNeedProblems(pack: readonly FlowNode[]): Problem[] {
  const problems: Problem[] = [];
  for (const n of pack) {
    for (const e of declared(n) ?? []) {
      const need = e as Partial<EnvNeed>;
      const ok =
        typeof e === 'object' && e !== null && typeof need.name === 'string' && NAME.test(need.name) && typeof need.for === 'string' && (need.setByNpmStart === undefined || typeof need.setByNpmStart === 'boolean');
      if (!ok) problems.push({ node: n.id, type: n.type, property: 'envNeeded', message: 'each entry is {"name": "VARIABLE", "for": "what it is for"}, with "setByNpmStart": true when npm start sets it itself' });
    }
  }
  return problems;
}

/** The declared variables of the pack, once each. */
export function envNeeds(pack: readonly FlowNode[]): EnvNeed[] {
  const out = new Map<string, EnvNeed>();
  for (const n of pack) {
    for (const e of declared(n) ?? []) {
      const need = e as Partial<EnvNeed>;
      if (typeof need.name === 'string' && NAME.test(need.name) && !out.has(need.name)) out.set(need.name, { name: need.name, for: String(need.for ?? ''), tab: String(n.label ?? n.id), setByNpmStart: need.setByNpmStart === true });
    }
  }
  return [...out.values()];
}

/** The declared variables neither the environment nor the declaring tab's own variables set (empty counts as unset). */
export function unsetEnvNeeds(pack: readonly FlowNode[], env: Env): EnvNeed[] {
  const tabSets = (tab: FlowNode, name: string) =>
    Array.isArray(tab.env) && (tab.env as Array<{ name?: unknown; value?: unknown }>).some((e) => e?.name === name && typeof e.value === 'string' && e.value.trim() !== '');
  return envNeeds(pack).filter((need) => {
    if ((env[need.name] ?? '').trim() !== '') return false;
    const tab = pack.find((n) => n.type === 'tab' && String(n.label ?? n.id) === need.tab);
    return !(tab && tabSets(tab, need.name));
  });
}
