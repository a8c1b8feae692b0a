/**
 * A report's files: CSV (one row per device × field), JSON (everything,
 * timestamps in ISO 8601) and a self-contained HTML page (inline CSS and SVG,
 * no scripts, opens offline). The PDF is in ./pdf.
 */
import { csvCell } from '../api/format';
import { chartGeometry, formatNumber } from './chart';
import type { ReportData, SeriesReport } from './compute';
import { localIso, localText } from './period';
import { ZoneClock } from '../zone-clock';
import { chartSvg, escapeXml } from './svg';
import type { EventSummary, ReportEvent } from './sources';
import type { FieldStats } from './stats';

export interface ReportFile {
  name: string;
  contentType: string;
  data: Buffer;
}

const EOL = '\r\n';

export function durationText(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.round(ms / 1000);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const parts = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', sec && !d ? `${sec}s` : ''].filter(Boolean);
  return parts.length ? parts.join(' ') : '0s';
}

/** "W·h" for a field in W; a field without a unit has no unit to multiply, so its integral has none either. */
export function integralUnit(s: SeriesReport, per: string): string {
  return s.unit ? `${s.unit}·${per}` : '';
}

const PER_WORDS: Record<string, string> = { s: 'seconds', min: 'minutes', h: 'hours', d: 'days' };

/** The integral as people read it: "12.5 W·h", or "12.5 (value × hours)" for a field without a unit. */
export function integralText(s: SeriesReport, per: string): string {
  const value = formatNumber(s.stats.integral);
  const unit = integralUnit(s, per);
  return unit ? `${value} ${unit}` : `${value} (value × ${PER_WORDS[per] ?? per})`;
}

const CSV_COLUMNS = [
  'device', 'field', 'unit', 'count', 'min', 'max', 'mean', 'last', 'last_ts', 'sum', 'integral', 'integral_unit',
  'completeness_pct', 'expected_every_s', 'gaps', 'gap_limit_s', 'longest_gap_s', 'above', 'time_above_s', 'below', 'time_below_s',
  // Last, so files read by column position keep their columns: the time unit of the integral (value × it).
  'integral_per',
  // As the JSON's period.finished and period.coveredUntil, on every row: a note above the header would break
  // the columns of whatever reads the file.
  'period_finished', 'period_covered_until',
  // As the JSON's period.rawReadingsSince: true when retention deleted raw readings of the period, so a sum or count
  // that looks low is seen as missing data in the sheet itself.
  'period_incomplete', 'period_raw_readings_since',
];

const num = (v: number | null | undefined) => (v === null || v === undefined ? '' : String(v));
const secs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '' : String(ms / 1000));

export function reportCsv(d: ReportData): string {
  const rows = [CSV_COLUMNS.join(',')];
  const period = [
    String(d.unfinished === undefined), d.unfinished ? localIso(d.unfinished.until, d.period.timezone) : '',
    String(d.truncated !== undefined), d.truncated ? localIso(d.truncated.since, d.period.timezone) : '',
  ].join(',');
  for (const s of d.series) {
    const st = s.stats;
    const longest = st.gaps.reduce((m, g) => Math.max(m, g.ms), 0);
    rows.push(
      [
        csvCell(s.device), csvCell(s.field), csvCell(s.unit), String(st.count), num(st.min), num(st.max), num(st.mean),
        st.last ? csvCell(st.last.value) : '', st.last ? localIso(st.last.ts, d.period.timezone) : '', num(st.sum), num(st.integral),
        csvCell(st.integral === null ? '' : integralUnit(s, d.integralPer)), st.completeness ? st.completeness.percent.toFixed(2) : '',
        secs(st.completeness?.expectedEveryMs), st.gapMs === null ? '' : String(st.gapCount), secs(st.gapMs), st.gapCount ? String(longest / 1000) : '',
        num(st.above), secs(st.timeAboveMs), num(st.below), secs(st.timeBelowMs), csvCell(d.integralPer),
        period,
      ].join(','),
    );
  }
  return rows.join(EOL) + EOL;
}

/** What a report of a period not over yet says about it; undefined for a period that is over. */
export function unfinishedText(d: ReportData, clock: ZoneClock): string | undefined {
  if (!d.unfinished) return undefined;
  return `This period is not over yet: gaps and completeness cover it up to ${clock.time(d.unfinished.until)}, not the time still to come.`;
}

/** What a report whose period starts before the store's raw readings says about it; undefined otherwise. */
export function truncatedText(d: ReportData, clock: ZoneClock): string | undefined {
  if (!d.truncated) return undefined;
  return `Incomplete: the store's retention has deleted the raw readings before ${clock.time(d.truncated.since)}; counts, sums, integrals, gaps and completeness before then are missing data, not a silent device.`;
}

/** What a report says of the devices it left out as retired; undefined when it left none out. */
export function retiredText(d: ReportData): string | undefined {
  if (!d.retired?.length) return undefined;
  const n = d.retired.length;
  return `Left out: ${n} device${n === 1 ? '' : 's'} retired in the device registry that sent nothing in this period (${d.retired.join(', ')}).`;
}

export function reportJson(d: ReportData, id: string): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  const events = (e: EventSummary) => ({ ...e, items: e.items.map((i) => ({ ...i, ts: iso(i.ts) })) });
  return JSON.stringify(
    {
      id,
      name: d.name,
      title: d.title,
      generatedAt: iso(d.generatedAt),
      period: {
        key: d.period.key,
        label: d.period.label,
        from: iso(d.period.from),
        to: iso(d.period.to),
        timezone: d.period.timezone,
        finished: d.unfinished === undefined,
        ...(d.unfinished ? { coveredUntil: iso(d.unfinished.until) } : {}),
        ...(d.truncated ? { rawReadingsSince: iso(d.truncated.since) } : {}),
      },
      devices: d.devices,
      ...(d.retired ? { retired: d.retired } : {}),
      fields: d.fields,
      integralPer: d.integralPer,
      series: d.series.map((s) => ({
        device: s.device,
        field: s.field,
        unit: s.unit,
        tags: s.tags,
        ...s.stats,
        last: s.stats.last ? { ts: iso(s.stats.last.ts), value: s.stats.last.value } : null,
        gaps: s.stats.gaps.map((g) => ({ from: iso(g.from), to: iso(g.to), ms: g.ms })),
        chart: s.stats.chart.map((b) => ({ ts: iso(b.ts), min: b.min, max: b.max, mean: b.mean })),
      })),
      alerts: events(d.alerts),
      anomalies: events(d.anomalies),
    },
    null,
    2,
  );
}

// On a phone the tables (one line per row) scroll in their own box and long device ids break in headings and
// text, so the page itself never runs wider than the screen.
const CSS = `body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;color:#1d2327;margin:24px auto;max-width:1000px;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #dde1e4;padding-bottom:4px}h3{font-size:14px;margin:18px 0 6px}
.meta{color:#5b6570;font-size:13px}table{border-collapse:collapse;font-size:12.5px;width:100%}th,td{border-bottom:1px solid #e6e9eb;padding:4px 6px;text-align:right;white-space:nowrap}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}th{background:#f3f5f6;font-weight:600}.series{break-inside:avoid;margin-bottom:18px}
.facts{font-size:12.5px;color:#333;margin:4px 0}.na{color:#8a6d3b}.chart{max-width:100%;height:auto}ul{font-size:12.5px;margin:4px 0}
.wide{overflow-x:auto}h1,h2,h3,p,li{overflow-wrap:anywhere}`;

/**
 * "2026-10-25 02:30:05 CEST pump-1/power: …": an event to the second on the report's clock; one in the hour the
 * clocks go back carries the zone's name, so two events an hour apart there do not read the same.
 */
export function eventText(i: ReportEvent, clock: ZoneClock): string {
  return `${clock.time(i.ts, 'yyyy-LL-dd HH:mm:ss')} ${i.device}${i.field ? `/${i.field}` : ''}: ${i.text}`;
}

function eventsHtml(title: string, e: EventSummary, clock: ZoneClock): string {
  if (!e.available) return `<h2>${escapeXml(title)}</h2><p class="na">${escapeXml(e.note)}</p>`;
  const rows = Object.entries(e.byDevice)
    .sort()
    .map(([dev, c]) => `<tr><td>${escapeXml(dev)}</td><td>${c}</td></tr>`)
    .join('');
  const items = e.items
    .map((i) => `<li>${escapeXml(eventText(i, clock))}</li>`)
    .join('');
  return `<h2>${escapeXml(title)}: ${e.total}</h2><p class="meta">${escapeXml(e.note)}</p>${rows ? `<div class="wide"><table><tr><th>device</th><th>count</th></tr>${rows}</table></div>` : ''}${items ? `<ul>${items}</ul>` : ''}${e.total > e.items.length ? `<p class="meta">${e.items.length} of ${e.total} listed</p>` : ''}`;
}

/**
 * Why a series has no completeness: no expected interval is set and "auto" had fewer than two readings to infer one
 * from, so the count cannot be set against an expectation; said rather than left blank. Undefined otherwise.
 */
export function completenessUnknown(st: FieldStats): string | undefined {
  if (st.completeness || st.expectedEveryMs !== null) return undefined;
  return `${st.gapMs === null ? 'completeness and gaps' : 'completeness'} unknown: ${st.count === 1 ? 'one reading' : 'no readings'} and no expected interval`;
}

/**
 * "completeness 93.3% (140 of 150, every 1m)"; more readings than the interval gives (a device sending faster than
 * expected, or twice) is said as such, "completeness 100% (150 expected every 1m, 154 received: 4 more than the
 * interval gives)", not "100.0% (154 of 150)".
 */
export function completenessText(c: NonNullable<FieldStats['completeness']>): string {
  const every = durationText(c.expectedEveryMs);
  if (c.received <= c.expected) return `completeness ${c.percent.toFixed(1)}% (${c.received} of ${c.expected}, every ${every})`;
  return `completeness 100% (${c.expected} expected every ${every}, ${c.received} received: ${c.received - c.expected} more than the interval gives)`;
}

function factsOf(s: SeriesReport, d: ReportData, clock: ZoneClock): string[] {
  const st = s.stats;
  const u = s.unit ? ` ${s.unit}` : '';
  const facts = [`${st.count} reading${st.count === 1 ? '' : 's'}`];
  if (st.numeric) {
    facts.push(`min ${formatNumber(st.min)}${u}`, `max ${formatNumber(st.max)}${u}`, `mean ${formatNumber(st.mean)}${u}`, `sum ${formatNumber(st.sum)}`, `integral ${integralText(s, d.integralPer)}`);
  }
  if (st.last) facts.push(`last ${typeof st.last.value === 'number' ? formatNumber(st.last.value) : String(st.last.value)}${typeof st.last.value === 'number' ? u : ''} at ${clock.time(st.last.ts)}`);
  if (st.completeness) facts.push(completenessText(st.completeness));
  const unknown = completenessUnknown(st);
  if (unknown) facts.push(unknown);
  if (st.timeAboveMs !== null) facts.push(`above ${formatNumber(st.above)}${u}: ${durationText(st.timeAboveMs)}`);
  if (st.timeBelowMs !== null) facts.push(`below ${formatNumber(st.below)}${u}: ${durationText(st.timeBelowMs)}`);
  return facts;
}

/** "pump-1 · power (W)"; the device alone for the row of a device with no known field (never heard from). */
export function seriesTitle(s: SeriesReport): string {
  return `${s.device}${s.field ? ` · ${s.field}` : ''}${s.unit ? ` (${s.unit})` : ''}`;
}

export function gapsText(s: SeriesReport, clock: ZoneClock): string[] {
  const zone = clock.zone;
  return s.stats.gaps.map((g) => {
    // Minutes alone would print a short gap as "20:34 – 20:34": seconds tell its ends apart.
    const minutes = localText(g.from, zone) !== localText(g.to, zone) && g.ms >= 60_000;
    const format = minutes ? undefined : 'yyyy-LL-dd HH:mm:ss';
    return `${clock.time(g.from, format)} – ${clock.time(g.to, format)} (${durationText(g.ms)})`;
  });
}

export function reportHtml(d: ReportData, id: string): string {
  // Every time on the report's clock, those in the hour the clocks go back with the zone's name.
  const clock = new ZoneClock(d.period.timezone);
  const [from, to, generated] = [clock.time(d.period.from), clock.time(d.period.to), clock.time(d.generatedAt)];
  const parts: string[] = [];
  const unfinished = unfinishedText(d, clock);
  if (unfinished) parts.push(`<p class="na">${escapeXml(unfinished)}</p>`);
  const truncated = truncatedText(d, clock);
  if (truncated) parts.push(`<p class="na">${escapeXml(truncated)}</p>`);
  const retired = retiredText(d);
  if (retired) parts.push(`<p class="na">${escapeXml(retired)}</p>`);
  parts.push('<h2>Summary</h2><div class="wide"><table><tr><th>device</th><th>field</th><th>count</th><th>min</th><th>max</th><th>mean</th><th>last</th><th>integral</th><th>complete</th><th>gaps</th></tr>');
  for (const s of d.series) {
    const st = s.stats;
    parts.push(
      `<tr><td>${escapeXml(s.device)}</td><td>${escapeXml(s.field)}${s.unit ? ` (${escapeXml(s.unit)})` : ''}</td><td>${st.count}</td><td>${formatNumber(st.min)}</td><td>${formatNumber(st.max)}</td><td>${formatNumber(st.mean)}</td><td>${st.last ? escapeXml(typeof st.last.value === 'number' ? formatNumber(st.last.value) : String(st.last.value)) : ''}</td><td>${st.integral === null ? '' : escapeXml(integralText(s, d.integralPer))}</td><td>${st.completeness ? `${st.completeness.percent.toFixed(1)}%` : completenessUnknown(st) ? 'unknown' : ''}</td><td>${st.gapMs === null ? 'unknown' : st.gapCount}</td></tr>`,
    );
  }
  parts.push('</table></div>');
  parts.push(eventsHtml('Alerts raised', d.alerts, clock));
  parts.push(eventsHtml('Anomalies flagged', d.anomalies, clock));
  parts.push('<h2>Series</h2>');
  for (const s of d.series) {
    const title = seriesTitle(s);
    parts.push(`<div class="series"><h3>${escapeXml(title)}</h3>`);
    const g = chartGeometry(s.stats, d.period);
    if (g) parts.push(chartSvg(g, title));
    parts.push(`<p class="facts">${factsOf(s, d, clock).map(escapeXml).join(' · ')}</p>`);
    const gaps = gapsText(s, clock);
    if (gaps.length) parts.push(`<p class="facts">Gaps longer than ${escapeXml(durationText(s.stats.gapMs))}: ${s.stats.gapCount}</p><ul>${gaps.map((t) => `<li>${escapeXml(t)}</li>`).join('')}</ul>`);
    parts.push('</div>');
  }
  parts.push('</body></html>');
  const head = [
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">`,
    `<title>${escapeXml(d.title)} – ${escapeXml(d.period.label)}</title><style>${CSS}</style></head><body>`,
    // The zone named once, after every other time is printed, by the names all of them were in.
    `<h1>${escapeXml(d.title)}</h1><p class="meta">${escapeXml(`${d.period.label} (${from} – ${to})`)} · ${escapeXml(clock.note())} · ${d.devices.length} device${d.devices.length === 1 ? '' : 's'} · generated ${escapeXml(generated)} · report ${escapeXml(id)}</p>`,
  ];
  return [...head, ...parts].join('\n');
}

export { factsOf };
