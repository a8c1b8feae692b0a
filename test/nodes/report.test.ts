/**
 * The report node in a Node-RED test runtime over a real DuckDB file (test/helpers/report-nodes.ts): "send
 * now" messages, the HTTP routes (real HTTP server on a free port), the schedule's catch-up at deploy, and
 * config errors. The invoice node's are in invoice.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import { randomBytes } from 'node:crypto';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { useDevices } from '../../nodes/shared/devices';
import { createTransport } from 'nodemailer';
import { DAY, flow, until, useReportNodes, type Msg } from '../helpers/report-nodes';
import { mimeParts, startSmtp } from '../helpers/smtp';

describe('report node', () => {
  const h = useReportNodes();

  test('a message runs the report now: one message with the files attached, one message per file', async () => {
    const { out1: one, out2: files } = await h.deploy(flow());
    (helper.getNode('rep') as unknown as { receive: (m: unknown) => void }).receive({ payload: { from: '2026-10-01', to: '2026-11-01' } });
    await until(() => one.length === 1 && files.length === 4, 'the report messages');
    const m = one[0];
    assert.deepEqual(m.attachments!.map((a) => a.filename), ['meters-daily-20261001T0000-20261101T0000.csv', 'meters-daily-20261001T0000-20261101T0000.json', 'meters-daily-20261001T0000-20261101T0000.html', 'meters-daily-20261001T0000-20261101T0000.pdf']);
    assert.equal(m.attachments![3].contentType, 'application/pdf');
    assert.equal(m.attachments![3].content.subarray(0, 5).toString(), '%PDF-');
    assert.match(m.topic!, /meters daily/);
    const csv = m.attachments![0].content.toString().split('\r\n');
    assert.match(csv[1], /^meter-a,kwh,kWh,31,100,103,/);
    assert.match(csv[2], /^meter-b,kwh,kWh,31,7,13,/);
    assert.equal(csv.length, 4, 'globex\'s meter is not in acme\'s report');
    assert.deepEqual(files.map((f) => f.filename), m.attachments!.map((a) => a.filename));
    assert.ok(Buffer.isBuffer(files[0].payload));

    // Two messages at once for the same period: both are answered, one copy is kept.
    const rep = helper.getNode('rep') as unknown as { receive: (m: unknown) => void };
    rep.receive({ payload: { from: '2026-10-01', to: '2026-11-01' } });
    rep.receive({ payload: { from: '2026-10-01', to: '2026-11-01' } });
    await until(() => one.length === 3, 'both runs');
    assert.deepEqual(readdirSync(join(h.dataDir, 'reports')).filter((n) => !n.startsWith('.')), ['meters-daily-20261001T0000-20261101T0000']);
  });

  test('a device retired in the device registry is not listed as silent, from the next run on without a redeploy, by message and over HTTP', async () => {
    const { out2: files } = await h.deploy(flow());
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    const auth = new DeviceAuth({ registry });
    await auth.ready;
    await registry.add({ id: 'meter-a' });
    await registry.add({ id: 'meter-b' });
    const release = useDevices({ owner: {}, auth, registry });
    try {
      type Json = { devices: string[]; retired?: string[]; series: Array<{ device: string; count: number }> };
      const json = (m: Msg) => JSON.parse((m.payload as Buffer).toString()) as Json;
      const runNovember = async (): Promise<Json> => {
        files.length = 0;
        // November: both of acme's meters read in October only, so both silent in it.
        (helper.getNode('rep') as unknown as { receive: (m: unknown) => void }).receive({ payload: { from: '2026-11-01', to: '2026-12-01' } });
        await until(() => files.length === 4, 'the report files');
        return json(files.find((f) => f.filename!.endsWith('.json'))!);
      };
      const before = await runNovember();
      assert.deepEqual(before.devices, ['meter-a', 'meter-b']);
      assert.equal(before.retired, undefined);

      await registry.update('meter-a', { enabled: false });
      const after = await runNovember();
      assert.deepEqual(after.devices, ['meter-b']);
      assert.deepEqual(after.retired, ['meter-a']);
      const html = (files.find((f) => f.filename!.endsWith('.html'))!.payload as Buffer).toString();
      assert.match(html, /Left out: 1 device retired in the device registry that sent nothing in this period \(meter-a\)/);

      // The same over HTTP, by name: the deployed node's settings, the registry as it is now.
      const run = await fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ name: 'meters daily', from: '2026-11-01', to: '2026-12-01', formats: ['json'] }) });
      assert.equal(run.status, 201);
      const created = (await run.json()) as { files: Array<{ url: string }> };
      const body = (await (await fetch(`${h.api}${created.files[0].url}`, { headers: h.withKey })).json()) as Json;
      assert.deepEqual([body.devices, body.retired], [['meter-b'], ['meter-a']]);

      // In October meter-a sent readings: retired or not, it is in that report.
      const october = await fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ name: 'meters daily', from: '2026-10-01', to: '2026-11-01', formats: ['json'] }) });
      const oct = (await (await fetch(`${h.api}${((await october.json()) as { files: Array<{ url: string }> }).files[0].url}`, { headers: h.withKey })).json()) as Json;
      assert.deepEqual([oct.devices, oct.retired], [['meter-a', 'meter-b'], undefined]);
    } finally {
      release();
    }
  });

  test('reports over HTTP: run with a definition, list, download; the key is required; errors name the setting', async () => {
    await h.deploy(flow());
    const post = (path: string, body: unknown, headers: Record<string, string> = h.withKey) =>
      fetch(`${h.api}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    assert.equal((await fetch(`${h.api}/api/v1/reports`)).status, 401);
    assert.equal((await post('/api/v1/reports/run', { name: 'x' }, {})).status, 401);

    const run = await post('/api/v1/reports/run', { name: 'globex october', devices: { mode: 'list', list: ['meter-c'] }, from: '2026-10-01', to: '2026-11-01', formats: ['csv', 'pdf'] });
    assert.equal(run.status, 201);
    const created = (await run.json()) as { id: string; files: Array<{ name: string; url: string; size: number }> };
    assert.equal(created.id, 'globex-october-20261001T0000-20261101T0000');
    assert.deepEqual(created.files.map((f) => f.name.split('.').pop()), ['csv', 'pdf']);

    // Run by the name of the deployed report node: its settings, this period.
    const byName = await post('/api/v1/reports/run', { name: 'meters daily', from: '2026-10-01', to: '2026-10-02' });
    assert.equal(byName.status, 201);
    // Dates are days of the report's time zone: Berlin's 1 October, not UTC's (which would be 02:00 – 02:00 there).
    const berlin = await post('/api/v1/reports/run', { name: 'berlin day', timezone: 'Europe/Berlin', from: '2026-10-01', to: '2026-10-02', formats: ['json'] });
    assert.equal(berlin.status, 201);
    const day = ((await berlin.json()) as { period: { from: string; to: string; label: string } }).period;
    assert.deepEqual(day, { ...day, from: '2026-09-30T22:00:00.000Z', to: '2026-10-01T22:00:00.000Z', label: '1 Oct 2026 00:00 – 2 Oct 2026 00:00' });

    const list = (await (await fetch(`${h.api}/api/v1/reports`, { headers: h.withKey })).json()) as { reports: Array<{ id: string }> };
    assert.deepEqual(list.reports.map((r) => r.id).sort(), ['berlin-day-20261001T0000-20261002T0000', 'globex-october-20261001T0000-20261101T0000', 'meters-daily-20261001T0000-20261002T0000']);
    const named = (await (await fetch(`${h.api}/api/v1/reports?name=meters%20daily`, { headers: h.withKey })).json()) as { reports: unknown[] };
    assert.equal(named.reports.length, 1);

    const csv = await fetch(`${h.api}${created.files[0].url}`, { headers: h.withKey });
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type')!, /text\/csv/);
    assert.match(csv.headers.get('content-disposition')!, /attachment; filename="globex-october-.*\.csv"/);
    assert.match(await csv.text(), /^device,field/);
    const pdf = await fetch(`${h.api}${created.files[1].url}`, { headers: h.withKey });
    assert.equal(pdf.headers.get('content-type'), 'application/pdf');
    assert.equal(Buffer.from(await pdf.arrayBuffer()).length, created.files[1].size);

    for (const path of [`/api/v1/reports/${created.id}/meta.json`, `/api/v1/reports/${created.id}/..%2F..%2Fupperstack.duckdb`, '/api/v1/reports/..%2F..%2Fetc/passwd', `/api/v1/reports/nope/x.csv`]) {
      const r = await fetch(`${h.api}${path}`, { headers: h.withKey });
      assert.equal(r.status, 404, path);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
    }
    const bad = await post('/api/v1/reports/run', { name: 'x', period: 'fortnight' });
    assert.equal(bad.status, 400);
    const e = ((await bad.json()) as { error: { code: string; message: string; parameter: string } }).error;
    assert.deepEqual([e.code, e.parameter], ['BAD_PARAMETER', 'period']);
    // A name with an accented letter: the answer says which letters a name takes, and where any text may go.
    const accented = await post('/api/v1/reports/run', { name: 'Küche täglich', from: '2026-10-01', to: '2026-10-02' });
    assert.equal(accented.status, 400);
    assert.deepEqual(((await accented.json()) as { error: unknown }).error, {
      code: 'BAD_PARAMETER',
      parameter: 'name',
      message: 'name: must be 1 to 64 letters A to Z without accents, digits, spaces, "_", "." or "-", starting with a letter or digit ("Kueche daily", not "Küche daily"); the title may be any text',
    });
    const notJson = await fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: h.withKey, body: 'name=x' });
    assert.equal(notJson.status, 415);
    const broken = await fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: '{"name": ' });
    assert.equal(broken.status, 400);
    assert.equal(((await broken.json()) as { error: { parameter: string } }).error.parameter, 'body');
    // JSON.parse reads 1e309 as Infinity: refused naming where, before the route makes anything of it.
    const huge = await fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: '{"name":"x","from":"2026-10-01","to":"2026-10-02","hours":[1,-1e309]}' });
    assert.equal(huge.status, 400);
    assert.deepEqual(await huge.json(), { error: { code: 'BAD_PARAMETER', parameter: 'hours', pointer: '/hours/1', message: '/hours/1 is too large a number to keep: numbers must stay within ±1.7e308 (a larger one, such as 1e309, reads as infinity and would be saved as null)' } });
  });

  test('two ranges in the hour Berlin\'s clock shows twice are two reports: both kept and fetchable, ordinary ids as they were', async () => {
    await h.deploy(flow());
    const post = (from: string, to: string) =>
      fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ name: 'berlin night', timezone: 'Europe/Berlin', from, to, formats: ['json'] }) });
    // 00:10Z – 00:40Z is 02:10 – 02:40 CEST; 01:10Z – 01:40Z is 02:10 – 02:40 again, in CET.
    const runs: Array<{ id: string; period: { label: string }; files: Array<{ url: string }> }> = [];
    for (const [from, to] of [['2026-10-25T00:10:00Z', '2026-10-25T00:40:00Z'], ['2026-10-25T01:10:00Z', '2026-10-25T01:40:00Z'], ['2026-10-24T10:00:00Z', '2026-10-24T11:00:00Z']]) {
      const r = await post(from, to);
      assert.equal(r.status, 201);
      runs.push((await r.json()) as (typeof runs)[number]);
    }
    // The first pass and any ordinary range keep the ids they always had; the second pass carries its offset.
    assert.deepEqual(runs.map((r) => r.id), ['berlin-night-20261025T0210-20261025T0240', 'berlin-night-20261025T0210-0100-20261025T0240-0100', 'berlin-night-20261024T1200-20261024T1300']);
    assert.deepEqual(runs.map((r) => r.period.label).slice(0, 2), ['25 Oct 2026 02:10 CEST – 25 Oct 2026 02:40 CEST', '25 Oct 2026 02:10 CET – 25 Oct 2026 02:40 CET']);
    const list = (await (await fetch(`${h.api}/api/v1/reports?name=berlin%20night`, { headers: h.withKey })).json()) as { reports: Array<{ id: string }> };
    assert.deepEqual(list.reports.map((r) => r.id).sort(), runs.map((r) => r.id).sort());
    for (const r of runs.slice(0, 2)) {
      const got = await fetch(`${h.api}${r.files[0].url}`, { headers: h.withKey });
      assert.equal(got.status, 200);
      assert.equal(((await got.json()) as { id: string }).id, r.id);
    }
  });

  test('a time Berlin\'s clock skips (02:30 on the day the clocks go forward) is refused naming the gap, not moved an hour on', async () => {
    await h.deploy(flow([], { timezone: 'Europe/Berlin' }));
    const post = (from: string, to: string) =>
      fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ name: 'berlin spring', timezone: 'Europe/Berlin', from, to, formats: ['json'] }) });
    // Read as 03:30 CEST, 02:30 – 03:30 would be answered "to must be after from"; 02:30 – 06:00 would report from 03:30.
    for (const [from, to] of [['2026-03-29T02:30', '2026-03-29T03:30'], ['2026-03-29T02:30', '2026-03-29T06:00']]) {
      const r = await post(from, to);
      assert.equal(r.status, 400, `${from} – ${to}`);
      assert.deepEqual(((await r.json()) as { error: unknown }).error, {
        code: 'BAD_PARAMETER',
        parameter: 'from',
        message: '"from" 2026-03-29 02:30 is not a time in Europe/Berlin: its clocks go forward from 02:00 to 03:00 that day (CET to CEST); give a time outside that gap, or one with an offset',
      });
    }
    // Times on either side of the gap, and the day itself (23 hours), are reported as before.
    const around = await post('2026-03-29T01:30', '2026-03-29T03:30');
    assert.equal(around.status, 201);
    const p = ((await around.json()) as { period: { from: string; to: string } }).period;
    assert.deepEqual([p.from, p.to], ['2026-03-29T00:30:00.000Z', '2026-03-29T01:30:00.000Z']);
    const day = ((await (await post('2026-03-29', '2026-03-30')).json()) as { period: { from: string; to: string } }).period;
    assert.deepEqual([day.from, day.to], ['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z']);
    // A message into a Berlin report node meets the same words, through done(err) to Catch nodes.
    const rep = helper.getNode('rep') as unknown as NodeJS.EventEmitter & { receive: (m: unknown) => void };
    const failed = new Promise<unknown>((resolve) => rep.once('call:error', (call: { args: unknown[] }) => resolve(call.args[0])));
    rep.receive({ payload: { from: '2026-03-29T02:15', to: '2026-03-29T04:00' } });
    const err = await failed;
    assert.match(err instanceof Error ? err.message : String(err), /^"from" 2026-03-29 02:15 is not a time in Europe\/Berlin: its clocks go forward from 02:00 to 03:00 that day \(CET to CEST\)/);
  });

  test('the listing says whether a report\'s period is over, with the JSON\'s period.finished and period.coveredUntil', async () => {
    await h.deploy(flow());
    const post = (body: unknown) => fetch(`${h.api}/api/v1/reports/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify(body) });
    // Today and tomorrow: a period that ends after the run.
    const today = new Date(Date.now() - (Date.now() % DAY));
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const open = await post({ name: 'this week', devices: { mode: 'list', list: ['meter-c'] }, from: day(today.getTime()), to: day(today.getTime() + 2 * DAY), formats: ['json'] });
    assert.equal(open.status, 201);
    const done = await post({ name: 'october', devices: { mode: 'list', list: ['meter-c'] }, from: '2026-10-01', to: '2026-11-01', formats: ['json'] });
    assert.equal(done.status, 201);
    // A report kept before its entry said so: computed when it was created, mid-period.
    const old = join(h.dataDir, 'reports', 'kept-20261001T0000-20261101T0000');
    mkdirSync(old, { recursive: true });
    writeFileSync(join(old, 'meta.json'), JSON.stringify({ id: 'kept-20261001T0000-20261101T0000', kind: 'report', group: 'kept', createdAt: '2026-10-15T12:00:00.000Z', period: { key: '20261001T0000-20261101T0000', label: 'October 2026', from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z', timezone: 'UTC' }, files: [] }));

    type Listed = { id: string; period: { finished?: boolean; coveredUntil?: string }; files: Array<{ url: string }> };
    const list = ((await (await fetch(`${h.api}/api/v1/reports`, { headers: h.withKey })).json()) as { reports: Listed[] }).reports;
    const of = (group: string) => list.find((r) => r.id.startsWith(group))!;
    const json = (await (await fetch(`${h.api}${of('this-week').files[0].url}`, { headers: h.withKey })).json()) as { period: { finished: boolean; coveredUntil?: string } };
    assert.equal(json.period.finished, false);
    assert.deepEqual([of('this-week').period.finished, of('this-week').period.coveredUntil], [false, json.period.coveredUntil]);
    assert.deepEqual([of('october').period.finished, of('october').period.coveredUntil], [true, undefined]);
    assert.deepEqual([of('kept').period.finished, of('kept').period.coveredUntil], [false, '2026-10-15T12:00:00.000Z']);
  });

  test('a report in Europe/Berlin of the day the clocks go back: its PDF marks a time in the repeated hour CEST or CET and names the zone once', async () => {
    await h.deploy(flow());
    const run = await fetch(`${h.api}/api/v1/reports/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...h.withKey },
      body: JSON.stringify({ name: 'berlin dst', timezone: 'Europe/Berlin', devices: { mode: 'list', list: ['meter-a'] }, from: '2026-10-25', to: '2026-10-26', formats: ['pdf'] }),
    });
    assert.equal(run.status, 201);
    const created = (await run.json()) as { files: Array<{ url: string }> };
    const path = join(h.dataDir, 'report.pdf');
    writeFileSync(path, Buffer.from(await (await fetch(`${h.api}${created.files[0].url}`, { headers: h.withKey })).arrayBuffer()));
    const text = execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8').replace(/\s+/g, ' ');
    assert.match(text, /\(2026-10-25 00:00 – 2026-10-26 00:00\) times in Europe\/Berlin \(CET\/CEST\) · 1 device/);
    // meter-a reads at 00:00 UTC: on the 25th that is 02:00 CEST, an hour before the clock shows 02:00 again in CET.
    assert.match(text, /last \d+(?:\.\d+)? at 2026-10-25 02:00 CEST/);
  });

  test('one device and one file: the message says "1 device" and the status "1 file"; one invoice, "1 invoice"', async () => {
    const { out1: one, iout1: invoices } = await h.deploy(flow([], { devicesMode: 'list', devices: 'meter-a', csv: true, json: false, html: false, pdf: false }));
    const statuses = (id: string) => {
      const seen: string[] = [];
      (helper.getNode(id) as unknown as NodeJS.EventEmitter).on('call:status', (call: { args: [{ text?: string }] }) => seen.push(String(call.args[0]?.text)));
      return seen;
    };
    const rep = statuses('rep');
    const inv = statuses('inv');
    (helper.getNode('rep') as unknown as { receive: (m: unknown) => void }).receive({ payload: { from: '2026-10-01', to: '2026-11-01' } });
    await until(() => one.length === 1 && rep.some((s) => /: 1 file\b/.test(s)), 'the report and its status');
    assert.match(String(one[0].payload), /: 1 device, 1 series\./);
    assert.ok(rep.every((s) => !/\b1 files\b/.test(s)), rep.join('\n'));
    (helper.getNode('inv') as unknown as { receive: (m: unknown) => void }).receive({ payload: { period: '2026-10', customer: 'acme' } });
    await until(() => invoices.length === 1 && inv.some((s) => /: 1 invoice\b/.test(s)), 'the invoice and its status');
    assert.ok(inv.every((s) => !/\b1 invoices\b/.test(s)), inv.join('\n'));
  });

  test('the report sent by e-mail as an e-mail node sends msg.attachments (nodemailer, STARTTLS, login) arrives byte for byte; a refused send leaves the report kept', async () => {
    const smtp = await startSmtp({ user: 'reports', pass: 's3cret' }, (to) => to === 'nobody@example.com');
    const { out1: one } = await h.deploy(flow([], { title: 'Zähler täglich', units: 'kwh = m³' }));
    (helper.getNode('rep') as unknown as { receive: (m: unknown) => void }).receive({ payload: { from: '2026-10-01', to: '2026-11-01' } });
    await until(() => one.length === 1, 'the report message');
    const m = one[0];
    // What node-red-node-email does with the message: subject msg.topic, text msg.payload, attachments as they are.
    const mail = (pass: string, to: string, port = smtp.port) =>
      createTransport({ host: '127.0.0.1', port, secure: false, requireTLS: true, auth: { user: 'reports', pass }, tls: { ca: [smtp.cert] } }).sendMail({
        from: 'reports@example.com', to, subject: m.topic, text: String(m.payload), attachments: m.attachments,
      });
    try {
      await mail('s3cret', 'ops@example.com');
      assert.equal(smtp.messages.length, 1);
      const { headers, parts } = mimeParts(smtp.messages[0].raw);
      assert.match(headers.subject, /^=\?UTF-8\?/, 'the subject with its en dash and umlaut is encoded');
      const files = parts.slice(1);
      assert.deepEqual(files.map((p) => /filename=("?)([^";]+)\1/.exec(p.headers['content-disposition'])?.[2]), m.attachments!.map((a) => a.filename));
      const id = m.report!.id as string;
      for (const [i, a] of m.attachments!.entries()) {
        assert.ok(files[i].body.equals(a.content), `${a.filename} arrives byte for byte`);
        assert.ok(files[i].body.equals(readFileSync(join(h.dataDir, 'reports', id, a.filename))), `${a.filename} is the kept file`);
      }
      assert.equal(files[3].body.subarray(0, 5).toString(), '%PDF-');
      // Text files say they are UTF-8: without a charset a mail client reads them as US-ASCII ("mÂ³", "ZÃ¤hler").
      assert.match(files[0].headers['content-type'], /^text\/csv; charset=utf-8/);
      assert.match(files[2].headers['content-type'], /^text\/html; charset=utf-8/);
      assert.match(files[0].body.toString('utf8'), /m³/);

      // Refused: a wrong password, a recipient the server does not take, the server gone. Each is the e-mail node's
      // error (nodemailer's, with the server's answer); the report stays in the data folder and is listed.
      await assert.rejects(mail('wrong', 'ops@example.com'), (e: Error & { code?: string; responseCode?: number }) => e.code === 'EAUTH' && e.responseCode === 535);
      await assert.rejects(mail('s3cret', 'nobody@example.com'), (e: Error & { code?: string; responseCode?: number }) => e.code === 'EENVELOPE' && e.responseCode === 550);
      const port = smtp.port;
      await smtp.close();
      await assert.rejects(mail('s3cret', 'ops@example.com', port), (e: Error & { code?: string }) => e.code === 'ESOCKET' || e.code === 'ECONNECTION');
      assert.equal(smtp.messages.length, 1);
      const listed = (await (await fetch(`${h.api}/api/v1/reports?name=meters%20daily`, { headers: h.withKey })).json()) as { reports: Array<{ id: string; files: Array<{ name: string; size: number }> }> };
      assert.deepEqual(listed.reports.map((r) => r.id), [id]);
      assert.deepEqual(listed.reports[0].files.map((f) => [f.name, f.size]), m.attachments!.map((a) => [a.filename, a.content.length]));
    } finally {
      await smtp.close().catch(() => undefined);
    }
  });

  test('a daily schedule produces the days missed while the runtime was down, once', async () => {
    // Marks as a runtime that last ran the schedule three days ago would have left them.
    const now = Date.now();
    const marks = join(h.dataDir, 'reports', '.marks', 'meters-daily.json');
    mkdirSync(join(h.dataDir, 'reports', '.marks'), { recursive: true });
    writeFileSync(marks, JSON.stringify({ lastSlot: now - 3 * DAY - 60_000, produced: {} }));
    const schedule = { schedule: 'cron', cron: '* * * * *', period: 'previous-day', devicesMode: 'all', fields: '' };
    const { out1: one } = await h.deploy(flow([], schedule));
    await until(() => one.length >= 3, 'the missed days');
    const keys = one.map((m) => m.report!.period.key);
    assert.equal(new Set(keys).size, keys.length, 'no day twice');
    const saved = JSON.parse(readFileSync(marks, 'utf8')) as { produced: Record<string, unknown> };
    for (const k of keys) assert.ok(saved.produced[k], `${k} is marked`);
    // A redeploy produces nothing again for those days.
    await helper.unload();
    await h.stopServing();
    const { out1: again } = await h.deploy(flow([], schedule));
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(again.every((m) => !keys.includes(m.report!.period.key)), 'marked days are not produced again');
  });

  test('bad settings: the node says what is wrong in its log and to Catch nodes; the other nodes run', async () => {
    const bad = [{ id: 'inv2', type: 'upperstack-invoice', z: 'tab', store: 'cfg', series: 'B', tariffs: '[{"name":"x"}]', wires: [[], []] }];
    await h.deploy(flow(bad, { schedule: 'cron', cron: '0 25 * * *' }));
    // The helper's spy on the runtime log (not in its type declarations).
    const spy = (helper as unknown as { log(): { args: Array<[{ level: number; msg: unknown }]>; ERROR: number } }).log();
    const errors = spy.args.map((a) => a[0]).filter((e) => e.level === spy.ERROR).map((e) => String(e.msg));
    assert.ok(errors.some((m) => /report settings: cron expression "0 25 \* \* \*"/.test(m)), errors.join('\n'));
    assert.ok(errors.some((m) => /invoice settings: tariffs\[0\]\.customers/.test(m)), errors.join('\n'));
    const failed = new Promise<Error>((resolve) => (helper.getNode('rep') as unknown as NodeJS.EventEmitter).on('call:error', (call: { args: [Error] }) => resolve(call.args[0])));
    (helper.getNode('rep') as unknown as { receive: (m: unknown) => void }).receive({ payload: {} });
    assert.match(String(await failed), /cron expression/);
    // The good invoice node still serves its series.
    const res = await fetch(`${h.api}/api/v1/invoices/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ period: '2026-10', customer: 'acme' }) });
    assert.equal(res.status, 200);
  });
});
