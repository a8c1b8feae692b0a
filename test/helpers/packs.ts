/** Loads flow packs into node-red-node-test-helper: every Upperstack node of package.json plus the core nodes packs use. */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

/** Core node files by the types they define. */
const CORE: Record<string, string> = {
  inject: '@node-red/nodes/core/common/20-inject.js',
  debug: '@node-red/nodes/core/common/21-debug.js',
  catch: '@node-red/nodes/core/common/25-catch.js',
  status: '@node-red/nodes/core/common/25-status.js',
  'link in': '@node-red/nodes/core/common/60-link.js',
  'link out': '@node-red/nodes/core/common/60-link.js',
  'link call': '@node-red/nodes/core/common/60-link.js',
  comment: '@node-red/nodes/core/common/90-comment.js',
  function: '@node-red/nodes/core/function/10-function.js',
  change: '@node-red/nodes/core/function/15-change.js',
  switch: '@node-red/nodes/core/function/10-switch.js',
};

export type FlowNode = Record<string, unknown> & { id: string; type: string };

export function readPack(name: string): FlowNode[] {
  return JSON.parse(readFileSync(join(ROOT, 'flows', `${name}.json`), 'utf8')) as FlowNode[];
}

/** Dashboard 2's node files by the types they define (widgets and config nodes). */
function dashboardFiles(): Record<string, string> {
  const dir = dirname(require.resolve('@flowfuse/node-red-dashboard/package.json'));
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  return Object.fromEntries(Object.entries(pkg['node-red'].nodes).map(([type, file]) => [type, join(dir, file)]));
}

/** The node modules a set of flows needs: every Upperstack node, and the core and Dashboard 2 ones they use. */
export function nodeModulesFor(flows: readonly FlowNode[]): unknown[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  const ui = flows.some((n) => n.type.startsWith('ui-')) ? dashboardFiles() : {};
  /* eslint-disable @typescript-eslint/no-require-imports */
  const own = Object.values(pkg['node-red'].nodes).map((p) => require(join(ROOT, p)) as unknown);
  const core = [...new Set(flows.map((n) => CORE[n.type] ?? ui[n.type]).filter(Boolean))].map((p) => require(p) as unknown);
  /* eslint-enable @typescript-eslint/no-require-imports */
  return [...own, ...core];
}

/** Loopback and free ports for every listener a pack opens, so packs deploy side by side in tests. */
export function onFreePorts(flows: FlowNode[]): FlowNode[] {
  for (const n of flows) {
    if (n.type === 'upperstack-broker') Object.assign(n, { port: '0', bind: '127.0.0.1' });
    if (n.type === 'upperstack-coap-in') Object.assign(n, { port: '0', bind: '127.0.0.1' });
  }
  return flows;
}

/**
 * The default pack (flows/pipeline.json) with every MQTT input on an external broker through `connection`, the
 * upperstack-mqtt-connection node added with it.
 */
export function pipelineOnConnection(connection: Record<string, unknown> & { id: string }): FlowNode[] {
  const flows = readPack('pipeline');
  for (const n of flows) if (n.type === 'upperstack-mqtt-in') Object.assign(n, { source: 'external', connection: connection.id });
  flows.push({ ...connection, type: 'upperstack-mqtt-connection' });
  return flows;
}
