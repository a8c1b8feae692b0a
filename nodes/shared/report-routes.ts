/**
 * HTTP routes of reports and invoices on Node-RED's HTTP server, with the
 * query API's key and error bodies:
 *   GET  /api/v1/reports                 produced reports, newest first
 *   GET  /api/v1/reports/{id}/{file}     one of their files
 *   POST /api/v1/reports/run             a report definition → produced now
 *   GET  /api/v1/invoices                issued invoices, newest first
 *   GET  /api/v1/invoices/{id}/{file}    one of their files
 *   POST /api/v1/invoices/run            {"period":"2026-10","customer":"acme"}
 * Added once per runtime when the node types load; they answer whatever nodes
 * are deployed at the time of the request.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import type { Request, Response } from 'express';
import { bodyObject } from '../lib/api/backtest';
import { routeParams } from '../lib/api/query-string';
import { BadParameterError, ConfigError, ConflictError, StoreUnavailableError } from '../lib/errors';
import { Archive, type ArchiveEntry } from '../lib/report/archive';
import { checkDefinition, type ReportDefinition } from '../lib/report/definition';
import { explicitPeriod, periodAt, periodTime } from '../lib/report/period';
import { produceReport } from '../lib/report/produce';
import { retiredInRegistry } from './devices';
import type { InvoiceRun } from '../lib/billing/produce';
import type { TimeSeriesStore } from '../lib/store/types';
import { installJsonErrors, jsonBody, readsOwnBody, requireApiKey, sendError, sendFailure } from './http';
import { dataDir } from './runtime';
import type { StoreConfigNode } from '../store-config/options';
import { answerApiMethods } from './api-methods';

export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_KEEP = 30;

export function reportsDir(RED: NodeAPI): string {
  return join(dataDir(RED), 'reports');
}
export function invoicesDir(RED: NodeAPI): string {
  return join(dataDir(RED), 'invoices');
}
export function ledgerDir(RED: NodeAPI): string {
  return join(dataDir(RED), 'invoice-ledger');
}

/** A deployed report node, so that POST /reports/run {"name": ...} can run it with its settings. */
export interface ReportProvider {
  definition: ReportDefinition;
  storeId: string;
  keep: number;
}

/** A deployed invoice node: its series and how it runs. */
export interface InvoiceProvider {
  series: string;
  run(month: string, customer: string | undefined, trigger: string): Promise<InvoiceRun>;
}

const reportNodes = new Set<ReportProvider>();
const invoiceNodes = new Set<InvoiceProvider>();

export function provideReport(p: ReportProvider): () => void {
  reportNodes.add(p);
  return () => reportNodes.delete(p);
}
export function provideInvoices(p: InvoiceProvider): () => void {
  invoiceNodes.add(p);
  return () => invoiceNodes.delete(p);
}

/** No node of the kind the route needs is deployed. */
class NotDeployedError extends Error {}

function fail(res: Response, err: unknown, log: (text: string) => void): void {
  if (err instanceof NotDeployedError) return sendError(res, 503, 'NOT_DEPLOYED', err.message);
  // Settings that come in a request are the client's to fix.
  if (err instanceof ConfigError) return sendError(res, 400, 'BAD_PARAMETER', err.message, { parameter: String(err.details.path ?? '') });
  sendFailure(res, err, log);
}

/** A store-config named by id, or the only one deployed. */
async function storeOf(RED: NodeAPI, id: unknown): Promise<TimeSeriesStore> {
  let node: StoreConfigNode | null;
  if (id !== undefined) {
    if (typeof id !== 'string') throw new BadParameterError('store', '"store" must be the id of an upperstack-store-config node');
    node = RED.nodes.getNode(id) as StoreConfigNode | null;
    if (!node || node.type !== 'upperstack-store-config') throw new BadParameterError('store', `no store config with id "${id}" is deployed`);
  } else {
    const ids: string[] = [];
    RED.nodes.eachNode((n) => {
      if (n.type === 'upperstack-store-config') ids.push(n.id);
    });
    const deployed = ids.map((i) => RED.nodes.getNode(i) as StoreConfigNode | null).filter((n): n is StoreConfigNode => !!n);
    if (deployed.length === 0) throw new NotDeployedError('no upperstack-store-config node is deployed');
    if (deployed.length > 1) throw new BadParameterError('store', `${deployed.length} stores are deployed: name one with "store" (a store config node id)`);
    node = deployed[0];
  }
  try {
    await node.ready;
  } catch (err) {
    throw new StoreUnavailableError(`the store cannot be opened: ${(err as Error).message}`);
  }
  return node.store;
}

function listing(kind: 'reports' | 'invoices', e: ArchiveEntry) {
  return { ...e, files: e.files.map((f) => ({ ...f, url: `/api/v1/${kind}/${encodeURIComponent(e.id)}/${encodeURIComponent(f.name)}` })) };
}

function sendFile(archive: Archive, req: Request, res: Response): void {
  const found = archive.file(String(req.params.id), String(req.params.file));
  if (!found) return sendError(res, 404, 'NOT_FOUND', `no file "${String(req.params.file).slice(0, 80)}" in "${String(req.params.id).slice(0, 80)}"`);
  const type = found.file.contentType;
  res.status(200);
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', String(found.file.size));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  // The HTML report needs nothing from anywhere: no scripts, inline styles and SVG only.
  res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:");
  const inline = /^(application\/pdf|text\/html)/.test(type);
  res.setHeader('Content-Disposition', `${inline ? 'inline' : 'attachment'}; filename="${found.file.name}"`);
  const stream = createReadStream(found.path);
  stream.on('error', () => {
    if (!res.headersSent) for (const h of ['Content-Length', 'Content-Disposition', 'Content-Security-Policy']) res.removeHeader(h);
    sendError(res, 404, 'NOT_FOUND', 'the file is gone');
  });
  stream.pipe(res);
}

/** The definition a POST /reports/run body describes: a deployed report's settings by name, changed by the body. */
function definitionFrom(body: Record<string, unknown>): { def: ReportDefinition; provider?: ReportProvider } {
  const { from: _f, to: _t, store: _s, ...rest } = body;
  const provider = typeof body.name === 'string' ? [...reportNodes].find((p) => p.definition.name === body.name) : undefined;
  return { def: checkDefinition(rest, provider?.definition), provider };
}

async function runReport(RED: NodeAPI, raw: unknown): Promise<{ status: number; body: unknown }> {
  const body = bodyObject(raw);
  const { def, provider } = definitionFrom(body);
  const store = await storeOf(RED, body.store ?? provider?.storeId);
  const now = Date.now();
  let period;
  if (body.from !== undefined || body.to !== undefined) {
    const text = (name: string) => {
      const v = body[name];
      if (typeof v === 'number') return String(v);
      if (typeof v === 'string') return v;
      throw new BadParameterError(name, `"${name}" is required with "${name === 'from' ? 'to' : 'from'}": ISO 8601 or an epoch time`);
    };
    period = explicitPeriod(periodTime('from', text('from'), def.timezone), periodTime('to', text('to'), def.timezone), def.timezone);
  } else period = periodAt(def.period, now, def.timezone);
  const r = await produceReport(def, period, { store, isRetired: retiredInRegistry, archive: new Archive(reportsDir(RED)), now, keep: provider?.keep ?? DEFAULT_KEEP, trigger: 'api' });
  return { status: 201, body: listing('reports', r.entry) };
}

async function runInvoices(raw: unknown): Promise<{ status: number; body: unknown }> {
  const body = bodyObject(raw);
  for (const k of Object.keys(body)) {
    if (!['period', 'customer', 'series'].includes(k)) throw new BadParameterError(k, `"${k}" is not a parameter here; give period, customer and (with several invoice nodes) series`);
  }
  if (typeof body.period !== 'string') throw new BadParameterError('period', '"period" is required: the month to invoice, e.g. "2026-10"');
  if (body.customer !== undefined && typeof body.customer !== 'string') throw new BadParameterError('customer', '"customer" must be text');
  const nodes = [...invoiceNodes];
  if (nodes.length === 0) throw new NotDeployedError('no upperstack-invoice node is deployed: deploy one with your tariffs');
  const series = [...new Set(nodes.map((n) => n.series))];
  const wanted = body.series ?? (series.length === 1 ? series[0] : undefined);
  const found = nodes.filter((n) => n.series === wanted);
  if (found.length === 0) throw new BadParameterError('series', `"series" must name the series of a deployed invoice node: ${series.join(', ')}`);
  // Two nodes numbering one series would each bill the same customers and months: neither is the one to run.
  if (found.length > 1) throw new ConflictError(`${found.length} invoice nodes are deployed with the series "${String(wanted)}": a series is numbered by one node; give the others a series of their own and deploy`, { series: wanted });
  const node = found[0];
  const run = await node.run(body.period, body.customer as string | undefined, 'api');
  return {
    status: 200,
    body: {
      period: run.period,
      invoices: run.invoices.map((o) => ({
        ...listing('invoices', o.entry),
        number: o.invoice.number,
        customer: o.invoice.customer,
        total: o.invoice.total,
        currency: o.invoice.currency,
        reissued: o.reissued,
        changed: o.changed,
      })),
      skipped: run.skipped,
      withoutReadings: run.withoutReadings,
      failed: run.failed.map((f) => ({ customer: f.customer, message: f.message, ...f.details })),
    },
  };
}

const routesAdded = new WeakSet<object>();

export function registerRoutes(RED: NodeAPI): void {
  answerApiMethods(RED);
  installJsonErrors(RED);
  if (routesAdded.has(RED.httpNode)) return;
  routesAdded.add(RED.httpNode);
  const app = RED.httpNode;
  const log = (text: string) => RED.log.error(text);
  const auth = requireApiKey(RED);
  const safe = (handler: (req: Request, res: Response) => void) => (req: Request, res: Response) => {
    try {
      handler(req, res);
    } catch (err) {
      fail(res, err, log);
    }
  };
  const post = (path: string, work: (body: unknown) => Promise<{ status: number; body: unknown }>) => {
    readsOwnBody(path);
    app.post(path, auth, jsonBody(MAX_BODY_BYTES), (req: Request, res: Response) => {
      Promise.resolve()
        .then(() => work((req as { body?: unknown }).body))
        .then(
          (r) => res.status(r.status).type('application/json').send(JSON.stringify(r.body)),
          (err: unknown) => fail(res, err, log),
        );
    });
  };
  const list = (kind: 'reports' | 'invoices', dir: () => string) =>
    safe((req, res) => {
      const { name } = routeParams(req.query as Record<string, unknown>, req.originalUrl, ['name'], `/api/v1/${kind}`);
      const entries = new Archive(dir()).list(name === undefined ? {} : { group: name });
      res.status(200).type('application/json').send(JSON.stringify({ [kind]: entries.map((e) => listing(kind, e)) }));
    });
  app.get('/api/v1/reports', auth, list('reports', () => reportsDir(RED)));
  app.get('/api/v1/invoices', auth, list('invoices', () => invoicesDir(RED)));
  app.get('/api/v1/reports/:id/:file', auth, safe((req, res) => sendFile(new Archive(reportsDir(RED)), req, res)));
  app.get('/api/v1/invoices/:id/:file', auth, safe((req, res) => sendFile(new Archive(invoicesDir(RED)), req, res)));
  post('/api/v1/reports/run', (body) => runReport(RED, body));
  post('/api/v1/invoices/run', (body) => runInvoices(body));
}
