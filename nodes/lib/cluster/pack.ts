/**
 * The default pack as a cluster member (docs/scaling.md): device telemetry from
 * the external broker through MQTT 5 shared subscriptions
 * (`$share/<group>/devices/+/telemetry`) on a persistent session, journaled
 * before it is acknowledged as on the embedded broker; readings stored in the
 * shared time-series server (and the embedded store, which keeps dead letters
 * and the device registry); the query API reading from the shared server.
 * Everything else in the pack stays as it is.
 */
import type { ClusterOptions } from './config';

export interface FlowNode {
  id: string;
  type: string;
  [key: string]: unknown;
}

export const CLUSTER_CONNECTION_ID = 'us_cluster_broker';
export const SHARED_SINK_ID = 'shared';

export function clusterPack(pack: readonly FlowNode[], o: ClusterOptions): FlowNode[] {
  const out: FlowNode[] = pack.map((n) => {
    if (n.type === 'upperstack-mqtt-in') {
      return { ...n, source: 'external', connection: CLUSTER_CONNECTION_ID, broker: '', group: o.group, qos: 1 };
    }
    if (n.type === 'upperstack-store-config') {
      const sinks = Array.isArray(n.sinks) ? (n.sinks as Array<Record<string, unknown>>).filter((s) => s.id !== SHARED_SINK_ID) : [];
      return {
        ...n,
        name: `embedded DuckDB + shared ${o.sink.kind}`,
        sinks: [...sinks, { id: SHARED_SINK_ID, kind: o.sink.kind, url: o.sink.url, database: o.sink.database, api: o.sink.kind === 'influxdb' ? 'v1' : 'v2' }],
        querySink: SHARED_SINK_ID,
      };
    }
    return { ...n };
  });
  out.push({
    id: CLUSTER_CONNECTION_ID,
    type: 'upperstack-mqtt-connection',
    name: `cluster broker (${o.group})`,
    url: o.broker,
    // Stable across restarts: the broker keeps this member's session (and what it had not acknowledged) for it.
    clientId: `upperstack-${o.group}-${o.member}`.slice(0, 128),
    protocolVersion: 5,
    persistent: true,
    keepalive: 30,
    ca: '',
    cert: '',
    key: '',
    rejectUnauthorized: true,
    configVersion: 1,
  });
  return out;
}
