/**
 * An invoice's files: JSON (the invoice, plus when these files were made), CSV
 * line items and a PDF. Apart from `createdAt` (JSON) and the PDF's creation
 * date (and the file ID pdfkit derives from it), the bytes depend only on the
 * invoice and the node's quantity decimals, so producing an issued invoice
 * again gives the same files.
 */
import { csvCell, csvFile } from '../api/format';
import { pdfBuffer, pdfText } from '../report/pdf';
import { SANS, SANS_BOLD, size } from '../report/pdf-fonts';
import type { ReportFile } from '../report/render';
import { currencyDigits, Dec, formatAmount, roundTo } from './money';
import { DEFAULT_QUANTITY_DIGITS, type Invoice } from './invoice';
import { ZoneClock } from '../zone-clock';

const EOL = '\r\n';

export function invoiceCsv(inv: Invoice): string {
  const rows = ['invoice,customer,period,line,description,quantity,unit,unit_price,amount,currency'];
  inv.lines.forEach((l, i) => {
    rows.push([csvCell(inv.number), csvCell(inv.customer), csvCell(inv.period.label), String(i + 1), csvCell(l.description), l.quantity, csvCell(l.unit), l.unitPrice, l.amount, csvCell(inv.currency)].join(','));
  });
  rows.push([csvCell(inv.number), csvCell(inv.customer), csvCell(inv.period.label), '', 'net', '', '', '', inv.net, csvCell(inv.currency)].join(','));
  rows.push([csvCell(inv.number), csvCell(inv.customer), csvCell(inv.period.label), '', `tax ${inv.tax.percent}%`, '', '', '', inv.tax.amount, csvCell(inv.currency)].join(','));
  rows.push([csvCell(inv.number), csvCell(inv.customer), csvCell(inv.period.label), '', 'total', '', '', '', inv.total, csvCell(inv.currency)].join(','));
  return rows.join(EOL) + EOL;
}

export function invoiceJson(inv: Invoice, createdAt: number): string {
  return JSON.stringify({ ...inv, createdAt: new Date(createdAt).toISOString() }, null, 2);
}

const LEFT = 40;
interface Col {
  x: number;
  w: number;
  align: 'left' | 'right';
}

const LINE_COLS: Col[] = [
  { x: 40, w: 215, align: 'left' },
  { x: 255, w: 70, align: 'right' },
  { x: 330, w: 50, align: 'left' },
  { x: 380, w: 80, align: 'right' },
  { x: 460, w: 95, align: 'right' },
];

const METER_COLS: Col[] = [
  { x: 40, w: 110, align: 'left' },
  { x: 150, w: 80, align: 'left' },
  { x: 230, w: 115, align: 'left' },
  { x: 345, w: 115, align: 'left' },
  { x: 460, w: 95, align: 'right' },
];

/**
 * A quantity as the PDF prints it: grouped as amounts are, metered ones with the quantity decimals the line was
 * rounded to (a device's share, kept to 6 decimals in the JSON, rounded the same way); a count of periods or
 * packages as the whole number it is. The CSV and JSON keep the plain decimal.
 */
export function quantityText(value: string, unit: string, quantityDigits: number): string {
  const d = new Dec(value);
  if ((unit === 'period' || unit === 'package') && d.isInteger()) return formatAmount(d, 0);
  return formatAmount(roundTo(d, quantityDigits, 'half-up'), quantityDigits);
}

export function invoicePdf(inv: Invoice, createdAt: number, quantityDigits = DEFAULT_QUANTITY_DIGITS): Promise<Buffer> {
  const digits = currencyDigits(inv.currency);
  const money = (v: string) => `${formatAmount(v, digits)} ${inv.currency}`;
  // An invoice issued with more quantity decimals than the node has now is printed with every digit it was billed on.
  const shown = Math.max(quantityDigits, ...inv.lines.filter((l) => l.unit !== 'period' && l.unit !== 'package').map((l) => new Dec(l.quantity).decimalPlaces()));
  const qty = (v: string, unit: string) => quantityText(v, unit, shown);
  // Every time printed on the zone's clock; the invoice keeps UTC instants, so one issued earlier prints the same way.
  const clock = new ZoneClock(inv.period.timezone);
  const period = `${clock.time(Date.parse(inv.period.from))} – ${clock.time(Date.parse(inv.period.to))}`;
  return pdfBuffer(
    (doc) => {
      const row = (cells: string[], bold = false, cols = LINE_COLS) => {
        doc.font(bold ? SANS_BOLD : SANS).fontSize(size(9));
        const h = Math.max(...cells.map((c, i) => doc.heightOfString(pdfText(c), { width: cols[i].w })));
        // A row that does not fit (a long device id wraps over lines) starts the next page whole: drawn where it
        // is, its first cell would run onto a page of its own and the others stay behind.
        if (doc.y + h > doc.page.height - doc.page.margins.bottom) doc.addPage();
        const y = doc.y;
        cells.forEach((c, i) => {
          const col = cols[i];
          doc.text(pdfText(c), col.x, y, { width: col.w, align: col.align });
        });
        doc.y = y + h + 3;
        doc.x = LEFT;
        if (doc.y > doc.page.height - 80) doc.addPage();
      };
      if (inv.seller) doc.font(SANS).fontSize(size(10)).text(pdfText(inv.seller), LEFT, 40, { width: 300 });
      doc.font(SANS_BOLD).fontSize(size(20)).text('Invoice', 360, 40, { width: 195, align: 'right' });
      doc.font(SANS).fontSize(size(10));
      for (const [k, v] of [['Number', inv.number], ['Issued', clock.date(Date.parse(inv.issuedAt))], ['Customer', inv.customer], ['Period', inv.period.label], ['', period], ['Tariff', inv.tariff]]) {
        doc.text(pdfText(k ? `${k}: ${v}` : v), 300, undefined, { width: 255, align: 'right' });
      }
      doc.moveDown(2);
      doc.x = LEFT;
      row(['Description', 'Quantity', 'Unit', 'Unit price', 'Amount'], true);
      doc.moveTo(LEFT, doc.y - 2).lineTo(555, doc.y - 2).lineWidth(0.5).stroke('#888888');
      for (const l of inv.lines) row([l.description, qty(l.quantity, l.unit), l.unit, l.unitPrice, money(l.amount)]);
      doc.moveTo(LEFT, doc.y).lineTo(555, doc.y).stroke('#888888');
      doc.y += 4;
      row(['Net', '', '', '', money(inv.net)]);
      row([`Tax ${inv.tax.percent}%`, '', '', '', money(inv.tax.amount)]);
      row(['Total', '', '', '', money(inv.total)], true);
      doc.moveDown(1.5);
      doc.x = LEFT;
      doc.font(SANS_BOLD).fontSize(size(11)).text('Meter readings billed', LEFT);
      doc.moveDown(0.3);
      if (inv.meterReadings.length === 0) doc.font(SANS).fontSize(size(9)).text('No metered devices in this period.');
      else {
        const at = (r?: { ts: string; value: string }) => (r ? `${r.value} (${clock.time(Date.parse(r.ts))})` : '-');
        row(['Device', 'Field (measure)', 'First reading', 'Last reading', 'Quantity'], true, METER_COLS);
        for (const m of inv.meterReadings) row([`${m.device} (${m.readings} reading${m.readings === 1 ? '' : 's'})`, `${m.field} (${m.measure})`, at(m.first), at(m.last), `${qty(m.quantity, m.unit)} ${m.unit}`], false, METER_COLS);
      }
      doc.moveDown(1);
      doc.fontSize(size(8)).fillColor('#666666').text(pdfText(`Amounts rounded ${inv.rounding} to ${digits} decimals; ${clock.note()}.`), LEFT);
    },
    { title: `Invoice ${inv.number}`, createdAt },
  );
}

export async function invoiceFiles(inv: Invoice, createdAt: number, quantityDigits = DEFAULT_QUANTITY_DIGITS): Promise<ReportFile[]> {
  const base = inv.number.replace(/[^A-Za-z0-9_.-]+/g, '-');
  return [
    { name: `${base}.pdf`, contentType: 'application/pdf', data: await invoicePdf(inv, createdAt, quantityDigits) },
    { name: `${base}.csv`, contentType: 'text/csv; charset=utf-8', data: csvFile(invoiceCsv(inv)) },
    { name: `${base}.json`, contentType: 'application/json; charset=utf-8', data: Buffer.from(invoiceJson(inv, createdAt), 'utf8') },
  ];
}
