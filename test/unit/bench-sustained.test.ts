/**
 * The bench's sustained phase (bench/pipeline-groups.ts `sustained`): the RSS of its first seconds is kept
 * apart from the whole phase's, so memory that grows only once a burst has lasted shows in its table.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProcWatch } from '../../bench/common';
import { sustainedTable } from '../../bench/pipeline-report';
import type { Row } from '../../bench/pipeline-knobs';

const MB = 1024 * 1024;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('memory taken after the early window counts in the phase, not in its first seconds', async () => {
  const watch = new ProcWatch(process.pid, 20, 100).begin();
  await sleep(300);
  // Touched, so its pages are resident.
  const held = Buffer.alloc(96 * MB).fill(1);
  await sleep(100);
  const r = watch.end();
  assert.ok(held.length > 0);
  assert.ok(r.maxRss - r.earlyRss > 64 * MB, `whole phase ${Math.round(r.maxRss / MB)} MB against ${Math.round(r.earlyRss / MB)} MB early`);
  assert.ok(r.earlyRss > 0);
});

test('the sustained table shows the early and the whole-phase RSS of each row', () => {
  const row = {
    broker: 'embedded',
    batch: 10,
    consumer: 'upperstack',
    round: 1,
    latencies: [],
    readings: 6_000_000,
    seconds: 55.5,
    rate: 108_108,
    p50: 286,
    p99: 456,
    samples: 0,
    ackSeconds: 55,
    peakRss: 320 * MB,
    phaseRss: 318 * MB,
    earlyRss: 297 * MB,
    consumerCores: 1.4,
    brokerCores: NaN,
    loadCores: 0.3,
    consumerCpu: 80.4,
    consumerMainCpu: 33,
    brokerCpu: 0,
    loadCpu: 0,
    note: '',
  } satisfies Row;
  const lines = sustainedTable([row]).split('\n');
  assert.match(lines[0], /RSS MB, first 15 s \| RSS MB, whole phase \| peak RSS MB/);
  const cells = lines[2].split('|').map((c) => c.trim());
  assert.deepEqual(cells.slice(1, 10), ['embedded', '10 readings', '6,000,000', '55.5', '108,108', '297', '318', '320', '13.4']);
});
