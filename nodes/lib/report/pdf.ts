/**
 * PDF files with pdfkit (pure JavaScript, no browser): the report with its
 * charts drawn as vector paths from the same geometry as the HTML's SVG. The
 * DejaVu Sans is embedded (pdf-fonts.ts) so names in any European script print as
 * they are; the output depends only on the content and the creation time.
 */
import type PDFDocument from 'pdfkit';
import { chartGeometry, type ChartGeometry } from './chart';
import type { ReportData } from './compute';
import { ZoneClock } from '../zone-clock';
import { durationText, eventText, factsOf, gapsText, retiredText, seriesTitle, truncatedText, unfinishedText } from './render';
import type { EventSummary } from './sources';
import { pdfFonts, SANS, SANS_BOLD, size } from './pdf-fonts';

type Doc = InstanceType<typeof PDFDocument>;

/**
 * Text as the PDF prints it: control characters (other than a line break) and lone surrogates, which a device
 * id or tag may hold but no font draws, become "?"; every other character goes to the font.
 */
export function pdfText(s: string): string {
  let out = '';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    out += c === 0x0a || !(c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0xd800 && c <= 0xdfff)) ? ch : '?';
  }
  return out;
}

// Loaded with the first PDF: pdfkit and its font stack are ~4 MB of heap an idle runtime does not need.
let pdfkit: Promise<typeof PDFDocument> | undefined;

export async function pdfBuffer(draw: (doc: Doc) => void, info: { title: string; createdAt: number }): Promise<Buffer> {
  const PDFKit = await (pdfkit ??= import('pdfkit').then((m) => m.default));
  return new Promise((resolve, reject) => {
    const doc = new PDFKit({
      size: 'A4',
      margin: 40,
      bufferPages: false,
      info: { Title: pdfText(info.title), Producer: 'Upperstack', Creator: 'Upperstack', CreationDate: new Date(info.createdAt) },
    });
    const chunks: Buffer[] = [];
    doc.on('data', (c: Buffer) => chunks.push(c));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
    try {
      for (const [name, data] of pdfFonts()) doc.registerFont(name, data);
      doc.font(SANS);
      draw(doc);
      doc.end();
    } catch (err) {
      reject(err);
    }
  });
}

/** Draws a chart with its top-left corner at (x, y), `width` points wide. */
export function drawChart(doc: Doc, g: ChartGeometry, x: number, y: number, width: number): void {
  const k = width / g.width;
  doc.save();
  doc.translate(x, y).scale(k);
  const { plot } = g;
  doc.rect(plot.x, plot.y, plot.w, plot.h).fillAndStroke('#fafbfc', '#c8ccd0');
  doc.lineWidth(0.5);
  for (const t of g.yTicks) {
    doc.moveTo(plot.x, t.y).lineTo(plot.x + plot.w, t.y).stroke('#e3e6e8');
    doc.fillColor('#555555').font(SANS).fontSize(size(8)).text(pdfText(t.label), 0, t.y - 4, { width: plot.x - 6, align: 'right', lineBreak: false });
  }
  for (const t of g.xTicks) doc.fillColor('#555555').fontSize(size(8)).text(pdfText(t.label), t.x - 30, plot.y + plot.h + 6, { width: 60, align: 'center', lineBreak: false });
  for (const b of g.bands) {
    if (b.length < 2) continue;
    doc.polygon(...b).fillOpacity(0.45).fill('#9cc3e6');
    doc.fillOpacity(1);
  }
  doc.lineWidth(1.5);
  for (const l of g.lines) {
    if (l.length === 1) doc.circle(l[0][0], l[0][1], 2).fill('#1f5f99');
    else {
      doc.moveTo(l[0][0], l[0][1]);
      for (let i = 1; i < l.length; i++) doc.lineTo(l[i][0], l[i][1]);
      doc.stroke('#1f5f99');
    }
  }
  doc.lineWidth(1);
  for (const t of g.thresholds) {
    const color = t.kind === 'above' ? '#c0392b' : '#d68910';
    doc.moveTo(plot.x, t.y).lineTo(plot.x + plot.w, t.y).dash(4, { space: 3 }).stroke(color).undash();
    doc.fillColor(color).fontSize(size(8)).text(pdfText(t.label), plot.x + plot.w - 124, t.y - 11, { width: 120, align: 'right', lineBreak: false });
  }
  doc.restore();
  doc.fillColor('#000000');
}

const LEFT = 40;
const WIDTH = 515;

function ensureRoom(doc: Doc, h: number): void {
  if (doc.y + h > doc.page.height - doc.page.margins.bottom) doc.addPage();
}

/** The events the PDF lists (the first 50), as text on the report's clock. */
function eventLines(e: EventSummary, clock: ZoneClock): string[] {
  return e.items.slice(0, 50).map((i) => eventText(i, clock));
}

function events(doc: Doc, title: string, e: EventSummary, lines: string[]): void {
  ensureRoom(doc, 60);
  doc.moveDown(0.6).font(SANS_BOLD).fontSize(size(12)).fillColor('#000000').text(pdfText(e.available ? `${title}: ${e.total}` : title), LEFT);
  doc.font(SANS).fontSize(size(9)).fillColor('#555555').text(pdfText(e.note), LEFT, undefined, { width: WIDTH });
  doc.fillColor('#000000');
  for (const [dev, c] of Object.entries(e.byDevice).sort()) doc.text(pdfText(`${dev}: ${c}`), LEFT + 10);
  for (const line of lines) {
    ensureRoom(doc, 14);
    doc.text(pdfText(line), LEFT + 10, undefined, { width: WIDTH - 10 });
  }
}

/** The report as PDF: header, then each series with its chart (the first on page 1), events, and the summary table. */
export function reportPdf(d: ReportData, id: string, createdAt: number): Promise<Buffer> {
  // Every time put into words before drawing, so the header can name the zone by the names all of them were in.
  const clock = new ZoneClock(d.period.timezone);
  const [from, to, generated] = [clock.time(d.period.from), clock.time(d.period.to), clock.time(d.generatedAt)];
  const unfinished = unfinishedText(d, clock);
  const truncated = truncatedText(d, clock);
  const series = d.series.map((s) => ({ s, facts: factsOf(s, d, clock), gaps: gapsText(s, clock) }));
  const alertLines = eventLines(d.alerts, clock);
  const anomalyLines = eventLines(d.anomalies, clock);
  return pdfBuffer(
    (doc) => {
      doc.font(SANS_BOLD).fontSize(size(18)).text(pdfText(d.title), LEFT, 40);
      doc.font(SANS).fontSize(size(10)).fillColor('#555555');
      doc.text(pdfText(`${d.period.label} (${from} – ${to})`));
      // The zone first on its line, so the line breaks after its names, not between them.
      doc.text(pdfText(`${clock.note()} · ${d.devices.length} device${d.devices.length === 1 ? '' : 's'} · ${d.series.length} series · report ${id} · generated ${generated}`));
      // As the HTML says it: "not included in this report" is not "not available".
      const alerts = d.alerts.available ? String(d.alerts.total) : d.alerts.note;
      const anomalies = d.anomalies.available ? String(d.anomalies.total) : d.anomalies.note;
      doc.text(pdfText(`Alerts raised: ${alerts} · Anomalies flagged: ${anomalies}`));
      if (unfinished) doc.fillColor('#8a6d3b').text(pdfText(unfinished), LEFT, undefined, { width: WIDTH });
      if (truncated) doc.fillColor('#8a6d3b').text(pdfText(truncated), LEFT, undefined, { width: WIDTH });
      const retired = retiredText(d);
      if (retired) doc.fillColor('#8a6d3b').text(pdfText(retired), LEFT, undefined, { width: WIDTH });
      doc.fillColor('#000000').moveDown(0.5);
      if (d.series.length === 0) doc.fontSize(size(11)).text('No readings matched this report in the period.');
      for (const { s, facts, gaps } of series) {
        const g = chartGeometry(s.stats, d.period);
        const chartH = g ? (g.height * WIDTH) / g.width : 0;
        ensureRoom(doc, chartH + 70);
        doc.moveDown(0.4).font(SANS_BOLD).fontSize(size(11)).text(pdfText(seriesTitle(s)), LEFT);
        if (g) {
          const top = doc.y + 4;
          drawChart(doc, g, LEFT, top, WIDTH);
          doc.y = top + chartH + 4;
        }
        doc.font(SANS).fontSize(size(9)).text(pdfText(facts.join(' · ')), LEFT, doc.y, { width: WIDTH });
        if (gaps.length) {
          doc.text(pdfText(`Gaps longer than ${durationText(s.stats.gapMs)}: ${s.stats.gapCount}`), LEFT);
          for (const t of gaps.slice(0, 20)) doc.text(pdfText(`  ${t}`), LEFT + 10);
          if (gaps.length > 20) doc.text(pdfText(`  … ${s.stats.gapCount - 20} more in the JSON and HTML files`), LEFT + 10);
        }
      }
      events(doc, 'Alerts raised', d.alerts, alertLines);
      events(doc, 'Anomalies flagged', d.anomalies, anomalyLines);
    },
    { title: `${d.title} – ${d.period.label}`, createdAt },
  );
}
