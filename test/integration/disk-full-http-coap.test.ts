/**
 * A full disk at the HTTP and CoAP inputs of the real runtime: the data folder is a 120 MB tmpfs mounted by
 * the test (it needs root, as CI runs; without it the mount fails and so does the test). While the disk is
 * full a request is not accepted and then lost: curl gets 503 with a JSON error naming the journal's
 * failure and a Retry-After, coap-client-notls gets 5.03 with a diagnostic and Max-Age. Once there is room
 * both are accepted and stored, and /health is 200 again, without a restart.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { eventually, startRuntime, type Runtime } from '../helpers/runtime';
import { tempDir } from '../helpers/temp';
import { fill, mountTmpfs, unmount } from '../helpers/full-disk';

const run = promisify(execFile);
let mountPoint = '';
let rt: Runtime | undefined;
const scratch = tempDir('us-diskfull-hc-');

before(() => {
  mountPoint = mountTmpfs('us-diskfull-hc-mnt-');
});

after(async () => {
  await rt?.stop();
  unmount(mountPoint);
});

interface CurlAnswer {
  status: number;
  headers: string;
  body: string;
}

async function curlPost(path: string, body: string): Promise<CurlAnswer> {
  const headersFile = join(scratch, `h-${Math.random().toString(36).slice(2)}`);
  const { stdout } = await run('curl', ['-s', '-S', '-D', headersFile, '-w', '\n%{http_code}', '-X', 'POST', '-H', 'Content-Type: application/json', '--data-binary', body, `${rt!.url}${path}`]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut), headers: readFileSync(headersFile, 'utf8') };
}

/** coap-client-notls's whole output: it prints an error answer's code and payload (and exits non-zero for some). */
async function coapPost(path: string, payload: string): Promise<string> {
  try {
    const { stdout, stderr } = await run('coap-client-notls', ['-m', 'post', '-t', 'application/json', '-e', payload, `coap://127.0.0.1:${rt!.coapPort}${path}`], { timeout: 20_000 });
    return `${stdout}${stderr}`;
  } catch (e) {
    const x = e as { stdout?: string; stderr?: string };
    return `${x.stdout ?? ''}${x.stderr ?? ''}`;
  }
}

async function storedSeqs(device: string): Promise<number[]> {
  const res = await rt!.get(`/api/v1/readings?device=${device}&limit=1000`);
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as { readings: Array<{ fields: { seq: number } }> };
  return body.readings.map((r) => r.fields.seq).sort((a, b) => a - b);
}

test('on a full disk HTTP answers 503 and CoAP 5.03 naming the journal failure, with a retry time; once there is room both are accepted and stored and /health is 200', { timeout: 240_000 }, async () => {
  rt = await startRuntime({ dataDir: join(mountPoint, 'data') });
  const base = Date.now() - 60_000;
  // Both inputs take requests before the disk is full (their journals are open).
  assert.equal((await curlPost('/ingest/dfhttp', JSON.stringify({ ts: base, seq: 0 }))).status, 202);
  assert.doesNotMatch(await coapPost('/telemetry/dfcoap', JSON.stringify({ ts: base, seq: 0 })), /[45]\.\d\d/);

  const filler = join(mountPoint, 'filler');
  fill(filler);
  // Padding makes the CoAP request big enough for the whole diagnostic: an unauthenticated answer is cut to
  // three times the request's size (no amplification).
  const pad = 'x'.repeat(200);
  const httpRefusal = await eventually(async () => {
    const a = await curlPost('/ingest/dfhttp', JSON.stringify({ ts: base + 1, seq: 1, pad }));
    // 202 would be a journal write that still found room: the disk is not full for it yet.
    return a.status === 202 ? undefined : a;
  }, 30_000, 'the HTTP input to refuse on a full disk');
  assert.equal(httpRefusal.status, 503, httpRefusal.body);
  assert.match(httpRefusal.headers, /^retry-after: \d+\r?$/im);
  const error = (JSON.parse(httpRefusal.body) as { error: { code: string; message: string; retryAfter: number } }).error;
  assert.equal(error.code, 'BACKPRESSURE');
  assert.match(error.message, /journal cannot be written.*ENOSPC/);
  assert.ok(error.retryAfter >= 1);

  const coapRefusal = await eventually(async () => {
    const out = await coapPost('/telemetry/dfcoap', JSON.stringify({ ts: base + 1, seq: 1, pad }));
    return /[45]\.\d\d/.test(out) ? out : undefined;
  }, 30_000, 'the CoAP input to refuse on a full disk');
  assert.match(coapRefusal, /5\.03/);
  assert.match(coapRefusal, /journal cannot be written.*ENOSPC/);

  const health = await eventually(async () => {
    const res = await fetch(`${rt!.url}/health`);
    return res.status === 503 ? await res.text() : undefined;
  }, 30_000, '/health 503 while the disk is full');
  assert.match(health, /JOURNAL_FAILING/);

  rmSync(filler);
  // Devices retry after the time they were told: each is accepted once there is room.
  await eventually(async () => {
    const a = await curlPost('/ingest/dfhttp', JSON.stringify({ ts: base + 1, seq: 1, pad }));
    return a.status === 202 ? a : undefined;
  }, 60_000, 'the HTTP input to accept again');
  await eventually(async () => {
    const out = await coapPost('/telemetry/dfcoap', JSON.stringify({ ts: base + 1, seq: 1, pad }));
    return /[45]\.\d\d/.test(out) ? undefined : out;
  }, 60_000, 'the CoAP input to accept again');
  for (const device of ['dfhttp', 'dfcoap']) {
    const seqs = await eventually(async () => {
      const s = await storedSeqs(device);
      return s.length === 2 ? s : undefined;
    }, 60_000, `both readings of ${device} stored`);
    assert.deepEqual(seqs, [0, 1]);
  }
  await eventually(async () => {
    const res = await fetch(`${rt!.url}/health`);
    const body = await res.text();
    return res.status === 200 ? body : undefined;
  }, 90_000, '/health is 200 again');
});
