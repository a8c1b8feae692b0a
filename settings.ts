/**
 * Node-RED settings for running Upperstack on its own (`npm start`, Docker).
 * Everything comes from the environment; on first start it creates the data
 * folder, the API key and the editor password (kept and printed once the
 * runtime serves), and deploys the default flow pack.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import bcrypt from 'bcryptjs';
import { formatLogLine, loggingSettings } from './nodes/lib/log/json';
import { loginThrottle } from './nodes/lib/security/login';
import { basicAuthGuard } from './nodes/lib/security/basic-auth';
import { rememberDashboardUser } from './nodes/shared/dashboard';
import { adminParserBypass, jsonUntypedErrors } from './nodes/shared/http';
import { nodeRoutesPassAdmin } from './nodes/shared/admin-pass';
import { answersNoPathOfItsOwn } from './nodes/shared/served-path';
import { usersFromFile } from './nodes/alert/users';
import { clusterOptionsFromEnv } from './nodes/lib/cluster/config';
import { clusterPack, type FlowNode as ClusterFlowNode } from './nodes/lib/cluster/pack';
import { startingEnvWarnings, startingFlows } from './scripts/flows';
import { deployedEnvWarnings, keepStartRecord, notAppliedLines, packNames } from './scripts/start-record';
import { serverOnlyPack, storeModeFromEnv } from './nodes/lib/store/store-mode';
import { refusePlaceholderSecrets } from './nodes/lib/security/placeholders';
import { firstStartSecrets } from './scripts/first-start';
import { ConfigError } from './nodes/lib/errors';
import { refuseBadListenPorts } from './nodes/lib/listen-ports';
import { readTlsFiles } from './nodes/lib/security/tls-files';
import { sealCredentials, type NodeCredentials } from './nodes/lib/flows/credentials-file';
import { moveFlowsUrlLogins } from './scripts/url-login-migration';
import { prepareDataDir } from './scripts/data-dir';
import { keepSecrets, readSecrets, type Secrets } from './scripts/secrets-file';

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the upperstack package folder');
    dir = up;
  }
  return dir;
}

const env = process.env;
// Before anything listens: the example's secrets are public.
refusePlaceholderSecrets(env);
env.UPPERSTACK_DATA = resolve(env.UPPERSTACK_DATA || './data');
env.UPPERSTACK_HTTP_PORT ||= '1880';
env.UPPERSTACK_MQTT_PORT ||= '1883';
env.UPPERSTACK_COAP_PORT ||= '5683';
refuseBadListenPorts(env);
env.UPPERSTACK_BIND ||= '127.0.0.1';
// The default pack's InfluxDB sink: on while UPPERSTACK_INFLUX_URL is set (README, configuration).
env.UPPERSTACK_INFLUX_URL ||= '';
env.UPPERSTACK_INFLUX_DB ||= 'upperstack';
env.UPPERSTACK_INFLUX_ORG ||= '';
env.UPPERSTACK_INFLUX_BUCKET ||= '';
env.UPPERSTACK_INFLUX_RETENTION ||= '';
env.UPPERSTACK_INFLUX_TOKEN ||= '';
env.UPPERSTACK_INFLUX_USER ||= '';
env.UPPERSTACK_INFLUX_PASSWORD ||= '';
const dataDir = env.UPPERSTACK_DATA;
const root = packageRoot();

prepareDataDir(dataDir);
const secretsFile = join(dataDir, 'upperstack-secrets.json');
const secrets = readSecrets(secretsFile);
const firstStart: string[] = [];
/** Secrets this start makes for the user: kept only once the runtime serves (scripts/first-start.ts). */
const made: Secrets = {};

if (!secrets.credentialSecret) secrets.credentialSecret = randomBytes(24).toString('base64url');
if (!env.UPPERSTACK_API_KEY && !secrets.apiKey) {
  made.apiKey = randomBytes(24).toString('base64url');
  firstStart.push(`  query API key:   ${made.apiKey}`);
}
const apiKey = env.UPPERSTACK_API_KEY || secrets.apiKey || made.apiKey!;
// Packs log in to the embedded broker as readers with ${UPPERSTACK_API_KEY} (user apikey), generated or not.
env.UPPERSTACK_API_KEY = apiKey;

let adminHash: string;
if (env.UPPERSTACK_ADMIN_PASSWORD) {
  adminHash = bcrypt.hashSync(env.UPPERSTACK_ADMIN_PASSWORD, 10);
} else {
  if (!secrets.adminHash) {
    const password = randomBytes(12).toString('base64url');
    made.adminHash = bcrypt.hashSync(password, 10);
    firstStart.push(`  editor login:    admin / ${password}`);
  }
  adminHash = secrets.adminHash ?? made.adminHash!;
}
// Kept now: the credentials this start may write into the data folder are sealed with it.
keepSecrets(secretsFile, secrets);
if (firstStart.length) {
  firstStartSecrets({
    keep: () => keepSecrets(secretsFile, { ...secrets, ...made }),
    print: () => {
      // Shown once: only the hash of the password is kept.
      const notice = ['Upperstack first start; keep these, they are not shown again:', ...firstStart].join('\n');
      if ((env.UPPERSTACK_LOG_FORMAT ?? '').toLowerCase() === 'json') console.log(formatLogLine({ level: 30, msg: notice }));
      else console.log(['', notice, ''].join('\n'));
    },
  });
}

// Node-RED loads the palette from <userDir>/node_modules; link this package there.
const linkDir = join(dataDir, 'node_modules');
const link = join(linkDir, 'node-red-contrib-upperstack');
mkdirSync(linkDir, { recursive: true });
let linked: boolean;
try {
  linked = lstatSync(link) !== undefined;
} catch {
  linked = false;
}
if (!linked) symlinkSync(root, link, 'dir');

/**
 * Node-RED modules among this package's devDependencies (node-red-contrib-influxdb, for the bench's stock
 * flow) are found by Node-RED's scan of the node_modules folders above its own and would show in the
 * palette of a checkout's `npm start`: kept out, unless installed in the data folder on purpose.
 */
function devOnlyNodeModules(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { devDependencies?: Record<string, string> };
  const out: string[] = [];
  for (const name of Object.keys(pkg.devDependencies ?? {})) {
    let dev: { 'node-red'?: unknown };
    try {
      dev = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as typeof dev;
    } catch {
      continue; // not installed (an install from npm has no devDependencies)
    }
    if (dev['node-red'] && !existsSync(join(dataDir, 'node_modules', name))) out.push(name.slice(name.lastIndexOf('/') + 1));
  }
  return out;
}

const flowFile = join(dataDir, 'flows.json');
// A first start deploys the default pack, and the packs UPPERSTACK_PACKS names next to it.
// Credentials the packs carry (${ENV} references) go to the credentials file, where Node-RED reads them.
// UPPERSTACK_CLUSTER_BROKER makes this instance a cluster member (docs/scaling.md): the packs it starts with
// take its share of the external broker's telemetry and store it in the shared server.
const startingCredentials: Record<string, unknown> = {};
const cluster = clusterOptionsFromEnv(env);
// UPPERSTACK_STORE=influxdb|victoriametrics: that server is the only store (no embedded DuckDB), set when the flows are first written.
const storeMode = storeModeFromEnv(env);
// Node-RED's log is not set up yet: said on stderr (a warn line in the JSON log), as `flows import` would.
const startWarning = (line: string) => {
  if ((env.UPPERSTACK_LOG_FORMAT ?? '').toLowerCase() === 'json') console.log(formatLogLine({ level: 30, msg: line }));
  else process.stderr.write(`upperstack: warning: ${line}\n`);
};
/** Said once, at the start that did it: what the start changed in the data folder. */
const startNotice = (line: string) => {
  // 40: Node-RED's info level.
  if ((env.UPPERSTACK_LOG_FORMAT ?? '').toLowerCase() === 'json') console.log(formatLogLine({ level: 40, msg: line }));
  else process.stderr.write(`upperstack: ${line}\n`);
};
if (!existsSync(flowFile)) {
  let flows = startingFlows(root, env.UPPERSTACK_PACKS, flowFile);
  for (const line of startingEnvWarnings(root, env.UPPERSTACK_PACKS, env)) startWarning(line);
  if (cluster) flows = clusterPack(flows as ClusterFlowNode[], cluster) as typeof flows;
  if (storeMode !== 'duckdb') flows = serverOnlyPack(flows as ClusterFlowNode[], storeMode) as typeof flows;
  for (const n of flows as Array<{ id: string; credentials?: unknown }>) {
    if (n.credentials) startingCredentials[n.id] = n.credentials;
    delete n.credentials;
  }
  writeFileSync(flowFile, JSON.stringify(flows, null, 4));
  keepStartRecord(dataDir, { packs: packNames(env.UPPERSTACK_PACKS), store: storeMode, cluster: (env.UPPERSTACK_CLUSTER_BROKER ?? '').trim() });
} else {
  // The flows are the data folder's own now (scripts/start-record.ts).
  for (const line of notAppliedLines(dataDir, env, storeMode)) startWarning(line);
  for (const line of deployedEnvWarnings(flowFile, env)) startWarning(line);
}

/**
 * The default pack's credentials, sealed in Node-RED's format (aes-256-ctr, key
 * sha256(secret), hex IV then base64): the InfluxDB sink's user, password and
 * token are ${ENV} references, which Node-RED resolves when it starts the node,
 * so secrets stay in the environment. Written while the file holds none (an
 * empty file would also make Node-RED warn "Encrypted credentials not found" at
 * every start).
 */
const credFile = join(dataDir, 'flows_cred.json');
const credText = existsSync(credFile) ? readFileSync(credFile, 'utf8').trim() : '';
if (credText === '' || credText === '{}') {
  // Beside the slots the packs fill (a login taken out of UPPERSTACK_CLUSTER_SINK's URL, nodes/lib/cluster/pack.ts).
  const storeCredentials = { user1: '${UPPERSTACK_INFLUX_USER}', password1: '${UPPERSTACK_INFLUX_PASSWORD}', token1: '${UPPERSTACK_INFLUX_TOKEN}', ...(startingCredentials.us_store_cfg as object | undefined) };
  const packCredentials = { ...startingCredentials, us_store_cfg: storeCredentials };
  writeFileSync(credFile, sealCredentials(packCredentials as NodeCredentials, secrets.credentialSecret), { mode: 0o600 });
}
// A broker login in clear in a URL in the flows (an older start's, or an imported flow's) moves to the credentials (scripts/url-login-migration.ts).
const urlLogins = moveFlowsUrlLogins(dataDir, secrets.credentialSecret, env);
for (const line of urlLogins.moved) startNotice(line);
for (const line of urlLogins.warnings) startWarning(line);

/** Node-RED's logger, once the runtime has loaded it. */
function warn(text: string): void {
  (require('node-red') as { log: { warn(t: string): void } }).log.warn(text);
}

// More people (viewer, operator, rules editor of /upperstack/alerts) in <data>/upperstack-users.json.
const extraUsers = usersFromFile(join(dataDir, 'upperstack-users.json'));

const loginGuard = loginThrottle({
  // Compared even for a wrong user name, so timing does not tell which names exist.
  verify: async (username, password) => {
    const hash = extraUsers.find((u) => u.username === username)?.password ?? adminHash;
    return (await bcrypt.compare(password, hash)) && (username === 'admin' || hash !== adminHash);
  },
  onBlocked: (address, seconds) => warn(`editor login: too many failed logins from ${address}; it is refused for ${Math.round(seconds / 60)} minutes`),
});

// The dashboard (/dashboard, Dashboard 2) asks for an editor user's login too: it shows the data and can acknowledge alerts.
const dashboardGuard = basicAuthGuard({
  realm: 'Upperstack dashboard',
  verify: async (username, password) => {
    const extra = extraUsers.find((u) => u.username === username);
    const hash = extra?.password ?? adminHash;
    if (!(await bcrypt.compare(password, hash)) || !(username === 'admin' || extra)) return undefined;
    return { username, permissions: extra ? extra.permissions : '*' };
  },
  onBlocked: (address, seconds) => warn(`dashboard login: too many failed logins from ${address}; it is refused for ${Math.round(seconds / 60)} minutes`),
});

// Behind a reverse proxy, login throttling must see the client's address, not the proxy's.
function trustProxy(value: string | undefined): boolean | number | string | undefined {
  if (!value) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  return /^\d+$/.test(value) ? Number(value) : value;
}
/**
 * HTTPS from a PEM key and certificate (UPPERSTACK_HTTPS_KEY / _CERT, docs/security.md). A function, so
 * Node-RED reads the files again every httpsRefreshInterval hours: a renewed certificate needs no restart.
 */
function httpsFromEnv(): { https?: () => Record<string, unknown>; httpsRefreshInterval?: number } {
  const keyFile = env.UPPERSTACK_HTTPS_KEY;
  const certFile = env.UPPERSTACK_HTTPS_CERT;
  const caFile = env.UPPERSTACK_HTTPS_CA;
  if (!keyFile && !certFile) return {};
  if (!keyFile || !certFile) throw new ConfigError('HTTPS needs both UPPERSTACK_HTTPS_KEY and UPPERSTACK_HTTPS_CERT (PEM files)');
  // With a device CA, a device may log in with a client certificate it signed (the CN is the device id);
  // clients without one are still served and log in as before, so the CA never locks anyone out.
  const read = () => {
    const files = readTlsFiles(
      { setting: 'UPPERSTACK_HTTPS_KEY', file: keyFile },
      { setting: 'UPPERSTACK_HTTPS_CERT', file: certFile },
      caFile ? { setting: 'UPPERSTACK_HTTPS_CA', file: caFile } : undefined,
    );
    return { key: files.key, cert: files.cert, ...(files.ca ? { ca: files.ca, requestCert: true, rejectUnauthorized: false } : {}) };
  };
  // Read and checked once now: a wrong path or a key of another certificate stops the start in one line
  // (scripts/start.ts, exit status 1), where Node-RED would log a stack trace and stop with status 0.
  read();
  return { https: read, httpsRefreshInterval: 12 };
}
const httpsSettings = httpsFromEnv();
// The embedded broker's TLS listener takes the same files unless it is given its own (nodes/broker, docs/security.md).
if (env.UPPERSTACK_HTTPS_KEY && !env.UPPERSTACK_MQTT_TLS_KEY) env.UPPERSTACK_MQTT_TLS_KEY = resolve(env.UPPERSTACK_HTTPS_KEY);
if (env.UPPERSTACK_HTTPS_CERT && !env.UPPERSTACK_MQTT_TLS_CERT) env.UPPERSTACK_MQTT_TLS_CERT = resolve(env.UPPERSTACK_HTTPS_CERT);
// And the device CA: a device certificate that logs in over HTTPS logs in over MQTT on TLS too.
if (env.UPPERSTACK_HTTPS_CA && !env.UPPERSTACK_MQTT_TLS_CA) env.UPPERSTACK_MQTT_TLS_CA = resolve(env.UPPERSTACK_HTTPS_CA);

const httpServerOptions: Record<string, unknown> = {};
const trusted = trustProxy(env.UPPERSTACK_TRUST_PROXY);
if (trusted !== undefined) httpServerOptions['trust proxy'] = trusted;

export = {
  uiPort: Number(env.UPPERSTACK_HTTP_PORT),
  uiHost: env.UPPERSTACK_BIND,
  ...httpsSettings,
  userDir: dataDir,
  flowFile: 'flows.json',
  flowFilePretty: true,
  credentialSecret: secrets.credentialSecret,
  adminAuth: {
    type: 'credentials',
    users: [{ username: 'admin', password: adminHash, permissions: '*' }, ...extraUsers],
  },
  httpAdminRoot: '/',
  httpNodeRoot: '/',
  httpServerOptions,
  // Runs before Node-RED's admin body parser and its login route. Upperstack's own node routes
  // (API, health, metrics, inputs) leave the admin app first: it is not theirs (nodes/shared/admin-pass.ts).
  // The login guard answers only POST /auth/token, Node-RED's own route (nodes/shared/served-path.ts).
  httpAdminMiddleware: [nodeRoutesPassAdmin('/'), adminParserBypass(), jsonUntypedErrors(), answersNoPathOfItsOwn(loginGuard)],
  apiMaxLength: '5mb',

  functionExternalModules: false,
  externalModules: { palette: { allowInstall: false } },
  nodesExcludes: devOnlyNodeModules(),
  contextStorage: {
    default: { module: 'memory' },
    file: { module: 'localfilesystem' },
  },
  // A closed network: no update checks.
  telemetry: { enabled: false },
  diagnostics: { enabled: true, ui: true },
  editorTheme: {
    page: { title: 'Upperstack' },
    header: { title: 'Upperstack' },
    // Off by default; `enabled: false` would only add a warning at every start.
    projects: {},
    tours: false,
    palette: { categories: ['upperstack', 'dashboard 2', 'common', 'function', 'network', 'sequence', 'parser', 'storage'] },
  },
  dashboard: {
    middleware: dashboardGuard.http,
    ioMiddleware: (socket: { id: string; request: never; on(e: string, f: () => void): void }, next: (err?: Error) => void) =>
      dashboardGuard.io(socket, next, (id, user) => socket.on('disconnect', rememberDashboardUser(id, user))),
  },
  // UPPERSTACK_LOG_FORMAT=json: one JSON object per line (nodes/lib/log/json.ts).
  logging: loggingSettings(env.UPPERSTACK_LOG_FORMAT, env.UPPERSTACK_LOG_LEVEL),
  upperstack: {
    dataDir,
    apiKey,
    // How far past its arrival a reading's time may be, in seconds (nodes/lib/reading-time.ts); unset: 86400, 0: no bound.
    maxAheadSeconds: env.UPPERSTACK_MAX_AHEAD_SECONDS,
    // /health thresholds in seconds (nodes/lib/api/health.ts); unset keeps the defaults of 30, 300, 60 and 30,
    // a store's healthy probe answer serves /health for 1 s, and /health waits at most 1.5 s for a store's probe.
    health: {
      storeFailingSeconds: env.UPPERSTACK_HEALTH_STORE_SECONDS,
      unsettledSeconds: env.UPPERSTACK_HEALTH_UNSETTLED_SECONDS,
      backpressureSeconds: env.UPPERSTACK_HEALTH_BACKPRESSURE_SECONDS,
      connectionFailingSeconds: env.UPPERSTACK_HEALTH_CONNECTION_SECONDS,
      probeReuseSeconds: env.UPPERSTACK_HEALTH_PROBE_REUSE_SECONDS,
      probeWaitSeconds: env.UPPERSTACK_HEALTH_PROBE_WAIT_SECONDS,
    },
  },
};
