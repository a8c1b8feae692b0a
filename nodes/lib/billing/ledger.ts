/**
 * Invoice numbers: one gap-free sequence per series. The ledger of a series is
 * a folder with one record file per issued invoice, named by its sequence
 * number; a record is created with an exclusive link, so a number is taken
 * exactly once and only together with the complete invoice it belongs to.
 * A (customer, period) that already has a record gets that record back: the
 * same number and content, never a second invoice.
 */
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError } from '../errors';
import { numberInvoice, type Invoice, type InvoiceBody } from './invoice';

export const SERIES = /^[A-Za-z0-9_-]{1,32}$/;
const RECORD = /^(\d{9})\.json$/;

export interface IssueResult {
  invoice: Invoice;
  /** True when the period had been invoiced before: the stored invoice is returned. */
  reissued: boolean;
  /** Reissued, and the invoice computed now differs from it (late or corrected readings, a new tariff). */
  changed: boolean;
  /** Reissued, and the meter readings billed differ from the issued invoice's: a change of readings, not of tariff. */
  readingsChanged: boolean;
}

/**
 * How an invoice computed again compares with the one issued for its customer and period. A line's description is
 * words about what it bills (a tier's bounds, a meter's label), which a newer version may put differently: what the
 * line bills (quantity, unit, price, amount) is compared, so only a change of that is a change.
 */
function against(issued: Invoice, body: InvoiceBody): IssueResult {
  const readingsChanged = canonical(issued.meterReadings) !== canonical(body.meterReadings);
  return { invoice: issued, reissued: true, changed: readingsChanged || canonical(billed(bodyOf(issued))) !== canonical(billed(body)), readingsChanged };
}

function billed(body: InvoiceBody): Omit<InvoiceBody, 'lines'> & { lines: Array<Omit<InvoiceBody['lines'][number], 'description'>> } {
  return { ...body, lines: body.lines.map(({ description: _d, ...line }) => line) };
}

function keyOf(customer: string, period: string): string {
  return `${customer}\u0000${period}`;
}

function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on directories; the file itself was synced.
  }
}

/** Canonical text of an invoice body (or a part of one), for comparing two of them. */
function canonical(body: ReturnType<typeof billed> | InvoiceBody['meterReadings']): string {
  return JSON.stringify(body);
}

function bodyOf(inv: Invoice): InvoiceBody {
  const { number: _n, series: _s, sequence: _q, issuedAt: _i, ...body } = inv;
  return body;
}

const queues = new Map<string, Promise<unknown>>();

export class InvoiceLedger {
  readonly dir: string;
  private byKey = new Map<string, Invoice>();
  private last = 0;
  private loaded = false;

  constructor(
    root: string,
    readonly series: string,
    private readonly prefix = `${series}-`,
  ) {
    if (!SERIES.test(series)) throw new ConfigError(`invoice series must be 1 to 32 letters, digits, "-" or "_", got ${JSON.stringify(series)}`, { path: 'series' });
    if (!/^[A-Za-z0-9_./-]{0,32}$/.test(prefix)) throw new ConfigError(`invoice number prefix may use letters, digits and - _ . / (at most 32), got ${JSON.stringify(prefix)}`, { path: 'prefix' });
    this.dir = resolve(root, series);
  }

  /** Every issued invoice of the series, by sequence. */
  list(): Invoice[] {
    this.load();
    return [...this.byKey.values()].sort((a, b) => a.sequence - b.sequence);
  }

  find(customer: string, period: string): Invoice | undefined {
    this.load();
    return this.byKey.get(keyOf(customer, period));
  }

  /**
   * The invoice of (customer, period): the stored one when it exists,
   * otherwise `body` with the next number. Calls on one series run one at a time.
   */
  issue(body: InvoiceBody, now: number): Promise<IssueResult> {
    const run = (queues.get(this.dir) ?? Promise.resolve()).then(() => this.issueNow(body, now));
    queues.set(this.dir, run.catch(() => undefined));
    return run;
  }

  private issueNow(body: InvoiceBody, now: number): IssueResult {
    // Another process (or an earlier node instance) may have added records.
    this.loaded = false;
    this.load();
    const key = keyOf(body.customer, body.period.label);
    const existing = this.byKey.get(key);
    if (existing) return against(existing, body);
    for (;;) {
      const sequence = this.last + 1;
      const invoice = numberInvoice(body, { series: this.series, sequence, number: `${this.prefix}${String(sequence).padStart(6, '0')}`, issuedAt: now });
      if (this.create(sequence, invoice)) {
        this.last = sequence;
        this.byKey.set(key, invoice);
        return { invoice, reissued: false, changed: false, readingsChanged: false };
      }
      // Taken meanwhile by another writer: read it and try the next number.
      this.loaded = false;
      this.load();
      const raced = this.byKey.get(key);
      if (raced) return against(raced, body);
    }
  }

  /** Writes the record under its number; false when the number is taken. */
  private create(sequence: number, invoice: Invoice): boolean {
    mkdirSync(this.dir, { recursive: true });
    const name = `${String(sequence).padStart(9, '0')}.json`;
    const tmp = join(this.dir, `.${name}.${process.pid}.${Date.now()}.tmp`);
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(invoice, null, 2) + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, join(this.dir, name));
      syncDir(this.dir);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      unlinkSync(tmp);
    }
  }

  private load(): void {
    if (this.loaded) return;
    this.byKey.clear();
    this.last = 0;
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const name of names) {
      const m = RECORD.exec(name);
      if (!m) continue;
      const inv = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as Invoice;
      this.byKey.set(keyOf(inv.customer, inv.period.label), inv);
      this.last = Math.max(this.last, Number(m[1]));
    }
    this.loaded = true;
  }
}
