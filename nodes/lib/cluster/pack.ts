/**
 * The default pack as a cluster member (docs/scaling.md): device telemetry from
 * the external broker through MQTT 5 shared subscriptions
 * (`$share/<group>/devices/+/telemetry`) on a persistent session, journaled
 * before it is acknowledged as on the embedded broker; readings stored in the
 * shared time-series server (and the embedded store, which keeps dead letters
 * and the device registry); the query API reading from the shared server.
 * Everything else in the pack stays as it is.
 */
import { splitUrlLogin } from '../security/url-login';
import { freeSlot } from '../store/credential-slots';
import type { ClusterOptions } from './config';

export interface FlowNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

export const CLUSTER_CONNECTION_ID = 'us_cluster_broker';
export const PARTITION_NODE_ID = 'us_cluster_partition';
/** Nodes that keep per-device state: in a cluster they get a device's readings from its partition's owner only. */
const ANALYTICS = new Set(['upperstack-anomaly', 'upperstack-alert']);
export const SHARED_SINK_ID = 'shared';

export function clusterPack(pack: readonly FlowNode[], o: ClusterOptions): FlowNode[] {
  // Node properties are kept in the flows file in clear: a login in the broker URL goes to the connection's
  // credentials (sealed in the credentials file) and the URL without it to the nodes. MQTT.js lets a URL's
  // login win over the connection's, so it does here too.
  const inUrl = splitUrlLogin(o.broker);
  const broker = inUrl?.url ?? o.broker;
  const credentials = inUrl
    ? { username: inUrl.username, ...(inUrl.password !== undefined ? { password: inUrl.password } : {}) }
    : o.login
      ? { username: '${UPPERSTACK_CLUSTER_BROKER_USERNAME}', password: '${UPPERSTACK_CLUSTER_BROKER_PASSWORD}' }
      : undefined;
  const out: FlowNode[] = pack.map((n) => {
    if (n.type === 'upperstack-mqtt-in') {
      return { ...n, source: 'external', connection: CLUSTER_CONNECTION_ID, broker: '', group: o.group, qos: 1 };
    }
    if (n.type === 'upperstack-store-config') {
      const sinks = Array.isArray(n.sinks) ? (n.sinks as Array<Record<string, unknown>>).filter((s) => s.id !== SHARED_SINK_ID) : [];
      const shared: Record<string, unknown> = { id: SHARED_SINK_ID, kind: o.sink.kind, url: o.sink.url, database: o.sink.database, api: o.sink.kind === 'influxdb' ? 'v1' : 'v2' };
      // As the broker's: a login in the shared server's URL goes to the store config's credentials, in a slot
      // of the shared sink's own (the HTTP clients do not take a login from the URL either).
      const sinkLogin = splitUrlLogin(o.sink.url);
      const slot = sinkLogin ? freeSlot(sinks) : undefined;
      if (!sinkLogin || slot === undefined) return { ...n, name: `embedded DuckDB + shared ${o.sink.kind}`, sinks: [...sinks, shared], querySink: SHARED_SINK_ID };
      const credentials = { ...(n.credentials as Record<string, unknown> | undefined), [`user${slot}`]: sinkLogin.username, [`password${slot}`]: sinkLogin.password ?? '' };
      return {
        ...n,
        name: `embedded DuckDB + shared ${o.sink.kind}`,
        sinks: [...sinks, { ...shared, url: sinkLogin.url, slot }],
        querySink: SHARED_SINK_ID,
        credentials,
      };
    }
    // The store config reads from the shared server, which cannot be asked for the latest values: the dashboard's
    // live node would only warn at every start that it cannot start from it.
    if (n.type === 'upperstack-live') return { ...n, store: '' };
    return { ...n };
  });
  // Store → partition → anomaly/alerts: per-device state lives on the member owning the device's partition.
  const types = new Map(out.map((n) => [n.id, n.type]));
  let partition: FlowNode | undefined;
  for (const n of out) {
    if (n.type !== 'upperstack-store' || !Array.isArray(n.wires)) continue;
    const wires = n.wires as string[][];
    const first = wires[0] ?? [];
    const analytics = first.filter((id) => ANALYTICS.has(types.get(id) ?? ''));
    if (analytics.length === 0) continue;
    partition ??= {
      id: PARTITION_NODE_ID,
      type: 'upperstack-partition',
      z: n.z,
      name: 'partition by device',
      broker,
      group: o.group,
      member: o.member,
      partitions: o.partitions,
      leaseSeconds: Math.round(o.leaseMs / 1000),
      prefix: 'upperstack/p',
      checkpointSeconds: Math.round(o.checkpointMs / 1000),
      connection: CLUSTER_CONNECTION_ID,
      configVersion: 2,
      x: typeof n.x === 'number' ? n.x + 120 : 0,
      y: typeof n.y === 'number' ? n.y + 60 : 0,
      wires: [[]],
    };
    const pw = (partition.wires as string[][])[0];
    for (const id of analytics) if (!pw.includes(id)) pw.push(id);
    n.wires = [[...first.filter((id) => !analytics.includes(id)), PARTITION_NODE_ID], ...wires.slice(1)];
  }
  if (partition) out.push(partition);
  out.push({
    id: CLUSTER_CONNECTION_ID,
    type: 'upperstack-mqtt-connection',
    name: `cluster broker (${o.group})`,
    url: broker,
    // Stable across restarts: the broker keeps this member's session (and what it had not acknowledged) for it.
    clientId: `upperstack-${o.group}-${o.member}`.slice(0, 128),
    protocolVersion: 5,
    persistent: true,
    keepalive: 30,
    ca: o.tls.ca,
    cert: o.tls.cert,
    key: o.tls.key,
    rejectUnauthorized: true,
    // As the editor saves a new connection (nodes/mqtt-connection/options.ts, DEFAULT_RECEIVE_MAXIMUM): opened
    // and closed there, it is not marked changed.
    receiveMaximum: 100,
    configVersion: 2,
    // Moved to the credentials file by settings.ts; Node-RED resolves the variables' references when it starts
    // the node, so that secret stays in the environment and never appears in the flows.
    ...(credentials ? { credentials } : {}),
  });
  return out;
}
