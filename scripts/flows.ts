/** `upperstack flows validate <pack.json>`: checks a flow pack before it is imported. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parsePack, typesFromTemplates, validatePack } from '../nodes/lib/flows/validate';

export class FlowsUsageError extends Error {}

export const FLOWS_HELP = `upperstack flows: work with flow packs

Usage:
  upperstack flows validate <pack.json> [--types extra-types.txt]

  validate   every node type resolves (Node-RED's core nodes and this package's),
             every reference (wires, store, broker, links, scope, ...) names a node
             of the pack, and no secret is inside (credentials or password/token/key
             properties). Exit status 0 when valid, 1 with the problems listed.
`;

function htmlFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory() && e.name !== 'locales') out.push(...htmlFiles(p));
    else if (e.name.endsWith('.html')) out.push(p);
  }
  return out;
}

/** Editor templates of the Node-RED modules this package depends on (FlowFuse Dashboard 2's widgets). */
function dependencyTemplates(root: string): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const out: string[] = [];
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    let dir: string;
    try {
      dir = dirname(require.resolve(`${name}/package.json`, { paths: [root] }));
    } catch {
      continue;
    }
    const dep = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
    for (const file of Object.values(dep['node-red']?.nodes ?? {})) {
      const html = join(dir, file.replace(/\.js$/, '.html'));
      if (existsSync(html)) out.push(html);
    }
  }
  return out;
}

/** The types a runtime with this package offers: Node-RED's core nodes, the package's own and its Node-RED dependencies'. */
export function knownTypes(): Set<string> {
  const core = dirname(require.resolve('@node-red/nodes/package.json'));
  const root = join(__dirname, '..', '..');
  return typesFromTemplates([...htmlFiles(join(core, 'core')), ...htmlFiles(join(root, 'nodes')), ...dependencyTemplates(root)].map((f) => readFileSync(f, 'utf8')));
}

export async function runFlows(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [sub, file, ...rest] = argv;
  if (!sub || sub === '--help' || sub === '-h') {
    out.write(FLOWS_HELP);
    return 0;
  }
  if (sub !== 'validate') throw new FlowsUsageError(`unknown flows command "${sub}"\n\n${FLOWS_HELP}`);
  if (!file) throw new FlowsUsageError(`flows validate needs a pack file\n\n${FLOWS_HELP}`);
  if (!existsSync(file)) throw new FlowsUsageError(`pack not found: ${file}`);
  const types = knownTypes();
  const i = rest.indexOf('--types');
  if (i !== -1 && rest[i + 1]) for (const t of readFileSync(rest[i + 1], 'utf8').split(/\r?\n/).map((s) => s.trim()).filter(Boolean)) types.add(t);
  let nodes;
  try {
    nodes = parsePack(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FlowsUsageError(`${file}: ${(err as Error).message}`);
  }
  const problems = validatePack(nodes, { knownTypes: types });
  if (problems.length === 0) {
    out.write(`${file}: ${nodes.length} nodes, valid\n`);
    return 0;
  }
  for (const p of problems) out.write(`${file}: node ${p.node} (${p.type})${p.property ? ` ${p.property}` : ''}: ${p.message}\n`);
  out.write(`${problems.length} problem${problems.length === 1 ? '' : 's'}\n`);
  return 1;
}
