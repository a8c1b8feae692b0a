/** The dashboard's login (nodes/lib/security/basic-auth.ts): Basic credentials, throttled per address. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basicAuthGuard, parseBasic } from '../../nodes/lib/security/basic-auth';

const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

test('parseBasic reads a Basic header and refuses anything else', () => {
  assert.deepEqual(parseBasic(basic('ann', 'a:b')), { username: 'ann', password: 'a:b' });
  assert.equal(parseBasic('Bearer x'), undefined);
  assert.equal(parseBasic(undefined), undefined);
  assert.equal(parseBasic(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
});

test('right credentials pass with the user; wrong ones are 401; five wrong from one address block it (429), others still get in', async () => {
  let checks = 0;
  const guard = basicAuthGuard({
    realm: 'r',
    maxFailures: 5,
    verify: async (u, p) => {
      checks++;
      return u === 'ann' && p === 'right' ? { username: 'ann', permissions: ['upperstack-alert.read'] } : undefined;
    },
  });
  const ok = await guard.check(basic('ann', 'right'), '10.0.0.1');
  assert.deepEqual(ok, { ok: true, user: { username: 'ann', permissions: ['upperstack-alert.read'] } });
  await guard.check(basic('ann', 'right'), '10.0.0.1');
  assert.equal(checks, 1, 'a verified header is remembered');
  assert.deepEqual(await guard.check(undefined, '10.0.0.2'), { ok: false, status: 401, message: 'log in with an editor user' });
  for (let i = 0; i < 5; i++) assert.equal((await guard.check(basic('ann', `wrong${i}`), '10.0.0.2')).ok, false);
  const blocked = await guard.check(basic('ann', 'wrong5'), '10.0.0.2');
  assert.equal(blocked.ok, false);
  assert.equal(!blocked.ok && blocked.status, 429);
  assert.ok(!blocked.ok && blocked.retryAfter! > 0);
  // Guesses from the blocked address are not even checked any more, while another address logs in.
  assert.equal((await guard.check(basic('ann', 'right2'), '10.0.0.2')).ok, false);
  assert.equal((await guard.check(basic('ann', 'right'), '10.0.0.3')).ok, true);
});

test('the HTTP middleware answers 401 with a Basic challenge and JSON, and passes a login through', async () => {
  const guard = basicAuthGuard({ realm: 'Upperstack dashboard', verify: async (u, p) => (p === 'pw' ? { username: u, permissions: '*' } : undefined) });
  const res = { status: 0, headers: {} as Record<string, string>, body: '', writeHead(s: number, h: Record<string, string>) { this.status = s; this.headers = h; }, end(b: string) { this.body = b; } };
  await new Promise<void>((resolve) => {
    res.end = function (b: string) { this.body = b; resolve(); };
    guard.http({ headers: {}, socket: { remoteAddress: '127.0.0.1' } } as never, res as never, () => resolve());
  });
  assert.equal(res.status, 401);
  assert.match(res.headers['WWW-Authenticate'], /^Basic realm="Upperstack dashboard"/);
  assert.equal((JSON.parse(res.body) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  const req = { headers: { authorization: basic('bob', 'pw') }, socket: { remoteAddress: '127.0.0.1' } } as { headers: Record<string, string>; socket: object; user?: unknown };
  await new Promise<void>((resolve) => guard.http(req as never, res as never, () => resolve()));
  assert.deepEqual(req.user, { username: 'bob', permissions: '*' });
});
