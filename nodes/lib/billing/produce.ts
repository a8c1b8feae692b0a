/**
 * Monthly invoices: for a period ("2026-10") and one customer or every
 * customer with readings, compute the invoice, take its number from the
 * ledger (or get the issued one back) and keep its files in the archive.
 * Invoices are records: the archive never prunes them.
 */
import { BadParameterError, ConfigError, NotFoundError } from '../errors';
import type { TimeSeriesStore } from '../store/types';
import type { Archive, ArchiveEntry } from '../report/archive';
import { monthPeriod, zoneTimeText } from '../report/period';
import type { ReportFile } from '../report/render';
import { storeDirectory, type DeviceDirectory } from '../report/sources';
import { collectUsage, customersIn } from './collect';
import { invoiceFiles } from './files';
import { computeInvoice, type Invoice, type InvoiceBody } from './invoice';
import { InvoiceLedger, type IssueResult } from './ledger';
import { tariffFor, type Tariff } from './tariff';

export interface InvoiceSettings {
  series: string;
  /** Number prefix; default "<series>-". */
  prefix?: string;
  /** Tag that names a device's customer. */
  customerTag: string;
  tariffs: Tariff[];
  timezone: string;
  quantityDigits?: number;
  /** Seller name and address, printed on the invoice. */
  seller?: string;
}

export interface InvoiceRunContext {
  store: TimeSeriesStore;
  directory?: DeviceDirectory;
  archive: Archive;
  /** Folder of the ledgers (one subfolder per series). */
  ledgerRoot: string;
  now: number;
}

export interface InvoiceOutcome {
  invoice: Invoice;
  reissued: boolean;
  changed: boolean;
  readingsChanged: boolean;
  entry: ArchiveEntry;
  files: ReportFile[];
}

export interface InvoiceRun {
  period: string;
  invoices: InvoiceOutcome[];
  /** Customers with readings but no tariff: not invoiced. */
  skipped: string[];
  /** Customers a tariff names whose devices sent no readings in the period: not invoiced, no number taken. */
  withoutReadings: string[];
  /** Customers whose invoice could not be computed (in a run for every customer): not invoiced, no number taken. */
  failed: InvoiceFailure[];
}

export interface InvoiceFailure {
  customer: string;
  message: string;
  /** The error's facts: the meter's field and measure, the quantity. */
  details: Record<string, unknown>;
}

const CUSTOMER = /^[^\u0000-\u001f]{1,80}$/;
/** Known customers are listed in the refusal up to this many. */
const LISTED = 20;

/**
 * A customer named in a request must be one whose devices sent readings by
 * the end of the period: a mistyped name or a month before the customer's
 * first reading would otherwise take a number of the gap-free series for good.
 */
async function knownCustomer(directory: DeviceDirectory, customerTag: string, customer: string, period: { key: string; to: number }, now: number): Promise<string> {
  if ((await customersIn(directory, customerTag, { from: 0, to: period.to })).includes(customer)) return customer;
  const known = await customersIn(directory, customerTag, { from: 0, to: Math.max(now, period.to) });
  if (known.includes(customer)) {
    throw new NotFoundError(`customer "${customer}" has no readings up to the end of ${period.key}: nothing to invoice for that month, and no number is taken`, { parameter: 'customer', customer });
  }
  const list = known.length === 0 ? 'no device has a customer tag yet' : known.length <= LISTED ? `known customers: ${known.join(', ')}` : `${known.length} customers are known`;
  throw new NotFoundError(`no device has customer "${customer}" (tag "${customerTag}"); ${list}`, { parameter: 'customer', customer, ...(known.length <= LISTED ? { known } : {}) });
}

export async function runInvoices(settings: InvoiceSettings, month: string, customer: string | undefined, ctx: InvoiceRunContext): Promise<InvoiceRun> {
  const period = monthPeriod(month, settings.timezone);
  if (customer !== undefined && (typeof customer !== 'string' || !CUSTOMER.test(customer))) {
    throw new BadParameterError('customer', '"customer" must be the customer tag value of the devices to invoice (1 to 80 characters)');
  }
  if (period.to > ctx.now) throw new BadParameterError('period', `"period" ${period.key} has not ended yet; invoice it from ${zoneTimeText(period.to, settings.timezone)} on`);
  const rawSince = await ctx.store.rawSince?.();
  const partial = rawSince !== undefined && period.from < rawSince;
  const directory = ctx.directory ?? storeDirectory(ctx.store);
  const customers = customer !== undefined ? [await knownCustomer(directory, settings.customerTag, customer, period, ctx.now)] : await customersIn(directory, settings.customerTag, period);
  const ledger = new InvoiceLedger(ctx.ledgerRoot, settings.series, settings.prefix || undefined);
  const out: InvoiceRun = { period: period.key, invoices: [], skipped: [], withoutReadings: [], failed: [] };
  if (customer === undefined) {
    const billed = new Set(customers);
    out.withoutReadings = [...new Set(settings.tariffs.flatMap((t) => t.customers))].filter((c) => c !== '*' && !billed.has(c)).sort();
  }
  for (const c of customers) {
    const tariff = tariffFor(settings.tariffs, c);
    if (!tariff) {
      if (customer !== undefined) throw new BadParameterError('customer', `no tariff applies to customer "${c}": name it in a tariff's customers, or add a tariff for "*"`);
      out.skipped.push(c);
      continue;
    }
    let issued: IssueResult;
    const before = partial ? ledger.find(c, period.key) : undefined;
    if (before) {
      // Issued while the month's readings were all there: given back as issued, not recomputed from what retention left.
      issued = { invoice: before, reissued: true, changed: false, readingsChanged: false };
    } else if (partial) {
      // An invoice from part of the month's readings would bill less without saying so: refused, before a number is taken.
      throw new BadParameterError(
        'period',
        `"period" ${period.key} starts before ${zoneTimeText(rawSince!, settings.timezone)}, and the store's retention has deleted the raw readings before then: the invoice would bill less than was used; keep raw readings longer (the store's retention) to invoice a month this old`,
      );
    } else {
      const usage = await collectUsage(ctx.store, directory, { customer: c, customerTag: settings.customerTag, from: period.from, to: period.to, tariff });
      let body: InvoiceBody;
      try {
        body = computeInvoice({ tariff, customer: c, period: { label: period.key, from: period.from, to: period.to, timezone: period.timezone }, usage, quantityDigits: settings.quantityDigits, seller: settings.seller });
      } catch (err) {
        // One customer's readings the tariff cannot price must not hold back everyone else's invoices.
        if (customer !== undefined || !(err instanceof BadParameterError || err instanceof ConfigError)) throw err;
        const { parameter: _parameter, ...details } = err.details;
        out.failed.push({ customer: c, message: err.message, details });
        continue;
      }
      issued = await ledger.issue(body, ctx.now);
    }
    const inv = issued.invoice;
    const files = await invoiceFiles(inv, ctx.now, settings.quantityDigits);
    const id = `${inv.series}-${String(inv.sequence).padStart(6, '0')}`;
    const entry = ctx.archive.save(
      {
        id,
        kind: 'invoice',
        group: inv.series,
        createdAt: new Date(ctx.now).toISOString(),
        period: { key: period.key, label: period.label, from: inv.period.from, to: inv.period.to, timezone: period.timezone },
        info: { number: inv.number, customer: inv.customer, total: inv.total, currency: inv.currency, issuedAt: inv.issuedAt },
      },
      files,
    );
    out.invoices.push({ invoice: inv, reissued: issued.reissued, changed: issued.changed, readingsChanged: issued.readingsChanged, entry, files });
  }
  return out;
}
