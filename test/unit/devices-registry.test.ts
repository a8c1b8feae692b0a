/** The device registry: check characters, secrets, the registry itself and its DuckDB tables. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkCharacter, hasValidCheck, withCheck } from '../../nodes/lib/devices/checkdigit';
import { hashSecret, hashSecretSync, loadOrCreateKey, newSecret, seal, unseal, verifySecret, verifySecretSync } from '../../nodes/lib/devices/secret';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DuckDbStore } from '../../nodes/lib/store/duckdb';
import { BadDeviceIdError, BadParameterError, ConflictError, NotFoundError } from '../../nodes/lib/errors';
import { migrate } from '../../nodes/shared/config';
import { devicesMigrations } from '../../nodes/devices/options';
import { tempDir } from '../helpers/temp';

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

describe('check characters (Luhn mod 36)', () => {
  test('every single mistyped character of an id is caught', () => {
    for (const base of ['plug1', 'sensor-0042', 'a', 'zz9', 'boiler.hall.3']) {
      const id = withCheck(base)!;
      assert.ok(hasValidCheck(id), id);
      for (let i = 0; i < id.length; i++) {
        const c = id[i].toLowerCase();
        if (!ALPHABET.includes(c)) continue;
        for (const other of ALPHABET) {
          if (other === c) continue;
          const typo = id.slice(0, i) + other + id.slice(i + 1);
          assert.equal(hasValidCheck(typo), false, `${typo} (from ${id}) must be refused`);
        }
      }
    }
  });

  test('swapping two neighbouring characters is caught (unless they are equal or sum to N)', () => {
    const id = withCheck('plug12345')!;
    let caught = 0;
    let total = 0;
    for (let i = 0; i + 1 < id.length; i++) {
      if (id[i] === id[i + 1]) continue;
      total++;
      const swapped = id.slice(0, i) + id[i + 1] + id[i] + id.slice(i + 2);
      if (!hasValidCheck(swapped)) caught++;
    }
    assert.equal(caught, total);
  });

  test('separators do not count and letters are case-insensitive; other characters have no check', () => {
    assert.equal(checkCharacter('plug-001'), checkCharacter('plug001'));
    assert.equal(checkCharacter('PLUG1'), checkCharacter('plug1'));
    assert.equal(checkCharacter('pl ug'), undefined);
    assert.equal(hasValidCheck('x'), false);
  });
});

describe('secrets', () => {
  test('a secret verifies against its scrypt hash and nothing else does', async () => {
    const s = newSecret();
    assert.match(s, /^[A-Za-z0-9_-]{32}$/);
    const h = await hashSecret(s);
    assert.match(h, /^scrypt\$14\$8\$1\$/);
    assert.equal(h.includes(s), false);
    assert.equal(await verifySecret(s, h), true);
    assert.equal(await verifySecret(`${s}x`, h), false);
    assert.equal(await verifySecret(s, 'scrypt$14$8$1$bad'), false);
    assert.notEqual(await hashSecret(s), h, 'salted');
  });

  test('the synchronous pair makes and checks the same hashes as the asynchronous one', async () => {
    const s = newSecret();
    const h = hashSecretSync(s);
    assert.match(h, /^scrypt\$14\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.equal(await verifySecret(s, h), true);
    assert.equal(verifySecretSync(s, await hashSecret(s)), true);
    assert.equal(verifySecretSync(`${s}x`, h), false);
    assert.equal(verifySecretSync(s, 'scrypt$14$8$1$bad'), false);
    assert.equal(verifySecretSync(s, h.replace('scrypt$14$', 'scrypt$30$')), false, 'a cost out of bounds is refused, not run');
  });

  test('sealed keys open only with the key they were sealed with', () => {
    const k1 = randomBytes(32);
    const plain = randomBytes(32);
    const sealed = seal(plain, k1);
    assert.deepEqual(unseal(sealed, k1), plain);
    assert.throws(() => unseal(sealed, randomBytes(32)), /registry key/);
  });

  test('the registry key file is made once, private to its owner', () => {
    const dir = tempDir('us-key-');
    const file = join(dir, 'k.key');
    const a = loadOrCreateKey(file);
    assert.deepEqual(loadOrCreateKey(file), a);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});

function registry(opts: { checkDigits?: boolean } = {}, backend = new MemoryBackend()) {
  return { backend, reg: new DeviceRegistry(backend, { sealKey: randomBytes(32), ...opts }) };
}

describe('DeviceRegistry', () => {
  test('add shows the secret once and keeps only its hash; check knows right, wrong, disabled and unknown', async () => {
    const { backend, reg } = registry();
    const made = await reg.add({ id: 'plug1', tags: { customer: 'acme', tier: 2 } });
    assert.equal(made.device.id, 'plug1');
    assert.deepEqual(made.device.tags, { customer: 'acme', tier: '2' });
    assert.equal(JSON.stringify(backend.data).includes(made.secret), false, 'the secret is not stored');
    assert.equal(JSON.stringify(reg.list()).includes('scrypt'), false, 'views never show the hash');
    assert.equal(await reg.check('plug1', made.secret), 'ok');
    assert.equal(await reg.check('plug1', 'nope'), 'wrong');
    assert.equal(await reg.check('plug2', made.secret), 'unknown');
    await reg.update('plug1', { enabled: false });
    assert.equal(await reg.check('plug1', made.secret), 'disabled');
    await assert.rejects(reg.add({ id: 'plug1' }), ConflictError);
  });

  test('rotate: the old secret stops working at once, also after it was verified (and remembered)', async () => {
    const { reg } = registry();
    const first = await reg.add({ id: 'd1' });
    assert.equal(await reg.check('d1', first.secret), 'ok');
    const changes: string[] = [];
    reg.onChange((id, c) => changes.push(`${id}:${c}`));
    const second = await reg.rotate('d1');
    assert.notEqual(second.secret, first.secret);
    assert.equal(await reg.check('d1', first.secret), 'wrong');
    assert.equal(await reg.check('d1', second.secret), 'ok');
    await reg.remove('d1');
    assert.equal(await reg.check('d1', second.secret), 'unknown');
    assert.deepEqual(changes, ['d1:rotated', 'd1:removed']);
    await assert.rejects(reg.rotate('d1'), NotFoundError);
  });

  test('two adds of the same id at once: one wins, one conflicts', async () => {
    const { reg } = registry();
    const results = await Promise.allSettled([reg.add({ id: 'same' }), reg.add({ id: 'same' })]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    assert.equal(reg.size, 1);
  });

  test('ids, tags and metadata are checked', async () => {
    const { reg } = registry();
    await assert.rejects(reg.add({ id: 'a/b' }), BadDeviceIdError);
    await assert.rejects(reg.add({ id: 'x', tags: { 'bad key': 'v' } }), /tag name/);
    await assert.rejects(reg.add({ id: 'x', meta: { fw: { nested: 1 } } }), /metadata/);
    // 1e309 reads as Infinity: it was kept as the tag "Infinity".
    const huge = JSON.parse('{"site":"n","rack":1e309}') as Record<string, unknown>;
    await assert.rejects(reg.add({ id: 'x', tags: huge }), (err: BadParameterError) => {
      assert.deepEqual([err.message, err.details], ['tag "rack" must be a string or a finite number, got Infinity', { parameter: 'tags', pointer: '/tags/rack' }]);
      return true;
    });
    await reg.add({ id: 'x', tags: { site: 'n' } });
    await assert.rejects(reg.update('x', { tags: { site: -Infinity } }), /tag "site" must be a string or a finite number, got -Infinity/);
    assert.deepEqual(reg.get('x')?.tags, { site: 'n' });
    await reg.remove('x');
    // Copied onto readings, which refuse the name: refused here, not dropped.
    await assert.rejects(reg.add({ id: 'x', tags: JSON.parse('{"__proto__":"acme","site":"n"}') as Record<string, unknown> }), /tag name "__proto__" cannot name a tag/);
    await assert.rejects(reg.add({ id: 'x', meta: JSON.parse('{"__proto__":"X1"}') as Record<string, unknown> }), /metadata name "__proto__" cannot be used/);
    const generated = await reg.add({});
    assert.match(generated.device.id, /^d[0-9a-f]{12}$/);
  });

  test('with check characters: a wrong one is refused with the right id suggested; generated ids carry one', async () => {
    const { reg } = registry({ checkDigits: true });
    const good = withCheck('plug1')!;
    await assert.rejects(reg.add({ id: 'plug1' }), (err: BadDeviceIdError) => err.details.suggestion === good);
    assert.equal((await reg.add({ id: good })).device.id, good);
    const gen = await reg.add({});
    assert.ok(hasValidCheck(gen.device.id));
    assert.match(reg.idProblem(`${good.slice(0, -1)}${good.endsWith('0') ? '1' : '0'}`) ?? '', /check character/);
    assert.equal(reg.idProblem(good), undefined);
  });

  test('signing devices get a key, sealed at rest, replaced on rotation', async () => {
    const { backend, reg } = registry();
    const made = await reg.add({ id: 's1', signing: true });
    assert.ok(made.signingKey);
    const stored = backend.data.devices[0].signingKey!;
    assert.ok(stored.startsWith('gcm$') && !stored.includes(made.signingKey!));
    assert.equal(reg.signingKey('s1')!.toString('base64url'), made.signingKey);
    const again = await reg.rotate('s1');
    assert.notEqual(again.signingKey, made.signingKey);
    await reg.update('s1', { signing: false });
    assert.equal(reg.signingKey('s1'), undefined);
  });

  test('kept in DuckDB tables: a reopened store has the same devices, secrets still verify', async () => {
    const dir = tempDir('us-reg-');
    const path = join(dir, 'db.duckdb');
    const sealKey = randomBytes(32);
    let store = new DuckDbStore({ path });
    await store.open();
    let reg = new DeviceRegistry(store.registry(), { sealKey });
    const a = await reg.add({ id: 'plug1', tags: { customer: 'acme' }, meta: { model: 'X1', watts: 2000 } });
    const b = await reg.add({ id: 'plug2', signing: true });
    await reg.update('plug2', { enabled: false });
    await reg.remove('plug1');
    await reg.add({ id: 'plug1', tags: { customer: 'globex' } });
    await store.close();

    store = new DuckDbStore({ path });
    await store.open();
    reg = new DeviceRegistry(store.registry(), { sealKey });
    await reg.open();
    assert.deepEqual(reg.list().map((d) => [d.id, d.enabled, d.tags]), [['plug1', true, { customer: 'globex' }], ['plug2', false, {}]]);
    assert.equal(await reg.check('plug1', a.secret), 'wrong', 'removed and added again: a new secret');
    assert.equal(await reg.check('plug2', b.secret), 'disabled');
    assert.equal(reg.signingKey('plug2')!.toString('base64url'), b.signingKey);
    await store.close();
    assert.equal(readFileSync(path).includes(Buffer.from(b.secret)), false, 'no secret in the database file');
  });
});

test('devices node v0 → v1: booleans from text, every option present', () => {
  const out = migrate<Record<string, unknown>>({ id: 'd', store: 'cfg', checkDigits: 'true' }, devicesMigrations.slice(0, 1));
  assert.deepEqual(out, { id: 'd', store: 'cfg', checkDigits: true, requireAuth: false, configVersion: 1 });
  const blank = migrate<Record<string, unknown>>({}, devicesMigrations);
  assert.equal(blank.store, '');
  assert.equal(blank.checkDigits, false);
});

test('devices node v1 → v2: rate limits off (0) unless set; numbers from text; nonsense is 0', () => {
  const v1 = { id: 'd', store: 'cfg', checkDigits: false, requireAuth: true, configVersion: 1 };
  assert.deepEqual(migrate<Record<string, unknown>>(v1, devicesMigrations), { ...v1, perDevice: 0, perAddress: 0, configVersion: 2 });
  const typed = migrate<Record<string, unknown>>({ ...v1, perDevice: '20', perAddress: 'lots' }, devicesMigrations);
  assert.deepEqual([typed.perDevice, typed.perAddress], [20, 0]);
  const v2 = { ...v1, perDevice: 5, perAddress: 50, configVersion: 2 };
  assert.deepEqual(migrate<Record<string, unknown>>(v2, devicesMigrations), v2);
});
