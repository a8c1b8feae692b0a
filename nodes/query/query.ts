/**
 * upperstack-query: the query API inside a flow. msg.payload holds the same
 * parameters as the HTTP API (device, from, to, fields, limit, cursor; field,
 * every, fn for aggregates) and comes back as the same JSON body.
 */
import type { Node, NodeAPI } from 'node-red';
import { parseAggregateParams, parseReadingsParams, type QueryParams } from '../lib/api/params';
import { aggregateJson, readingsJson } from '../lib/api/format';
import { BadParameterError } from '../lib/errors';
import { onInput } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { requiredStore } from '../shared/store-node';
import { queryMigrations, type QueryNodeDef, type QueryOptions } from './options';

function toParams(payload: unknown): QueryParams {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw new BadParameterError('payload', 'msg.payload must be an object of query parameters, e.g. {"device": "dev1"}');
  }
  const q: QueryParams = {};
  for (const [k, v] of Object.entries(payload)) {
    if (v === undefined || v === null) continue;
    q[k] = Array.isArray(v) ? v.join(',') : v instanceof Date ? v.toISOString() : String(v);
  }
  return q;
}

export = function register(RED: NodeAPI): void {
  function UpperstackQueryNode(this: Node, def: QueryNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<QueryOptions>(def as unknown as Record<string, unknown>, queryMigrations);
    const storeNode = requiredStore(RED, node, config.store);
    if (!storeNode) return;

    onInput(node, async (msg, send, done) => {
      const q = toParams(msg.payload);
      const kind = q.kind === 'aggregate' || q.kind === 'readings' ? q.kind : config.kind;
      if (kind === 'aggregate') {
        const query = parseAggregateParams(q);
        const points = await storeNode.store.aggregate(query);
        msg.payload = JSON.parse(aggregateJson({ device: query.device, field: query.field, fn: query.fn, every: q.every ?? '' }, points)) as unknown;
      } else {
        const page = await storeNode.store.readings(parseReadingsParams(q));
        msg.payload = JSON.parse(readingsJson(q.device ?? '', page)) as unknown;
      }
      send(msg);
      done();
    });
  }

  registerNode(RED, 'upperstack-query', UpperstackQueryNode);
};
