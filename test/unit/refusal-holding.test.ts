/**
 * A request/response input's refusal for its backlog names the sinks whose spool is at its disk budget
 * (nodes/lib/store/holding.ts), since those hold the writes the backlog waits for; once they have room
 * again, or their writer has closed, the refusal says only how many messages are waiting.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { refusalError } from '../../nodes/lib/ingest/refusal';
import { noteHolding } from '../../nodes/lib/store/holding';

function backlogRefusal(): string {
  return refusalError({ name: 'HTTP telemetry', reason: 'backlog', retryAfterMs: 1000, readings: () => 20, backlog: () => 20, highWater: 20, highWaterReadings: 0, budgetBytes: 0 }).message;
}

test('a backlog refusal names the sinks holding their writes at their spool budget, and only while they do', () => {
  assert.equal(backlogRefusal(), 'HTTP telemetry cannot take more now: 20 messages are waiting to be stored (pause mark 20); retry in 1 s');
  const influx = {};
  const victoria = {};
  noteHolding(influx, { label: 'the influxdb sink "influx"', budgetBytes: 1024 * 1024 });
  assert.equal(
    backlogRefusal(),
    'HTTP telemetry cannot take more now: 20 messages are waiting to be stored (pause mark 20), because the influxdb sink "influx" holds its writes (its spool has reached its disk budget of 1 MiB); retry in 1 s',
  );
  noteHolding(victoria, { label: 'the victoriametrics sink "vm"', budgetBytes: 2 * 1024 * 1024 * 1024 });
  assert.match(backlogRefusal(), /"influx" holds its writes \(its spool has reached its disk budget of 1 MiB\) and the victoriametrics sink "vm" holds its writes \(its spool has reached its disk budget of 2 GiB\); retry/);
  // Other reasons are about the input's own journal: no sink is named.
  assert.doesNotMatch(refusalError({ name: 'x', reason: 'disk', retryAfterMs: 1000, readings: () => 0, backlog: () => 0, highWater: 20, highWaterReadings: 0, budgetBytes: 1024 }).message, /sink/);
  noteHolding(influx, undefined);
  noteHolding(victoria, undefined);
  assert.doesNotMatch(backlogRefusal(), /because/);
});
