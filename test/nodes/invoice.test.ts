/**
 * The invoice node in a Node-RED test runtime over a real DuckDB file (test/helpers/report-nodes.ts): runs
 * over HTTP and by message, numbering, its PDF's time zone, two nodes of one series, and a run again after the
 * tariff or the readings changed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import helper from 'node-red-node-test-helper';
import type { StoreConfigNode } from '../../nodes/store-config/options';
import { DAY, flow, OCT, TARIFFS, until, useReportNodes, type Msg } from '../helpers/report-nodes';

describe('invoice node', () => {
  const h = useReportNodes();

  test('invoices over HTTP: numbered once, the same invoice when run again, listed and downloadable', async () => {
    const { iout1: invMsgs } = await h.deploy(flow());
    const post = (body: unknown) => fetch(`${h.api}/api/v1/invoices/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify(body) });
    const typo = await post({ period: '2026-10', customer: 'acmee' });
    assert.equal(typo.status, 404);
    assert.deepEqual(((await typo.json()) as { error: { code: string; message: string } }).error, {
      code: 'NOT_FOUND',
      message: 'no device has customer "acmee" (tag "customer"); known customers: acme, globex',
      parameter: 'customer',
      customer: 'acmee',
      known: ['acme', 'globex'],
    });
    const res = await post({ period: '2026-10', customer: 'acme' });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { invoices: Array<{ id: string; number: string; total: string; reissued: boolean; files: Array<{ name: string; url: string }> }> };
    assert.equal(body.invoices.length, 1);
    const inv = body.invoices[0];
    // meter-a 3 kWh, meter-b 6 kWh (exact: 103 − 100, 13 − 7): 9 × 0.3333 = 2.9997 → 3.00; + 5 = 8.00; tax 20% 1.60
    assert.deepEqual([inv.number, inv.total, inv.reissued], ['INV-000001', '9.60', false]);
    const again = (await (await post({ period: '2026-10', customer: 'acme' })).json()) as typeof body;
    assert.deepEqual([again.invoices[0].number, again.invoices[0].reissued], ['INV-000001', true]);
    const all = (await (await post({ period: '2026-10' })).json()) as typeof body;
    assert.deepEqual(all.invoices.map((i) => i.number), ['INV-000001', 'INV-000002']);
    await until(() => invMsgs.length === 4, 'invoice messages');
    assert.equal(invMsgs[0].invoice?.number, 'INV-000001');
    assert.deepEqual(invMsgs[0].attachments!.map((a) => a.filename), ['INV-000001.pdf', 'INV-000001.csv', 'INV-000001.json']);

    const list = (await (await fetch(`${h.api}/api/v1/invoices`, { headers: h.withKey })).json()) as { invoices: Array<{ id: string }> };
    assert.deepEqual(list.invoices.map((i) => i.id).sort(), ['INV-000001', 'INV-000002']);
    const csv = await (await fetch(`${h.api}${inv.files.find((f) => f.name.endsWith('.csv'))!.url}`, { headers: h.withKey })).text();
    assert.match(csv, /INV-000001,acme,2026-10,2,kwh \(kWh\),9,kWh,0\.3333,3\.00,EUR/);

    const bad = await post({ period: '2026-13' });
    assert.equal(bad.status, 400);
    assert.equal(((await bad.json()) as { error: { parameter: string } }).error.parameter, 'period');
    assert.equal((await post({ period: '2026-10', tariff: 'x' })).status, 400);
  });

  test('an invoice node in Europe/Berlin: the PDF downloaded over HTTP prints its times on Berlin\'s clock and names the zone once', async () => {
    await h.deploy(flow().map((n) => (n.id === 'inv' ? { ...n, timezone: 'Europe/Berlin' } : n)));
    const res = await fetch(`${h.api}/api/v1/invoices/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify({ period: '2026-10', customer: 'acme' }) });
    assert.equal(res.status, 200);
    const [inv] = ((await res.json()) as { invoices: Array<{ files: Array<{ name: string; url: string }> }> }).invoices;
    const pdf = Buffer.from(await (await fetch(`${h.api}${inv.files.find((f) => f.name.endsWith('.pdf'))!.url}`, { headers: h.withKey })).arrayBuffer());
    const path = join(h.dataDir, 'invoice.pdf');
    writeFileSync(path, pdf);
    const text = execFileSync('pdftotext', ['-layout', path, '-']).toString('utf8');
    assert.match(text, /2026-10-01 00:00 – 2026-11-01 00:00/);
    // meter-a reads at 00:00 UTC each day: 02:00 CEST on 1 October, 01:00 CET on the 31st.
    assert.match(text, /meter-a \(31 readings\)\s+kwh \(delta\)\s+100 \(2026-10-01 02:00\)\s+103 \(2026-10-31 01:00\)/);
    assert.match(text, /times in Europe\/Berlin \(CET\/CEST\)\./);
  });

  test('two invoice nodes deployed with one series: a run says so (409) instead of asking to choose between "INV, INV"; no number is taken', async () => {
    const twin = { id: 'inv2', type: 'upperstack-invoice', z: 'tab', store: 'cfg', series: 'INV', tariffs: TARIFFS, schedule: 'none', timezone: 'UTC', wires: [[], []] };
    await h.deploy(flow([twin]));
    const post = (body: unknown) => fetch(`${h.api}/api/v1/invoices/run`, { method: 'POST', headers: { 'content-type': 'application/json', ...h.withKey }, body: JSON.stringify(body) });
    for (const body of [{ period: '2026-10' }, { period: '2026-10', series: 'INV' }]) {
      const res = await post(body);
      assert.equal(res.status, 409);
      assert.deepEqual(((await res.json()) as { error: unknown }).error, {
        code: 'CONFLICT',
        message: '2 invoice nodes are deployed with the series "INV": a series is numbered by one node; give the others a series of their own and deploy',
        series: 'INV',
      });
    }
    const other = await post({ period: '2026-10', series: 'B' });
    assert.equal(other.status, 400);
    assert.match(((await other.json()) as { error: { message: string } }).error.message, /must name the series of a deployed invoice node: INV$/);
    const list = (await (await fetch(`${h.api}/api/v1/invoices`, { headers: h.withKey })).json()) as { invoices: unknown[] };
    assert.deepEqual(list.invoices, []);
  });

  test('an invoice run again after a tariff change warns of the tariff, after late readings of the readings; the issued invoice stands', async () => {
    const runNode = async (got: Msg[], n: number) => {
      (helper.getNode('inv') as unknown as { receive: (m: unknown) => void }).receive({ payload: { period: '2026-10', customer: 'acme' } });
      await until(() => got.length === n, 'the invoice message');
      return got[n - 1];
    };
    const warnings = () => {
      const spy = (helper as unknown as { log(): { args: Array<[{ level: number; msg: unknown }]>; WARN: number } }).log();
      return spy.args.map((a) => a[0]).filter((e) => e.level === spy.WARN).map((e) => String(e.msg)).filter((m) => /INV-000001/.test(m));
    };
    const first = await runNode((await h.deploy(flow())).iout1, 1);
    assert.deepEqual([first.invoice?.number, first.invoice?.reissued], ['INV-000001', false]);
    // New prices from next month: the node's tariff changes, October's readings do not.
    await h.undeploy();
    const dearer = JSON.parse(TARIFFS) as Array<{ meters: Array<{ pricing: { unitPrice: string } }> }>;
    dearer[0].meters[0].pricing.unitPrice = '0.40';
    const { iout1: got } = await h.deploy(flow().map((n) => (n.id === 'inv' ? { ...n, tariffs: JSON.stringify(dearer) } : n)));
    const again = await runNode(got, 1);
    assert.deepEqual([again.invoice?.number, again.invoice?.reissued, (again.payload as { total: string }).total], ['INV-000001', true, '9.60']);
    let said = warnings();
    assert.equal(said.length, 1, said.join('\n'));
    assert.match(said[0], /^invoice INV-000001 \(acme, 2026-10\) was issued with another tariff or other invoice settings than the node has now; the issued invoice stands/);
    // A late reading of October: now the readings differ.
    const cfg = helper.getNode('cfg') as unknown as StoreConfigNode;
    await cfg.store.write([{ device: 'meter-a', ts: OCT + 30 * DAY + 3_600_000, fields: { kwh: 110 }, tags: { customer: 'acme' } }]);
    await runNode(got, 2);
    said = warnings();
    assert.equal(said.length, 2, said.join('\n'));
    assert.match(said[1], /^the readings of acme for 2026-10 changed since invoice INV-000001 was issued/);
  });
});
