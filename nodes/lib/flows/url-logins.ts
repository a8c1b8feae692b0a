/**
 * Broker logins left in clear in a data folder's flows by a start from before they went to the credentials:
 * a cluster member's first start wrote UPPERSTACK_CLUSTER_BROKER as given (`mqtt://member:password@broker`)
 * into the MQTT connection node's `url` and the partition node's `broker`. Node properties are kept in the
 * flows file in clear, credentials sealed in the credentials file, so the login moves there.
 *
 * - A connection node's URL login goes to its credentials (user name and password), replacing those it had:
 *   MQTT.js lets a URL's login win over the options' one, so that is the login it has been using all along.
 * - A partition node has no credentials of its own; it logs in with its connection's login unless its broker
 *   URL carries one (which wins, as above). Its URL login is taken out when it is its connection's login
 *   (after the move above; `${VAR}` credentials compared as the variable is set), the member's shape, so it
 *   logs in as before. Another login is left where it is and said, every start: moving it would change which
 *   login one of the two nodes uses, which only the operator can decide.
 *
 * - A store config's server sink (the shared one a member's first start made from UPPERSTACK_CLUSTER_SINK):
 *   its URL login goes to the node's credentials, in the sink's slot when no other sink reads that slot (the
 *   sink's user, password and token, which the URL's login won over), else in a free slot the sink then names.
 *
 * Everything else stays as it is. Running it again changes nothing.
 */
import { shownUrl, splitUrlLogin } from '../security/url-login';
import { freeSlot, slotOf, slotShared } from '../store/credential-slots';
import type { NodeCredentials } from './credentials-file';

interface FlowNode {
  id: string;
  type: string;
  name?: unknown;
  [key: string]: unknown;
}

export interface UrlLoginMove {
  flows: unknown[];
  credentials: NodeCredentials;
  /** What was moved, one sentence per connection node (empty: nothing to write). */
  moved: string[];
  /** Logins left in the flows, and why, one sentence each. */
  left: string[];
}

const CONNECTION = 'upperstack-mqtt-connection';
const PARTITION = 'upperstack-partition';
const STORE = 'upperstack-store-config';

const isNode = (n: unknown): n is FlowNode => typeof n === 'object' && n !== null && typeof (n as FlowNode).id === 'string' && typeof (n as FlowNode).type === 'string';
const named = (kind: string, n: FlowNode) => `the ${kind} node ${typeof n.name === 'string' && n.name ? `"${n.name}" (${n.id})` : n.id}`;

/** A credential as Node-RED gives it to the node: `${VAR}` (the whole value) is the variable's value. */
function resolved(value: unknown, env: NodeJS.ProcessEnv): unknown {
  const m = typeof value === 'string' ? /^\$\{([A-Za-z0-9_]+)\}$/.exec(value) : null;
  return m ? (env[m[1]] ?? '') : value;
}

interface Moves {
  conn: FlowNode;
  username: string;
  /** The connection's own URL, when its login was in it. */
  url?: string;
  partitions: string[];
}

function sentence(m: Moves): string {
  const conn = named('MQTT connection', m.conn);
  const parts = m.partitions.join(', ');
  if (m.url === undefined) return `took the login (user "${m.username}") out of the broker URL of ${parts}: it is the login of ${conn}, which has it in its credentials`;
  const also = m.partitions.length ? ` and of ${parts}` : '';
  return `moved the login (user "${m.username}") in the URL of ${conn}${also} into the connection's credentials; its URL is now ${m.url}`;
}

export function moveUrlLogins(flows: readonly unknown[], credentials: NodeCredentials, env: NodeJS.ProcessEnv): UrlLoginMove {
  const out = flows.map((n) => (isNode(n) ? { ...n } : n));
  const creds: NodeCredentials = { ...credentials };
  const moves = new Map<string, Moves>();
  for (const n of out) {
    if (!isNode(n) || n.type !== CONNECTION || typeof n.url !== 'string') continue;
    const login = splitUrlLogin(n.url);
    if (!login) continue;
    creds[n.id] = { ...creds[n.id], username: login.username, ...(login.password !== undefined ? { password: login.password } : {}) };
    n.url = login.url;
    moves.set(n.id, { conn: n, username: login.username, url: login.url, partitions: [] });
  }
  const left: string[] = [];
  const connections = new Map(out.filter(isNode).filter((n) => n.type === CONNECTION).map((n) => [n.id, n]));
  for (const n of out) {
    if (!isNode(n) || n.type !== PARTITION || typeof n.broker !== 'string') continue;
    const login = splitUrlLogin(n.broker);
    if (!login) continue;
    const conn = typeof n.connection === 'string' ? connections.get(n.connection) : undefined;
    const has = conn ? creds[conn.id] : undefined;
    const password = has ? resolved(has.password, env) : undefined;
    const same = has !== undefined && resolved(has.username, env) === login.username && (login.password ?? password) === password;
    if (!conn || !same) {
      const why = conn ? `not the login of its connection, ${named('MQTT connection', conn)}` : 'and it has no connection node to hold a login';
      left.push(
        `${named('partition', n)} has a login in its broker URL (${shownUrl(n.broker)}), ${why}: it stays there in clear; to move it, give the connection node that login in the editor and take it out of the partition's broker`,
      );
      continue;
    }
    n.broker = login.url;
    const m = moves.get(conn.id) ?? { conn, username: login.username, partitions: [] };
    m.partitions.push(named('partition', n));
    moves.set(conn.id, m);
  }
  const sinkMoves = moveSinkLogins(out, creds, left);
  return { flows: out, credentials: creds, moved: [...[...moves.values()].map(sentence), ...sinkMoves], left };
}

/** The store configs' server sinks' URL logins into their slots (changing `flows` and `creds` in place). */
function moveSinkLogins(flows: unknown[], creds: NodeCredentials, left: string[]): string[] {
  const moved: string[] = [];
  for (const n of flows) {
    if (!isNode(n) || n.type !== STORE || !Array.isArray(n.sinks)) continue;
    const sinks = (n.sinks as unknown[]).map((s) => (typeof s === 'object' && s !== null ? { ...(s as Record<string, unknown>) } : s));
    const objects = sinks.filter((s): s is Record<string, unknown> => typeof s === 'object' && s !== null);
    for (const sink of objects) {
      if ((sink.kind !== 'influxdb' && sink.kind !== 'victoriametrics') || typeof sink.url !== 'string') continue;
      const login = splitUrlLogin(sink.url);
      if (!login) continue;
      const slot = slotShared(sink, objects) ? freeSlot(objects) : slotOf(sink);
      if (slot === undefined) {
        left.push(`the sink "${String(sink.id)}" of ${named('store config', n)} has a login in its URL (${shownUrl(sink.url)}) and every credential slot is taken: it stays there in clear`);
        continue;
      }
      creds[n.id] = { ...creds[n.id], [`user${slot}`]: login.username, [`password${slot}`]: login.password ?? '', [`token${slot}`]: '' };
      sink.url = login.url;
      if (slot !== slotOf(sink)) sink.slot = slot;
      moved.push(`moved the login (user "${login.username}") in the URL of the sink "${String(sink.id)}" of ${named('store config', n)} into its credentials (slot ${slot}); its URL is now ${login.url}`);
    }
    n.sinks = sinks;
  }
  return moved;
}
