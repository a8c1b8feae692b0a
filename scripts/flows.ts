/**
 * `upperstack flows validate|import|export`: checks a flow pack, adds it to a
 * running Node-RED through the admin API, or saves what is deployed.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { ImportRefusedError, planImport, selectTab, stripCredentials } from '../nodes/lib/flows/import';
import { unsetEnvNeeds } from '../nodes/lib/flows/env-needs';
import { parsePack, typesFromTemplates, validatePack, type FlowNode } from '../nodes/lib/flows/validate';
import { ConfigError } from '../nodes/lib/errors';
import { runtimeUrl, unreachable } from './admin-cli';
import { cliFetch, trustedCa } from './cli-fetch';
import { nodeRedPackage } from './node-red-home';

export class FlowsUsageError extends Error {}

export const FLOWS_HELP = `upperstack flows: work with flow packs

Usage:
  upperstack flows validate <pack.json> [--types extra-types.txt]
  upperstack flows import <pack.json> [--url <editor url>] [--user admin] [--dry-run]
  upperstack flows export [--url <editor url>] [--user admin] [--tab <label>] [--out flows.json]

  --url URL  the runtime's editor (default $UPPERSTACK_URL, else http://127.0.0.1:1880)
  --ca FILE  a CA (PEM) to trust for an https:// runtime, beside the system ones:
             its self-signed certificate, for one (default $UPPERSTACK_CA)

  validate   every node type resolves (Node-RED's core nodes, this package's and
             Dashboard 2's), every reference (wires, store, broker, links, scope,
             ...) names a node of the pack, and no secret is inside (credentials or
             password/token/key properties). Exit status 0 when valid, 1 with the
             problems listed.
  import     adds the pack to the running flows as new tabs (fresh ids), reusing
             the deployed config nodes of the same type and name (the default
             pack's "embedded DuckDB" store, its broker, its dashboard), and
             deploys only the flows that change. It refuses, saying why and
             changing nothing, a pack that would break what is deployed: a
             second store on the same DuckDB file, a second broker or CoAP input
             on the same port, a second HTTP input, query API or alert node, a
             dashboard or HTTP route already served, a node type the runtime
             lacks or a reference that does not resolve. A \${ENV} property is
             named by the value it runs with (this command's environment, else
             the node's default), e.g. "port 5683 (\${UPPERSTACK_COAP_PORT})";
             the flow keeps the reference. A variable the pack declares it
             needs (its tab's "envNeeded": UPPERSTACK_MQTT_URL for
             influx-grafana, ...) that is unset here is named on stderr with
             what it is for; a warning, the exit status stays the same. One
             npm start sets itself (the alerts pack's UPPERSTACK_API_KEY) is
             named as needed only by a Node-RED of your own.
             --dry-run only says what it would do. Exit status 0 when
             imported, 1 when refused.
  export     prints the deployed flows (or one tab with the config nodes it
             uses) without credentials, ready to share or import elsewhere.

  Login: the editor's user (--user, default $UPPERSTACK_USER, else admin) and
  password, taken from UPPERSTACK_PASSWORD or asked for on the terminal (never on
  the command line).
  An editor without a login needs neither. A runtime that does not answer is
  said in one line, exit status 1.
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
    out.push(...moduleTemplates(dir));
  }
  return out;
}

/** The editor templates a Node-RED module declares: the .html beside each .js of its package.json's "node-red".nodes. */
function moduleTemplates(dir: string): string[] {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { 'node-red'?: { nodes?: Record<string, string> } };
  return Object.values(pkg['node-red']?.nodes ?? {})
    .map((file) => join(dir, file.replace(/\.js$/, '.html')))
    .filter((html) => existsSync(html));
}

/** The types a runtime with this package offers: Node-RED's core nodes, the package's own and its Node-RED dependencies'. */
export function knownTypes(): Set<string> {
  // Beside this package in a checkout and the image; a user's own Node-RED's (the node-red command) otherwise.
  const core = nodeRedPackage('@node-red/nodes', 'checking node types (Node-RED\'s core nodes)');
  const root = join(__dirname, '..', '..');
  // This package's own nodes as Node-RED loads them (dist/nodes): the TypeScript sources are not in the npm package or the image.
  return typesFromTemplates([...htmlFiles(join(core, 'core')), ...moduleTemplates(root), ...dependencyTemplates(root)].map((f) => readFileSync(f, 'utf8')));
}

/** Asks for a password on the terminal without echoing it. */
function askPassword(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
    const muted = rl as unknown as { _writeToOutput(s: string): void };
    process.stderr.write(prompt);
    muted._writeToOutput = () => undefined;
    rl.question('', (answer) => {
      rl.close();
      process.stderr.write('\n');
      resolve(answer);
    });
    rl.on('SIGINT', () => {
      rl.close();
      reject(new FlowsUsageError('cancelled'));
    });
  });
}

/** Node-RED's admin API with a login (the editor's token exchange). */
export class AdminClient {
  private token: string | undefined;

  constructor(readonly url: string, private readonly ca?: Buffer) {}

  static async connect(url: string, user: string, password: () => Promise<string>, ca?: Buffer): Promise<AdminClient> {
    const c = new AdminClient(url.replace(/\/+$/, ''), ca);
    let login: Response;
    try {
      login = await cliFetch(`${c.url}/auth/login`, {}, ca);
    } catch (err) {
      throw unreachable(url, err);
    }
    const scheme = (await login.json().catch(() => ({}))) as { type?: string };
    if (scheme.type === 'credentials') {
      const res = await cliFetch(`${c.url}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', username: user, password: await password() }),
      }, ca);
      if (res.status === 429) throw new FlowsUsageError(`the editor refuses logins from here for now: ${res.headers.get('retry-after') ?? 'some'} s (too many wrong passwords)`);
      if (!res.ok) throw new FlowsUsageError(`the editor at ${url} did not accept the login of "${user}" (HTTP ${res.status}): wrong user name or password`);
      c.token = ((await res.json()) as { access_token: string }).access_token;
    } else if (scheme.type && scheme.type !== 'credentials') {
      throw new FlowsUsageError(`the editor at ${url} logs in with "${scheme.type}", which this command cannot do; use a user of the settings' adminAuth`);
    }
    return c;
  }

  async request<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
    let res: Response;
    try {
      res = await cliFetch(this.url + path, {
        method,
        headers: { accept: 'application/json', 'Node-RED-API-Version': 'v2', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      }, this.ca);
    } catch (err) {
      throw unreachable(this.url, err);
    }
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the message
    }
    if (res.status === 401 || res.status === 403) throw new FlowsUsageError(`the editor refused ${method} ${path} (HTTP ${res.status}): this user may not ${method === 'GET' ? 'read' : 'deploy'} flows`);
    return { status: res.status, body: parsed as T };
  }

  async flows(): Promise<{ rev: string; flows: FlowNode[] }> {
    const r = await this.request<{ rev: string; flows: FlowNode[] }>('GET', '/flows');
    if (r.status !== 200) throw new Error(`GET /flows answered ${r.status}: ${JSON.stringify(r.body)}`);
    return r.body;
  }

  /** The node types the runtime has (enabled node sets). */
  async types(): Promise<Set<string>> {
    const r = await this.request<Array<{ types: string[]; enabled?: boolean }>>('GET', '/nodes');
    if (r.status !== 200) throw new Error(`GET /nodes answered ${r.status}`);
    return new Set(r.body.filter((s) => s.enabled !== false).flatMap((s) => s.types));
  }
}

interface LoginOptions {
  url?: string;
  user?: string;
  ca?: string;
}

async function connect(values: LoginOptions): Promise<AdminClient> {
  const url = runtimeUrl(values.url);
  const user = values.user ?? process.env.UPPERSTACK_USER ?? 'admin';
  const ca = trustedCa(values.ca, (m) => new FlowsUsageError(m));
  return AdminClient.connect(url, user, async () => {
    const env = process.env.UPPERSTACK_PASSWORD;
    if (env) return env;
    if (!process.stdin.isTTY) throw new FlowsUsageError('the editor needs a login: set UPPERSTACK_PASSWORD (no terminal to ask on)');
    return askPassword(`password for ${user} at ${url}: `);
  }, ca);
}

interface FlowsArgs {
  values: { url?: string; user?: string; ca?: string; help?: boolean; 'dry-run'?: boolean; tab?: string; out?: string };
  positionals: string[];
}

function options(args: string[]): FlowsArgs {
  try {
    return parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: { url: { type: 'string' }, user: { type: 'string' }, ca: { type: 'string' }, help: { type: 'boolean', short: 'h' }, 'dry-run': { type: 'boolean' }, tab: { type: 'string' }, out: { type: 'string' } },
    });
  } catch (err) {
    throw new FlowsUsageError(`${(err as Error).message}\n\n${FLOWS_HELP}`);
  }
}

/**
 * Names the variables the pack declares it needs that are unset here, before the pack fails at start with a less
 * helpful error. A warning only: the runtime may have them in its own environment, which this command cannot see.
 * Those npm start sets itself (the query API key) are named apart, as needed only by a Node-RED of one's own:
 * this command cannot tell which kind of runtime it talks to.
 */
export function warnUnsetEnv(file: string, pack: readonly FlowNode[], err: NodeJS.WritableStream): void {
  const unset = unsetEnvNeeds(pack, process.env);
  const must = unset.filter((u) => !u.setByNpmStart);
  const ownOnly = unset.filter((u) => u.setByNpmStart);
  const them = (n: number) => (n === 1 ? 'it' : 'them');
  if (must.length > 0) {
    err.write(`warning: ${file} needs ${must.length === 1 ? 'an environment variable' : 'environment variables'} not set here; set ${them(must.length)} in the runtime's environment unless it has ${them(must.length)} already:\n`);
    for (const u of must) err.write(`  ${u.name}: ${u.for}\n`);
  }
  if (ownOnly.length > 0) {
    err.write(`note: ${file} needs ${ownOnly.length === 1 ? 'a variable' : 'variables'} not set here that npm start sets in its runtime itself; only a Node-RED of your own needs ${them(ownOnly.length)} in its environment:\n`);
    for (const u of ownOnly) err.write(`  ${u.name}: ${u.for}\n`);
  }
}

/**
 * One line per variable a pack named in UPPERSTACK_PACKS needs and the first start's environment leaves unset,
 * for settings.ts to print: the pack is deployed all the same and would fail at start or do nothing.
 */
export function startingEnvWarnings(root: string, extra: string | undefined, env: NodeJS.ProcessEnv): string[] {
  const lines: string[] = [];
  for (const name of (extra ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const file = join(root, 'flows', `${name}.json`);
    if (!existsSync(file)) continue;
    for (const u of unsetEnvNeeds(parsePack(readFileSync(file, 'utf8')), env)) lines.push(`UPPERSTACK_PACKS pack "${name}" needs ${u.name}, not set: ${u.for}`);
  }
  return lines;
}

async function runImport(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = options(args);
  if (values.help) return void out.write(FLOWS_HELP), 0;
  const file = positionals[0];
  if (!file) throw new FlowsUsageError(`flows import needs a pack file\n\n${FLOWS_HELP}`);
  if (!existsSync(file)) throw new FlowsUsageError(`pack not found: ${file}`);
  let pack: FlowNode[];
  try {
    pack = parsePack(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new FlowsUsageError(`${file}: ${(err as Error).message}`);
  }
  warnUnsetEnv(basename(file), pack, process.stderr);
  const client = await connect(values as LoginOptions);
  const types = await client.types();
  for (let attempt = 0; ; attempt++) {
    const { rev, flows } = await client.flows();
    let plan;
    try {
      plan = planImport(pack, flows, { knownTypes: types, env: process.env });
    } catch (err) {
      if (!(err instanceof ImportRefusedError)) throw err;
      out.write(`${basename(file)} was not imported; the deployed flows are unchanged:\n`);
      for (const p of err.problems) out.write(`  node ${p.node} (${p.type})${p.property ? ` ${p.property}` : ''}: ${p.message}\n`);
      return 1;
    }
    const summary = `${plan.added.length} nodes on ${plan.tabs.length === 1 ? 'a new tab' : `${plan.tabs.length} new tabs`} (${plan.tabs.map((t) => `"${t}"`).join(', ')})${plan.reused.length ? `, reusing ${plan.reused.map((r) => `${r.type} "${r.name}"`).join(', ')}` : ''}`;
    if (values['dry-run']) {
      out.write(`${basename(file)} would add ${summary}\n`);
      return 0;
    }
    const r = await client.request<{ rev?: string; code?: string; message?: string }>('POST', '/flows', { rev, flows: plan.flows }, { 'Node-RED-Deployment-Type': 'flows' });
    // Someone deployed meanwhile: plan again on what is deployed now.
    if (r.status === 409 && attempt < 2) continue;
    if (r.status !== 200 && r.status !== 204) throw new Error(`deploying answered ${r.status}: ${r.body?.message ?? JSON.stringify(r.body)}`);
    out.write(`${basename(file)} imported: ${summary}\n`);
    return 0;
  }
}

async function runExport(args: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = options(args);
  if (values.help) return void out.write(FLOWS_HELP), 0;
  const client = await connect(values as LoginOptions);
  const { flows } = await client.flows();
  let chosen: FlowNode[];
  try {
    chosen = values.tab ? selectTab(flows, String(values.tab)) : flows;
  } catch (err) {
    throw new FlowsUsageError((err as Error).message);
  }
  const text = JSON.stringify(stripCredentials(chosen), null, 2) + '\n';
  if (values.out) {
    try {
      writeFileSync(String(values.out), text);
    } catch (err) {
      throw new FlowsUsageError(`--out ${String(values.out)} cannot be written: ${(err as Error).message}`);
    }
    process.stderr.write(`${chosen.length} nodes written to ${String(values.out)} (without credentials)\n`);
  } else {
    out.write(text);
  }
  return 0;
}

/**
 * The flows of a first start: the default pack, with the packs `UPPERSTACK_PACKS` names (comma-separated,
 * e.g. "influx-grafana,alerts") imported next to it as `flows import` would. A pack that cannot go beside
 * the default one (http-gateway, coap-devices, data-market: their own inputs, store and query API) is a
 * ConfigError saying how to start with it instead, for `npm start` to print as one line.
 */
export function startingFlows(root: string, extra: string | undefined, flowFile = 'flows.json'): FlowNode[] {
  let flows = parsePack(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8'));
  const names = (extra ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!names.length) return flows;
  const types = knownTypes();
  const available = readdirSync(join(root, 'flows')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
  for (const name of names) {
    if (!available.includes(name) || name === 'pipeline') throw new ConfigError(`UPPERSTACK_PACKS names "${name}", which is not a pack to add (${packsToAdd(root, available, types).join(', ')})`);
    const file = join(root, 'flows', `${name}.json`);
    try {
      flows = planImport(parsePack(readFileSync(file, 'utf8')), flows, { knownTypes: types, env: process.env }).flows;
    } catch (err) {
      if (!(err instanceof ImportRefusedError)) throw err;
      const clashes = [...new Set(err.problems.map((p) => p.type))].join(', ');
      throw new ConfigError(`UPPERSTACK_PACKS names "${name}", a pack that runs instead of the default one, not beside it (its ${clashes} would be second ones): to start with it, unset UPPERSTACK_PACKS and copy ${file} to ${flowFile} before the first start`, { pack: name });
    }
  }
  return flows;
}

/** The packs that go beside the default one: those `flows import` would take into it. */
function packsToAdd(root: string, available: string[], types: Set<string>): string[] {
  const pipeline = parsePack(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8'));
  return available.filter((name) => {
    if (name === 'pipeline') return false;
    try {
      planImport(parsePack(readFileSync(join(root, 'flows', `${name}.json`), 'utf8')), pipeline, { knownTypes: types, env: process.env });
      return true;
    } catch {
      return false;
    }
  });
}

export async function runFlows(argv: string[], out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const [sub, file, ...rest] = argv;
  if (!sub) throw new FlowsUsageError(`a command is needed: validate, import or export\n\n${FLOWS_HELP}`);
  if (sub === '--help' || sub === '-h') {
    out.write(FLOWS_HELP);
    return 0;
  }
  if (sub === 'import') return runImport(argv.slice(1), out);
  if (sub === 'export') return runExport(argv.slice(1), out);
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
