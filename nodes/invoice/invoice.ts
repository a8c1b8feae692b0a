/**
 * upperstack-invoice: monthly invoices per customer from stored readings and
 * tariffs. On the 1st of each month (or when a message asks, or on
 * POST /api/v1/invoices/run) it invoices the month before: one invoice per
 * customer (devices share a customer through a tag), numbered gap-free in its
 * series; producing a month again gives the issued invoices back unchanged.
 * Output 1: one message per invoice with its files as e-mail attachments;
 * output 2: one message per file.
 */
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { BadParameterError, describeError } from '../lib/errors';
import { Archive } from '../lib/report/archive';
import { cronOf, Marks, ReportSchedule } from '../lib/report/schedule';
import { luxon, periodAt } from '../lib/report/period';
import { runInvoices, type InvoiceOutcome, type InvoiceRun, type InvoiceSettings } from '../lib/billing/produce';
import { onClose, onInput, refuseOnConfig, type UpperstackMessage } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { requiredStore } from '../shared/store-node';
import { attachments, fileMessages } from '../shared/report-messages';
import { invoicesDir, ledgerDir, provideInvoices, registerRoutes } from '../shared/report-routes';
import { localText, zoneTimeText } from '../lib/report/period';
import { invoiceMigrations, settingsOf, type InvoiceNodeDef, type InvoiceOptions } from './options';
import { countKey } from '../shared/count-key';

type SendFn = (m: Array<UpperstackMessage | UpperstackMessage[] | null>) => void;

export = function register(RED: NodeAPI): void {
  registerRoutes(RED);

  function UpperstackInvoiceNode(this: Node, def: InvoiceNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<InvoiceOptions>(def as unknown as Record<string, unknown>, invoiceMigrations);
    const storeNode = requiredStore(RED, node, config.store);
    if (!storeNode) return;
    let settings: InvoiceSettings;
    let expression: string | undefined;
    try {
      settings = settingsOf(config);
      if (config.schedule === 'monthly') expression = cronOf('monthly', config.at, '');
    } catch (err) {
      refuseOnConfig(node, err, (message) => RED._('upperstack-invoice.errors.config', { message }));
      return;
    }
    const archive = new Archive(invoicesDir(RED));

    function messages(o: InvoiceOutcome): { one: UpperstackMessage; files: UpperstackMessage[] } {
      const inv = o.invoice;
      const meta = { id: o.entry.id, number: inv.number, customer: inv.customer, period: inv.period.label, total: inv.total, currency: inv.currency, reissued: o.reissued, changed: o.changed, files: o.entry.files };
      const topic = RED._('upperstack-invoice.message.subject', { number: inv.number, customer: inv.customer, period: inv.period.label });
      return {
        one: { _msgid: RED.util.generateId(), topic, payload: inv, invoice: meta, customer: inv.customer, attachments: attachments(o.files) } as UpperstackMessage,
        files: fileMessages(o.files, { topic, invoice: meta, customer: inv.customer }, () => RED.util.generateId()),
      };
    }

    function deliver(run: InvoiceRun, send: SendFn): void {
      const ones: UpperstackMessage[] = [];
      const files: UpperstackMessage[] = [];
      for (const o of run.invoices) {
        const m = messages(o);
        ones.push(m.one);
        files.push(...m.files);
        // Late readings and a new tariff both change what the month would cost now; the warning says which.
        if (o.changed) node.warn(RED._(`upperstack-invoice.warnings.${o.readingsChanged ? 'changed' : 'settingsChanged'}`, { number: o.invoice.number, customer: o.invoice.customer, period: run.period }));
      }
      if (run.withoutReadings.length) node.warn(RED._('upperstack-invoice.warnings.noReadings', { customers: run.withoutReadings.join(', '), period: run.period }));
      if (run.skipped.length) node.warn(RED._('upperstack-invoice.warnings.noTariff', { customers: run.skipped.join(', '), period: run.period }));
      for (const f of run.failed) node.warn(RED._('upperstack-invoice.warnings.failed', { customer: f.customer, period: run.period, message: f.message }));
      if (ones.length) send([ones, files]);
    }

    function idleStatus(last?: string): void {
      const next = schedule?.next();
      const parts = last ? [last] : [];
      parts.push(next !== undefined ? RED._('upperstack-invoice.status.next', { time: localText(next, settings.timezone), zone: settings.timezone }) : RED._('upperstack-invoice.status.manual'));
      setStatus(node, last ? 'connected' : 'idle', parts.join(' · '));
    }

    async function run(month: string, customer: string | undefined): Promise<InvoiceRun> {
      setStatus(node, 'connecting', RED._('upperstack-invoice.status.producing', { period: month }));
      try {
        await storeNode!.ready;
        const r = await runInvoices(settings, month, customer, { store: storeNode!.store, archive, ledgerRoot: ledgerDir(RED), now: Date.now() });
        // As text, with a message of its own for one: a number would make i18next load ICU's plural rules.
        idleStatus(RED._(countKey('upperstack-invoice.status.done', r.invoices.length), { period: r.period, count: String(r.invoices.length) }));
        return r;
      } catch (err) {
        setStatus(node, 'failed', RED._('upperstack-invoice.status.failed', { period: month, message: describeError(err).message }));
        throw err;
      }
    }

    const unprovide = provideInvoices({
      series: settings.series,
      async run(month, customer) {
        const r = await run(month, customer);
        deliver(r, (m) => node.send(m));
        return r;
      },
    });

    let schedule: ReportSchedule | undefined;
    if (expression) {
      schedule = new ReportSchedule({
        expression,
        timezone: settings.timezone,
        period: 'previous-month',
        marks: new Marks(join(invoicesDir(RED), '.marks', `${settings.series}.json`)),
        produce: async (period) => {
          const r = await run(period.key, undefined);
          deliver(r, (m) => node.send(m));
          return `${settings.series}-${period.key}`;
        },
        onError: (err, period) => node.error(RED._('upperstack-invoice.errors.run', { period: period.key, message: describeError(err).message })),
        onMissed: (slot) => node.warn(RED._('upperstack-invoice.warnings.missed', { time: zoneTimeText(slot, settings.timezone) })),
      });
      schedule.start();
    }
    // The month the next run invoices (the month before, when run by hand) outlives the store's raw retention until then, within the store's bound.
    const release = storeNode.store.holdRaw?.(`invoice:${node.id}`, () => periodAt('previous-month', schedule?.next() ?? Date.now(), settings.timezone).from);
    idleStatus();

    onInput(node, async (msg, send, done) => {
      const p = typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) && !Buffer.isBuffer(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
      const lastMonth = luxon().DateTime.now().setZone(settings.timezone).startOf('month').minus({ months: 1 }).toFormat('yyyy-LL');
      const month = p.period === undefined ? lastMonth : p.period;
      if (typeof month !== 'string') throw new BadParameterError('period', 'msg.payload.period must be a month written YYYY-MM, e.g. "2026-10"');
      if (p.customer !== undefined && typeof p.customer !== 'string') throw new BadParameterError('customer', 'msg.payload.customer must be the customer tag value');
      const r = await run(month, p.customer as string | undefined);
      deliver(r, send);
      done();
    });

    onClose(node, async () => {
      release?.();
      unprovide();
      await schedule?.stop();
    });
  }

  registerNode(RED, 'upperstack-invoice', UpperstackInvoiceNode);
};
