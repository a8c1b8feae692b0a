/** The /metrics building blocks: hot-path tallies, journal ages, who may scrape, and the exposition. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tally, LabeledTally, handleMetrics, metricsAccess, registerInput, registerSink, renderMetrics, received, deadLettered, dropped, nodeTallies } from '../../nodes/lib/metrics';

/** The value of one sample line of the exposition, e.g. value(text, 'upperstack_dropped_total'). */
function value(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    if (line.slice(0, i) === series) return Number(line.slice(i + 1));
  }
  return undefined;
}

test('a tally adds up; a labeled family caps its label sets and folds the rest into "other"', () => {
  const t = new Tally();
  t.inc();
  t.inc(4);
  assert.equal(t.value, 5);
  const codes = new LabeledTally(['code'], 3);
  const a = codes.child('A');
  assert.equal(codes.child('A'), a, 'the same object for the same labels');
  a.inc();
  codes.child('B').inc(2);
  for (let i = 0; i < 50; i++) codes.child(`flood-${i}`).inc();
  const entries = codes.entries();
  assert.equal(entries.length, 4, 'three label sets and "other"');
  assert.deepEqual(entries.find((e) => e.labels.code === 'flood-0')?.value, 1);
  assert.deepEqual(entries.find((e) => e.labels.code === 'other')?.value, 49);
  assert.equal(codes.total(), 53);
  codes.remove('B');
  assert.equal(codes.entries().length, 3);
});

test('who may scrape: key by default (API key or metrics token), none when set so, and an unknown setting is treated as key with a warning', async () => {
  const byDefault = metricsAccess(undefined, 'api-key', {});
  assert.equal(byDefault.auth, 'key');
  assert.deepEqual(byDefault.tokens, ['api-key']);
  const withToken = metricsAccess(undefined, 'api-key', { UPPERSTACK_METRICS_TOKEN: 'scrape-token' });
  assert.deepEqual(withToken.tokens, ['api-key', 'scrape-token']);
  assert.equal(metricsAccess(undefined, 'k', { UPPERSTACK_METRICS_AUTH: 'none' }).auth, 'none');
  assert.equal(metricsAccess({ auth: 'none' }, 'k', { UPPERSTACK_METRICS_AUTH: 'key' }).auth, 'none', 'the setting wins over the environment');
  const typo = metricsAccess(undefined, 'k', { UPPERSTACK_METRICS_AUTH: 'off' });
  assert.equal(typo.auth, 'key');
  assert.match(typo.warning ?? '', /"key" or "none"/);

  const none = await handleMetrics(undefined, withToken);
  assert.equal(none.status, 401);
  assert.equal(none.headers?.['WWW-Authenticate'], 'Bearer');
  assert.equal((JSON.parse(none.body) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  assert.equal((await handleMetrics('Bearer wrong', withToken)).status, 401);
  assert.equal((await handleMetrics('Bearer api-key', withToken)).status, 200);
  assert.equal((await handleMetrics('Bearer scrape-token', withToken)).status, 200);
  assert.equal((await handleMetrics(undefined, { auth: 'none', tokens: [] })).status, 200);
  const noKeys = await handleMetrics('Bearer anything', { auth: 'key', tokens: [] });
  assert.equal(noKeys.status, 401);
  assert.match(noKeys.body, /UPPERSTACK_METRICS_AUTH=none/);
});

test('the exposition has the pipeline counters, sink and journal levels, per-node counts and the process metrics', async () => {
  const before = value((await renderMetrics()).body, 'upperstack_messages_received_total{protocol="coap"}') ?? 0;
  received.child('coap').inc(7);
  deadLettered.child('SCHEMA_VIOLATION').inc(2);
  const node = nodeTallies({ id: 'n1', type: 'upperstack-decode', name: 'decode' });
  node.messages.inc(3);
  node.errors.inc();
  const unregister = registerSink('cfg1', { name: 'main store', kind: 'duckdb', stats: () => ({ written: 1234, queued: 56, spooled: 78 }) });
  const unregisterInput = registerInput('in1', { type: 'upperstack-coap-in', name: 'coap', stats: () => ({ received: 40, pending: 9, bytes: 4096, oldestUnsettledAt: Date.now() - 30_000 }) });
  const { contentType, body } = await renderMetrics();
  assert.match(contentType, /^text\/plain; version=0\.0\.4/);
  assert.equal(value(body, 'upperstack_messages_received_total{protocol="coap"}'), before + 7 + 40, 'the tally and the registered input');
  assert.equal(value(body, 'upperstack_deadletters_total{code="SCHEMA_VIOLATION"}'), 2);
  assert.equal(value(body, 'upperstack_dropped_total'), 0);
  assert.equal(dropped.value, 0);
  assert.equal(value(body, 'upperstack_readings_stored_total{sink="main store",kind="duckdb"}'), 1234);
  assert.equal(value(body, 'upperstack_sink_queue_readings{sink="main store",kind="duckdb"}'), 56);
  assert.equal(value(body, 'upperstack_sink_spooled_readings{sink="main store",kind="duckdb"}'), 78);
  assert.equal(value(body, 'upperstack_journal_backlog_messages{journal="in1",type="upperstack-coap-in"}'), 9);
  assert.equal(value(body, 'upperstack_journal_backlog_bytes{journal="in1",type="upperstack-coap-in"}'), 4096);
  const age = value(body, 'upperstack_journal_oldest_age_seconds{journal="in1",type="upperstack-coap-in"}') ?? -1;
  assert.ok(age >= 30 && age < 3600, `the oldest entry waited ${age} s`);
  assert.equal(value(body, 'upperstack_node_messages_total{node="in1",type="upperstack-coap-in",name="coap"}'), 40);
  assert.equal(value(body, 'upperstack_node_messages_total{node="n1",type="upperstack-decode",name="decode"}'), 3);
  assert.equal(value(body, 'upperstack_node_errors_total{node="n1",type="upperstack-decode",name="decode"}'), 1);
  assert.match(body, /^# TYPE upperstack_readings_stored_total counter$/m);
  assert.match(body, /^# TYPE upperstack_journal_oldest_age_seconds gauge$/m);
  for (const m of ['nodejs_eventloop_lag_seconds', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes']) {
    assert.ok((value(body, m) ?? -1) >= 0, `${m} is exported`);
  }
  // A removed node stops being exported; a closed sink's or input's count is kept, so a counter
  // never goes down across a redeploy (the new instance counts from zero on top of it).
  unregister();
  unregisterInput();
  node.forget();
  const after = (await renderMetrics()).body;
  assert.equal(value(after, 'upperstack_readings_stored_total{sink="main store",kind="duckdb"}'), 1234);
  assert.equal(value(after, 'upperstack_sink_queue_readings{sink="main store",kind="duckdb"}'), undefined, 'a level is gone with its sink');
  assert.equal(value(after, 'upperstack_messages_received_total{protocol="coap"}'), before + 7 + 40);
  assert.equal(value(after, 'upperstack_journal_backlog_messages{journal="in1",type="upperstack-coap-in"}'), undefined);
  assert.equal(value(after, 'upperstack_node_messages_total{node="n1",type="upperstack-decode",name="decode"}'), undefined);
  const unregisterAgain = registerSink('cfg1', { name: 'main store', kind: 'duckdb', stats: () => ({ written: 10, queued: 0, spooled: 0, retries: 2 }) });
  const unregisterInputAgain = registerInput('in1', { type: 'upperstack-coap-in', name: 'coap', stats: () => ({ received: 3, pending: 0, bytes: 0 }) });
  const redeployed = (await renderMetrics()).body;
  assert.equal(value(redeployed, 'upperstack_readings_stored_total{sink="main store",kind="duckdb"}'), 1244);
  assert.equal(value(redeployed, 'upperstack_sink_retries_total{sink="main store",kind="duckdb"}'), 2);
  assert.equal(value(redeployed, 'upperstack_messages_received_total{protocol="coap"}'), before + 7 + 40 + 3);
  unregisterAgain();
  unregisterInputAgain();
});
