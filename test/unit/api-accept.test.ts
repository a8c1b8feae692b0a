/**
 * Content negotiation of the query API's readings, aggregate and dead-letter answers: JSON or CSV as
 * Accept weighs them (RFC 9110 §12.5.1), JSON by default, 406 naming both when Accept rules out both.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ACCEPT_LENGTH, MAX_MEDIA_RANGES } from '../../nodes/lib/api/accept';
import { wantsCsv } from '../../nodes/lib/api/handlers';
import { NotAcceptableError } from '../../nodes/lib/errors';

describe('Accept: JSON or CSV', () => {
  const cases: Array<[string | undefined, 'csv' | 'json']> = [
    [undefined, 'json'],
    ['', 'json'],
    ['*/*', 'json'],
    ['text/csv', 'csv'],
    ['TEXT/CSV', 'csv'],
    ['text/*', 'csv'],
    ['application/json', 'json'],
    // A weight below JSON's, or zero, no longer wins because text/csv is named.
    ['application/json, text/csv;q=0.1', 'json'],
    ['text/csv;q=0.1, application/json', 'json'],
    ['text/csv;q=0, */*', 'json'],
    ['application/json;q=0.5, text/csv;q=0.9', 'csv'],
    ['application/json;q=0, */*;q=0.1', 'csv'],
    // The most specific range decides a type's weight.
    ['text/csv;q=0, text/*;q=1, application/json;q=0.5', 'json'],
    ['*/*;q=0.1, text/csv', 'csv'],
    ['text/csv;charset=utf-8;q=1, text/csv;q=0', 'csv'],
    ['text/csv;charset=latin1;q=1, application/json;q=0.2', 'json'],
    ['text/csv; header=present, application/json;q=0.5', 'csv'],
    // Equal weights: the more specific range, then the one listed first.
    ['text/csv, application/json', 'csv'],
    ['application/json, text/csv', 'json'],
    ['text/csv, */*', 'csv'],
    // A range that does not read is left out; a header none of which reads is disregarded.
    ['text/csv;q=2, application/json', 'json'],
    ['text/csv;q=abc', 'json'],
    ['nonsense', 'json'],
    ['text/csv;charset="UTF-8", application/json;q=0.1', 'csv'],
    // A browser's navigation Accept.
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'json'],
  ];
  for (const [accept, want] of cases) {
    test(`${JSON.stringify(accept)} → ${want}`, () => {
      assert.equal(wantsCsv(accept) ? 'csv' : 'json', want);
    });
  }

  const refused = ['application/xml', 'text/csv;q=0', 'text/csv;q=0, application/json;q=0', 'text/html, image/*', 'application/json;q=0, text/plain'];
  for (const accept of refused) {
    test(`${JSON.stringify(accept)} takes neither: NOT_ACCEPTABLE listing both`, () => {
      assert.throws(
        () => wantsCsv(accept),
        (err: unknown) => {
          assert.ok(err instanceof NotAcceptableError);
          assert.equal(err.code, 'NOT_ACCEPTABLE');
          assert.deepEqual(err.details.accept, ['application/json', 'text/csv']);
          assert.equal(err.message, 'the Accept header takes none of the types served here: application/json (the default), text/csv');
          return true;
        },
      );
    });
  }

  test('a header past the limits is disregarded unread: the default JSON', () => {
    assert.equal(wantsCsv(`text/csv;x="${'a'.repeat(MAX_ACCEPT_LENGTH)}"`), false);
    assert.equal(wantsCsv(`${'application/xml,'.repeat(MAX_MEDIA_RANGES)}text/csv`), false);
    assert.equal(wantsCsv(`${'application/xml,'.repeat(MAX_MEDIA_RANGES - 1)}text/csv`), true);
  });
});
