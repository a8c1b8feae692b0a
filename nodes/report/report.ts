/**
 * upperstack-report: a report over stored readings, produced on a schedule
 * (node-cron, presets or a cron expression, in a time zone) and whenever a
 * message arrives ("send now"). Each run writes CSV, JSON, HTML and PDF files,
 * keeps them in the data folder and sends them: output 1 one message with the
 * files as e-mail attachments, output 2 one message per file.
 * Periods missed while the runtime was down are produced at start; no period
 * is produced twice by the schedule (marks in the data folder).
 */
import { join } from 'node:path';
import type { Node, NodeAPI } from 'node-red';
import { BadParameterError, describeError } from '../lib/errors';
import { Archive } from '../lib/report/archive';
import { checkDefinition, slug, type ReportDefinition } from '../lib/report/definition';
import { explicitPeriod, localText, periodAt, periodTime, zoneTimeText, type Period } from '../lib/report/period';
import { produceReport, type Produced } from '../lib/report/produce';
import { cronOf, Marks, ReportSchedule } from '../lib/report/schedule';
import { onClose, onInput, refuseOnConfig, type UpperstackMessage } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { requiredStore } from '../shared/store-node';
import { attachments, fileMessages } from '../shared/report-messages';
import { definitionOf, reportMigrations, type ReportNodeDef, type ReportOptions } from './options';
import { provideReport, registerRoutes, reportsDir } from '../shared/report-routes';
import { countKey } from '../shared/count-key';
import { retiredInRegistry } from '../shared/devices';

/** The period a "send now" message asks for: explicit from/to, a period kind, or the report's own. */
function periodOfMessage(payload: Record<string, unknown>, def: ReportDefinition, now: number): Period {
  if (payload.from !== undefined || payload.to !== undefined) {
    const text = (name: 'from' | 'to') => {
      const v = payload[name];
      if (typeof v === 'number' || typeof v === 'string') return String(v);
      if (v instanceof Date) return String(v.getTime());
      throw new BadParameterError(name, `msg.payload.${name} is required with msg.payload.${name === 'from' ? 'to' : 'from'}: ISO 8601 or an epoch time`);
    };
    return explicitPeriod(periodTime('from', text('from'), def.timezone), periodTime('to', text('to'), def.timezone), def.timezone);
  }
  return periodAt(def.period, now, def.timezone);
}

export = function register(RED: NodeAPI): void {
  registerRoutes(RED);

  function UpperstackReportNode(this: Node, def: ReportNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<ReportOptions>(def as unknown as Record<string, unknown>, reportMigrations);
    const storeNode = requiredStore(RED, node, config.store);
    if (!storeNode) return;
    let definition: ReportDefinition;
    let expression: string | undefined;
    try {
      definition = definitionOf(config);
      if (config.schedule !== 'none') expression = cronOf(config.schedule, config.at, config.cron);
    } catch (err) {
      refuseOnConfig(node, err, (message) => RED._('upperstack-report.errors.config', { message }));
      return;
    }
    const keep = Number.isInteger(config.keep) && config.keep >= 0 ? config.keep : 30;
    const archive = new Archive(reportsDir(RED));
    const zone = definition.timezone;
    const unprovide = provideReport({ definition, storeId: config.store, keep });

    function idleStatus(last?: string): void {
      const next = schedule?.next();
      const parts: string[] = [];
      if (last) parts.push(last);
      parts.push(next !== undefined ? RED._('upperstack-report.status.next', { time: localText(next, zone), zone }) : RED._('upperstack-report.status.manual'));
      setStatus(node, last ? 'connected' : 'idle', parts.join(' · '));
    }

    function doneText(r: Produced): string {
      return RED._(countKey('upperstack-report.status.done', r.files.length), { id: r.entry.id, files: String(r.files.length) });
    }

    function send(r: Produced, msg: UpperstackMessage | undefined, sendFn: (m: Array<UpperstackMessage | UpperstackMessage[] | null>) => void): void {
      const report = { id: r.entry.id, name: definition.name, period: r.entry.period, createdAt: r.entry.createdAt, files: r.entry.files, trigger: (r.entry.info ?? {}).trigger };
      const out: UpperstackMessage = {
        ...(msg ?? {}),
        _msgid: msg?._msgid ?? RED.util.generateId(),
        topic: `${r.data.title} – ${r.entry.period.label}`,
        // Our messages have no i18next plural forms (they would load ICU's plural rules): one device has a message of its own.
        payload: RED._(countKey('upperstack-report.message.body', r.data.devices.length), { title: r.data.title, period: r.entry.period.label, devices: String(r.data.devices.length), series: String(r.data.series.length) }),
        report,
        attachments: attachments(r.files),
      } as UpperstackMessage;
      sendFn([out, fileMessages(r.files, { topic: out.topic, report }, () => RED.util.generateId())]);
    }

    // One run at a time: a message arriving during a scheduled run waits for it (both may write the same period).
    let queue: Promise<unknown> = Promise.resolve();
    function run(period: Period, d: ReportDefinition, trigger: string): Promise<Produced> {
      const next = queue.then(async () => {
        setStatus(node, 'connecting', RED._('upperstack-report.status.producing', { period: period.label }));
        await storeNode!.ready;
        return produceReport(d, period, { store: storeNode!.store, isRetired: retiredInRegistry, archive, now: Date.now(), keep, trigger });
      });
      queue = next.catch(() => undefined);
      return next;
    }

    let schedule: ReportSchedule | undefined;
    if (expression) {
      try {
        schedule = new ReportSchedule({
          expression,
          timezone: zone,
          period: definition.period,
          marks: new Marks(join(reportsDir(RED), '.marks', `${slug(definition.name)}.json`)),
          produce: async (period) => {
            const r = await run(period, definition, 'schedule');
            send(r, undefined, (m) => node.send(m));
            idleStatus(doneText(r));
            return r.entry.id;
          },
          onError: (err, period) => {
            const message = describeError(err).message;
            setStatus(node, 'failed', RED._('upperstack-report.status.failed', { period: period.label, message }));
            node.error(RED._('upperstack-report.errors.run', { period: period.label, message }));
          },
          onMissed: (slot) => node.warn(RED._('upperstack-report.warnings.missed', { time: zoneTimeText(slot, zone) })),
        });
        schedule.start();
      } catch (err) {
        const message = describeError(err).message;
        setStatus(node, 'failed', message);
        node.error(RED._('upperstack-report.errors.config', { message }));
      }
    }
    // The raw readings of the period the next run reports on outlive the store's retention until then (bounded by the store).
    const sched = schedule;
    const release = sched ? storeNode.store.holdRaw?.(`report:${node.id}`, () => periodAt(definition.period, sched.next() ?? Date.now(), zone).from) : undefined;
    idleStatus();

    onInput(node, async (msg, sendFn, done) => {
      const payload = typeof msg.payload === 'object' && msg.payload !== null && !Array.isArray(msg.payload) && !Buffer.isBuffer(msg.payload) ? (msg.payload as Record<string, unknown>) : {};
      const { from: _f, to: _t, ...overrides } = payload;
      const d = Object.keys(overrides).length ? checkDefinition(overrides, definition) : definition;
      const period = periodOfMessage(payload, d, Date.now());
      try {
        const r = await run(period, d, 'message');
        send(r, msg, sendFn);
        idleStatus(doneText(r));
        done();
      } catch (err) {
        setStatus(node, 'failed', RED._('upperstack-report.status.failed', { period: period.label, message: describeError(err).message }));
        throw err;
      }
    });

    onClose(node, async () => {
      release?.();
      unprovide();
      await schedule?.stop();
    });
  }

  registerNode(RED, 'upperstack-report', UpperstackReportNode);
};
