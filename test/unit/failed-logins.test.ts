/** The failed-login budgets (nodes/lib/security/failed-logins.ts): per login name from an address, and per address. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FailedLogins } from '../../nodes/lib/security/failed-logins';

async function fail(f: FailedLogins, remote: string, name: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await f.failed(remote, name);
}

test('a name over its budget is refused from that address; other names there, and the name elsewhere, may try', async () => {
  const f = new FailedLogins({ perMinute: 3 });
  await fail(f, '10.0.0.1', 'meter-a', 3);
  assert.equal(await f.blockedFor('10.0.0.1', 'meter-b'), undefined, 'a neighbour behind the same address');
  assert.equal(await f.blockedFor('10.0.0.1', ''), undefined, 'a client presenting no name');
  assert.equal(await f.blockedFor('10.0.0.2', 'meter-a'), undefined, 'the same name from another address');
  const blocked = await f.blockedFor('10.0.0.1', 'meter-a');
  assert.equal(blocked?.scope, 'name');
  assert.ok(blocked.ms >= 1000 && blocked.ms <= 60_000, `${blocked.ms} ms`);
});

test('within its budget a name may try again', async () => {
  const f = new FailedLogins({ perMinute: 3 });
  await fail(f, '10.0.0.1', 'meter-a', 2);
  assert.equal(f.suspect('10.0.0.1'), true);
  assert.equal(await f.blockedFor('10.0.0.1', 'meter-a'), undefined);
});

test('many names from one address: past the address-wide budget (5 names\' by default) every name there is refused', async () => {
  const f = new FailedLogins({ perMinute: 3 });
  // 14 names, one failure each: within every name's budget and within the address's 15.
  for (let i = 0; i < 14; i++) await f.failed('10.0.0.1', `guess-${i}`);
  assert.equal(await f.blockedFor('10.0.0.1', 'meter-b'), undefined);
  await f.failed('10.0.0.1', 'guess-14');
  assert.equal((await f.blockedFor('10.0.0.1', 'meter-b'))?.scope, 'address', 'a name that never failed');
  assert.equal((await f.blockedFor('10.0.0.1', ''))?.scope, 'address', 'no name');
  assert.equal(await f.blockedFor('10.0.0.2', 'meter-b'), undefined, 'another address');
});

test('the address-wide budget can be set', async () => {
  const f = new FailedLogins({ perMinute: 3, perAddress: 4 });
  for (const name of ['a', 'b', 'c', 'd']) await f.failed('10.0.0.1', name);
  assert.equal((await f.blockedFor('10.0.0.1', 'e'))?.scope, 'address');
});

test('an address that never failed is not suspect (no limiter question); one that failed is', async () => {
  const f = new FailedLogins({ perMinute: 3 });
  assert.equal(f.suspect('10.0.0.1'), false);
  await f.failed('10.0.0.1', 'meter-a');
  assert.equal(f.suspect('10.0.0.1'), true);
  assert.equal(f.suspect('10.0.0.2'), false);
});

test('when newer failures evict a blocked pair\'s address, every address is suspect, and the pair is still refused', async () => {
  const f = new FailedLogins({ perMinute: 2, capacity: 10 });
  await fail(f, '10.0.0.1', 'meter-a', 2);
  for (let i = 0; i < 50; i++) await f.failed(`10.9.0.${i}`, 'nobody');
  assert.ok(f.tracked <= 10, `${f.tracked} addresses kept`);
  assert.equal(f.suspect('10.0.0.1'), true, 'evicted, yet asked about');
  assert.equal(f.suspect('10.0.0.99'), true, 'every address is asked about for a while');
  assert.equal(await f.blockedFor('10.0.0.1', 'meter-b'), undefined);
  assert.equal(await f.blockedFor('10.0.0.99', 'meter-a'), undefined);
  assert.equal((await f.blockedFor('10.0.0.1', 'meter-a'))?.scope, 'name');
});
