/**
 * The editor's Backtest button: POST /upperstack-anomaly/backtest on the admin
 * API. It takes the settings as they stand in the edit dialog, saved or not,
 * so a change can be tried on stored history before it is deployed. It needs
 * no deployed anomaly node, only a deployed store config.
 */
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { backtestErrorResponse, bodyObject, MAX_BODY_BYTES, runBacktest, seriesRangeOf } from '../lib/api/backtest';
import { BadParameterError } from '../lib/errors';
import type { QueryResponse } from '../lib/api/handlers';
import { installJsonErrors, jsonBody } from '../shared/http';
import { migrate } from '../shared/config';
import type { StoreConfigNode } from '../store-config/options';
import { anomalyMigrations, engineOptionsOf, type AnomalyOptions } from './options';

export const BACKTEST_PATH = '/upperstack-anomaly/backtest';

// Keyed by app, as the query API's routes: a fresh admin app gets the route again.
const routesAdded = new WeakSet<object>();

function send(res: Response, r: QueryResponse): void {
  res.status(r.status).type(r.contentType).send(r.body);
}

export function registerBacktestRoute(RED: NodeAPI): void {
  installJsonErrors(RED);
  if (routesAdded.has(RED.httpAdmin)) return;
  routesAdded.add(RED.httpAdmin);

  /** `{config: <the dialog's settings>, device, field, from?, to?}` → what the API's backtest gives. */
  function prepare(raw: unknown) {
    const body = bodyObject(raw);
    const cfg = body.config;
    if (typeof cfg !== 'object' || cfg === null || Array.isArray(cfg)) {
      throw new BadParameterError('config', RED._('upperstack-anomaly.backtest.errors.config'));
    }
    const options = migrate<AnomalyOptions>(cfg as Record<string, unknown>, anomalyMigrations);
    const range = seriesRangeOf(body);
    const engine = engineOptionsOf(options);
    if (engine.fields && !engine.fields.includes(range.field)) {
      throw new BadParameterError('field', RED._('upperstack-anomaly.backtest.errors.notWatched', { field: range.field, fields: engine.fields.join(', ') }));
    }
    if (!options.store) throw new BadParameterError('store', RED._('upperstack-anomaly.backtest.errors.noStore'));
    const storeNode = RED.nodes.getNode(options.store) as StoreConfigNode | null;
    if (!storeNode?.store) throw new BadParameterError('store', RED._('upperstack-anomaly.backtest.errors.storeNotDeployed'));
    const { detector, threshold, warmup, units } = engine;
    return { store: storeNode.store, query: { ...range, engine: { detector, threshold, warmup, units } } };
  }

  RED.httpAdmin.post(BACKTEST_PATH, RED.auth.needsPermission('upperstack-anomaly.write'), jsonBody(MAX_BODY_BYTES), (req: Request, res: Response) => {
    runBacktest(() => prepare((req as { body?: unknown }).body)).then(
      (r) => send(res, r),
      (err: Error) => send(res, backtestErrorResponse(err)),
    );
  });
}
