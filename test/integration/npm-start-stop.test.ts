/**
 * `npm start` stopped the way a service manager or a terminal stops it: SIGTERM (or SIGINT) to npm's process.
 * npm hands the signal to the script's process; the runtime must be that process, stop its flows and free
 * its ports, not be left running under init with the ports held (the next start then fails "port in use").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { eventually, freePort, freeUdpPort } from '../helpers/runtime';
import { killBeforeCleanup, tempDir } from '../helpers/temp';

const ROOT = join(__dirname, '..', '..', '..');

/** Whether something still listens on the port (a server of ours cannot bind it). */
function held(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`npm start stopped with ${signal} stops the runtime and frees its ports`, async () => {
    const httpPort = await freePort();
    const mqttPort = await freePort();
    const proc = spawn('npm', ['start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        UPPERSTACK_DATA: tempDir('us-npm-start-'),
        UPPERSTACK_HTTP_PORT: String(httpPort),
        UPPERSTACK_MQTT_PORT: String(mqttPort),
        UPPERSTACK_COAP_PORT: String(await freeUdpPort()),
        UPPERSTACK_BIND: '127.0.0.1',
        UPPERSTACK_API_KEY: 'test-key-0123456789',
        UPPERSTACK_ADMIN_PASSWORD: 'test-admin-password',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    killBeforeCleanup(proc);
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    await eventually(async () => ((await fetch(`http://127.0.0.1:${httpPort}/health`)).status === 200 ? true : undefined), 90_000, 'the runtime to answer /health');
    proc.kill(signal);
    await exited;
    await eventually(async () => (!(await held(httpPort)) && !(await held(mqttPort)) ? true : undefined), 30_000, `the HTTP and MQTT ports to be free after ${signal}:\n${out}`);
    assert.match(out, /Stopped flows/, 'the runtime stopped its flows');
  });
}
