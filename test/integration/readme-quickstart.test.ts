// The README's first steps, run as written: the block after "Then, as a device:" against a runtime started as
// `npm start` starts it, with the real mosquitto_pub, curl and coap-client-notls. Only the default ports are
// changed to the ones this test reserved.
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { eventually, startRuntime } from '../helpers/runtime';

const run = promisify(execFile);
const README = join(__dirname, '..', '..', '..', 'README.md');

/** The shell lines of the first fenced block after the sentence that introduces them. */
function deviceCommands(readme: string): string[] {
  const at = readme.indexOf('Then, as a device:');
  assert.ok(at >= 0, 'README has the "Then, as a device:" block');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(block, 'a sh block follows it');
  return block[1].split('\n').filter((l) => l.trim() !== '');
}

test('the README first steps store one reading per input (MQTT, HTTP, CoAP) and the query API answers them', { timeout: 180_000 }, async () => {
  const lines = deviceCommands(readFileSync(README, 'utf8'));
  assert.ok(lines.some((l) => l.startsWith('mosquitto_pub')) && lines.some((l) => l.includes('/ingest/')) && lines.some((l) => l.includes('coap-client-notls')), 'the block shows every input');
  const rt = await startRuntime();
  const cwd = mkdtempSync(join(tmpdir(), 'us-readme-'));
  try {
    const outputs: string[] = [];
    for (const line of lines) {
      const local = line
        .replaceAll('127.0.0.1:1880', `127.0.0.1:${rt.httpPort}`)
        .replaceAll('coap://127.0.0.1/', `coap://127.0.0.1:${rt.coapPort}/`)
        .replace(/^mosquitto_pub /, `mosquitto_pub -h 127.0.0.1 -p ${rt.mqttPort} `);
      const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', local], { cwd, env: { ...process.env, UPPERSTACK_API_KEY: rt.apiKey } });
      outputs.push(stdout);
    }
    // Each device the block sends as is stored, with the value it sent.
    const sent = [...lines.join('\n').matchAll(/(?:devices|ingest|telemetry)\/(dev\d)\b/g)].map((m) => m[1]);
    assert.deepEqual(sent, ['dev1', 'dev2', 'dev3']);
    for (const [device, field, value] of [['dev1', 'temperature', 22.5], ['dev2', 'temperature', 21.5], ['dev3', 'temperature', 20.1]] as const) {
      await eventually(async () => {
        const res = await rt.get(`/api/v1/readings?device=${device}`);
        const body = (await res.json()) as { readings?: { fields: Record<string, number> }[] };
        return body.readings?.some((r) => r.fields[field] === value) ? true : undefined;
      }, 30_000, `${device} stored`);
    }
    // The HTTP line answers as the README says.
    assert.deepEqual(JSON.parse(outputs[lines.findIndex((l) => l.includes('/ingest/'))]), { accepted: 1, deadLettered: 0 });
  } finally {
    await rt.stop();
    rmSync(cwd, { recursive: true, force: true });
  }
});
