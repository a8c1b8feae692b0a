/**
 * The exit codes every `upperstack` command shares: a missing command or action is bad usage (2, the usage
 * on stderr, nothing on stdout), a broker that cannot be reached is a failure (1, one line), and a
 * backtest that succeeds says what it did in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../helpers/ports';
import { tempDir } from '../helpers/temp';

const run = promisify(execFile);
const CLI = join(__dirname, '..', '..', 'scripts', 'cli.js');
const FIXTURE = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'anomaly', 'spike.csv');

async function cli(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, UPPERSTACK_URL: '' } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
}

for (const [args, usage] of [
  [[], /^upperstack: a command is needed\n\nupperstack: tools for the Upperstack IoT pipeline\n\nUsage: upperstack <command>/],
  [['flows'], /^upperstack flows: a command is needed: validate, import or export\n\nupperstack flows: work with flow packs\n/],
  [['devices'], /^upperstack devices: an action is needed\n\nupperstack devices: manage the device registry/],
  [['keys'], /^upperstack keys: an action is needed\n\nupperstack keys: manage the API keys/],
] as Array<[string[], RegExp]>) {
  test(`"upperstack${args.map((a) => ` ${a}`).join('')}" without what to do: exit 2, the usage on stderr`, async () => {
    const r = await cli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, usage);
    assert.equal(r.stdout, '');
  });
}

test('--help and "help" still print the usage on stdout, exit 0', async () => {
  for (const args of [['--help'], ['help'], ['flows', '--help'], ['devices', '--help']]) {
    const r = await cli(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /Usage/);
  }
});

test('simulate --help says what "readings lost to full device buffers" means: dropped by the simulated devices, not by the pipeline', async () => {
  const r = await cli(['simulate', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"N readings lost to full device buffers" in the summary: readings the simulated\ndevices dropped themselves, never sent/);
  assert.match(r.stdout, /the pipeline did not lose them/);
});

test('upperstack simulate against no broker: one line naming the address, exit 1 (as devices and flows)', async () => {
  const url = `mqtt://127.0.0.1:${await freePort()}`;
  const r = await cli(['simulate', '--url', url, '--devices', '1', '--duration', '1s'], tempDir('us-cli-sim-'));
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1], new RegExp(`^upperstack simulate: cannot connect to ${url.replace(/\./g, '\\.')}: `));
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('upperstack simulate --register with a key the runtime does not accept: exit 2 and its answer, as upperstack devices; a runtime that cannot be reached: exit 1', async () => {
  // The admin API's answer to a wrong key, from a server standing in for the runtime.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'a valid API key is required' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const broker = `mqtt://127.0.0.1:${await freePort()}`;
    const refused = await cli(['simulate', '--register', url, '--key', 'not-a-key', '--url', broker, '--devices', '1', '--duration', '1s'], tempDir('us-cli-sim-'));
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /upperstack simulate: the API key may not register device "sim-1": 401 UNAUTHORIZED: a valid API key is required\n$/);
    const devices = await cli(['devices', 'list', '--url', url, '--key', 'not-a-key']);
    assert.equal(devices.code, refused.code, devices.stderr);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await cli(['simulate', '--register', nobody, '--key', 'k', '--devices', '1', '--duration', '1s'], tempDir('us-cli-sim-'));
  assert.equal(unreachable.code, 1, unreachable.stderr);
  assert.match(unreachable.stderr, /upperstack simulate: cannot reach /);
});

test('a backtest whose --output cannot be written says so in one line naming it, exit 2, and claims no scores written', async () => {
  const dir = tempDir('us-cli-out-');
  writeFileSync(join(dir, 'taken'), 'a file where the output folder would go');
  const target = join(dir, 'taken', 'scores.csv');
  const r = await cli(['backtest', '--input', FIXTURE, '--output', target]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`^upperstack backtest: --output ${target.replace(/[.]/g, '\\.')} cannot be written: EEXIST: [^\\n]*\\n$`));
  assert.equal(r.stdout, '');
});

test('upperstack simulate with a --truth that cannot be written: one line naming it, exit 2, before connecting', async () => {
  const dir = tempDir('us-cli-sim-');
  writeFileSync(join(dir, 'taken'), '');
  // No broker listens there: the old order only found out after trying it (and after a whole run, when one did).
  const url = `mqtt://127.0.0.1:${await freePort()}`;
  const r = await cli(['simulate', '--url', url, '--devices', '1', '--duration', '1s', '--truth', join(dir, 'taken', 'truth.json')], dir);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^upperstack simulate: --truth .*taken\/truth\.json cannot be written: ENOTDIR[^\n]*\n$/);
});

test('a backtest that succeeds says in one line what it scored: on stderr when the scores are on stdout, else on stdout', async () => {
  const toStdout = await cli(['backtest', '--input', FIXTURE]);
  assert.equal(toStdout.code, 0, toStdout.stderr);
  assert.equal(toStdout.stdout.trim().split('\n')[0], 'timestamp,value,anomaly_score');
  assert.match(toStdout.stderr, /^backtest: 1 file, 400 rows scored, \d+ anomal(y|ies) at threshold 0\.5; scores on stdout\n$/);
  const file = join(tempDir('us-cli-bt-'), 'scores.csv');
  const toFile = await cli(['backtest', '--input', FIXTURE, '--output', file]);
  assert.equal(toFile.code, 0, toFile.stderr);
  assert.equal(toFile.stdout, `backtest: 1 file, 400 rows scored, ${toStdout.stderr.match(/(\d+) anomal/)![1]} ${/ 1 anomaly/.test(toStdout.stderr) ? 'anomaly' : 'anomalies'} at threshold 0.5; scores in ${file}\n`);
  assert.equal(readFileSync(file, 'utf8'), toStdout.stdout);
});
