/**
 * The /query statements the HTTP input answers for InfluxDB 1.x clients: Telegraf's quoted CREATE DATABASE,
 * the CLI's SHOW DATABASES, and the bounded list of names behind it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDatabaseAnswer, influxStatement, KnownDatabases, showDatabasesAnswer } from '../../nodes/lib/inputs/influx-query';

test('CREATE DATABASE names its database, quoted or not, with or without what follows; SHOW DATABASES in any case', () => {
  assert.deepEqual(influxStatement('CREATE DATABASE "telegraf"'), { kind: 'create', name: 'telegraf' });
  assert.deepEqual(influxStatement('create database "my \\"db\\""'), { kind: 'create', name: 'my "db"' });
  assert.deepEqual(influxStatement('CREATE DATABASE mydb WITH DURATION 1d'), { kind: 'create', name: 'mydb' });
  assert.deepEqual(influxStatement(' show databases;'), { kind: 'show-databases' });
  assert.deepEqual(influxStatement('SHOW DATABASES; DROP DATABASE x'), { kind: 'other' });
  assert.deepEqual(influxStatement('SELECT * FROM m'), { kind: 'other' });
});

test('the names are listed sorted, once each, the oldest dropped past the bound; the answer is InfluxDB 1.x\'s shape', () => {
  const known = new KnownDatabases(2);
  known.add('b');
  known.add('a');
  known.add('b');
  known.add('');
  known.add(undefined);
  assert.deepEqual(known.list(), ['a', 'b']);
  known.add('c');
  assert.deepEqual(known.list(), ['a', 'c']);
  assert.deepEqual(JSON.parse(showDatabasesAnswer(known.list())), { results: [{ statement_id: 0, series: [{ name: 'databases', columns: ['name'], values: [['a'], ['c']] }] }] });
  assert.deepEqual(JSON.parse(showDatabasesAnswer([])), { results: [{ statement_id: 0, series: [{ name: 'databases', columns: ['name'] }] }] });
});

test('CREATE DATABASE on GET is answered as influxd 1.x answers it: done, with a warning to use POST', () => {
  assert.deepEqual(JSON.parse(createDatabaseAnswer('db', false)), { results: [{ statement_id: 0 }] });
  assert.deepEqual(JSON.parse(createDatabaseAnswer('db', true)), {
    results: [{ statement_id: 0, messages: [{ level: 'warning', text: "deprecated use of 'CREATE DATABASE db' in a read only context, please use a POST request instead" }] }],
  });
});
