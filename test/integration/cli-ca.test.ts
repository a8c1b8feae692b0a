/**
 * The admin commands against a runtime serving HTTPS with a certificate signed by a CA of its own (made here
 * with openssl, as a closed network would): refused without that CA, as curl refuses it without --cacert;
 * --ca FILE or UPPERSTACK_CA trusts it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');
let dir = '';
let rt: Runtime;

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env, UPPERSTACK_URL: '', UPPERSTACK_CA: '', NODE_EXTRA_CA_CERTS: '' };
  return run(process.execPath, [CLI, ...args], { env: { ...base, ...env }, timeout: 60_000 }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

before(async () => {
  dir = tempDir('us-cli-ca-');
  const ssl = (args: string[]) => run('openssl', args, { cwd: dir });
  await ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=upperstack-cli-test-ca', '-keyout', 'ca-key.pem', '-out', 'ca.pem']);
  await ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', 'key.pem', '-out', 'server.csr']);
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', 'san.ext', '-out', 'cert.pem']);
  rt = await startRuntime({
    httpsCa: readFileSync(join(dir, 'ca.pem'), 'utf8'),
    env: { UPPERSTACK_HTTPS_KEY: join(dir, 'key.pem'), UPPERSTACK_HTTPS_CERT: join(dir, 'cert.pem') },
  });
});

after(async () => {
  await rt?.stop();
});

test('devices list over HTTPS: refused without the CA (one line, exit 1); --ca FILE and UPPERSTACK_CA trust it', async () => {
  const args = ['devices', 'list', '--json', '--url', rt.url, '--key', rt.apiKey];
  const untrusted = await cli(args);
  assert.equal(untrusted.code, 1, untrusted.stderr);
  assert.match(untrusted.stderr, /^upperstack devices: cannot reach .*certificate.*\(its certificate is not trusted here: --ca FILE or UPPERSTACK_CA\)$/m);
  const flag = await cli([...args, '--ca', join(dir, 'ca.pem')]);
  assert.equal(flag.code, 0, flag.stderr);
  assert.deepEqual(JSON.parse(flag.stdout), []);
  const env = await cli(args, { UPPERSTACK_CA: join(dir, 'ca.pem') });
  assert.equal(env.code, 0, env.stderr);
  const added = await cli(['devices', 'add', 'ca-dev', '--url', rt.url, '--key', rt.apiKey, '--ca', join(dir, 'ca.pem')]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /ca-dev/);
  const listed = await cli(args, { UPPERSTACK_CA: join(dir, 'ca.pem') });
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual((JSON.parse(listed.stdout) as Array<{ id: string }>).map((d) => d.id), ['ca-dev']);
  // A CA file that is not there is bad input, named.
  const missing = await cli([...args, '--ca', join(dir, 'nope.pem')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--ca: cannot read .*nope\.pem: no such file/);
});

test('flows export over HTTPS with --ca logs in to the editor and prints the flows', async () => {
  const untrusted = await cli(['flows', 'export', '--url', rt.url], { UPPERSTACK_PASSWORD: 'test-admin-password' });
  assert.equal(untrusted.code, 1, untrusted.stderr);
  const r = await cli(['flows', 'export', '--url', rt.url, '--ca', join(dir, 'ca.pem')], { UPPERSTACK_PASSWORD: 'test-admin-password' });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Array.isArray(JSON.parse(r.stdout)), r.stdout.slice(0, 200));
});
