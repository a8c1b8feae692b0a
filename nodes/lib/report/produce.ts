/**
 * Produces a report: computes it, renders the chosen files and keeps them in
 * the archive (replacing an earlier copy of the same period), then applies
 * the retention count of the report's group.
 */
import type { TimeSeriesStore } from '../store/types';
import type { Archive, ArchiveEntry } from './archive';
import { computeReport, type ReportData } from './compute';
import { slug, type ReportDefinition } from './definition';
import type { Period } from './period';
import { reportPdf } from './pdf';
import { reportCsv, reportHtml, reportJson, type ReportFile } from './render';
import { csvFile } from '../api/format';
import type { DeviceDirectory } from './sources';

export interface ProduceContext {
  store: TimeSeriesStore;
  directory?: DeviceDirectory;
  /** Devices retired in the device registry (never listed as silent); asked at each run, so a change needs no redeploy. */
  isRetired?: (device: string) => boolean;
  archive: Archive;
  now: number;
  /** Reports of this name kept (older ones are deleted); 0 keeps all. */
  keep: number;
  /** "schedule", "message", "api", "catch-up". */
  trigger: string;
}

export interface Produced {
  entry: ArchiveEntry;
  files: ReportFile[];
  data: ReportData;
}

export function reportId(def: ReportDefinition, period: Period): string {
  return `${slug(def.name)}-${period.key}`.replace(/[^A-Za-z0-9._-]/g, '-');
}

export async function renderReport(def: ReportDefinition, data: ReportData, id: string, createdAt: number): Promise<ReportFile[]> {
  const files: ReportFile[] = [];
  for (const f of def.formats) {
    if (f === 'csv') files.push({ name: `${id}.csv`, contentType: 'text/csv; charset=utf-8', data: csvFile(reportCsv(data)) });
    if (f === 'json') files.push({ name: `${id}.json`, contentType: 'application/json; charset=utf-8', data: Buffer.from(reportJson(data, id), 'utf8') });
    if (f === 'html') files.push({ name: `${id}.html`, contentType: 'text/html; charset=utf-8', data: Buffer.from(reportHtml(data, id), 'utf8') });
    if (f === 'pdf') files.push({ name: `${id}.pdf`, contentType: 'application/pdf', data: await reportPdf(data, id, createdAt) });
  }
  return files;
}

export async function produceReport(def: ReportDefinition, period: Period, ctx: ProduceContext): Promise<Produced> {
  const data = await computeReport(def, period, { store: ctx.store, directory: ctx.directory, isRetired: ctx.isRetired, now: ctx.now });
  const id = reportId(def, period);
  const files = await renderReport(def, data, id, ctx.now);
  const iso = (ms: number) => new Date(ms).toISOString();
  const entry = ctx.archive.save(
    {
      id,
      kind: 'report',
      group: def.name,
      createdAt: iso(ctx.now),
      period: {
        key: period.key,
        label: period.label,
        from: iso(period.from),
        to: iso(period.to),
        timezone: period.timezone,
        finished: data.unfinished === undefined,
        ...(data.unfinished ? { coveredUntil: iso(data.unfinished.until) } : {}),
        ...(data.truncated ? { rawReadingsSince: iso(data.truncated.since) } : {}),
      },
      info: { title: data.title, trigger: ctx.trigger, devices: data.devices.length, series: data.series.length },
    },
    files,
  );
  ctx.archive.prune(def.name, ctx.keep);
  return { entry, files, data };
}
