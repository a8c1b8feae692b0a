/**
 * The test helper that hands out UDP ports (test/helpers/ports.ts): a port it hands out is one no
 * other socket holds, not even one that set SO_REUSEADDR, is never handed out twice by one process,
 * and a CoAP input (which binds without SO_REUSEADDR) can bind it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freeUdpPort } from '../helpers/ports';

const run = promisify(execFile);

function bindUdp(port: number): Promise<Socket> {
  const s = createSocket({ type: 'udp4', reuseAddr: true });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
}

test('a UDP port handed out is none that another run holds or listens on with SO_REUSEADDR', async () => {
  // Sockets of another run that set SO_REUSEADDR (about 3% of the ephemeral ports).
  const others: Socket[] = [];
  try {
    for (let i = 0; i < 900; i++) others.push(await bindUdp(0));
    const taken = new Set(others.map((s) => s.address().port));
    // This run, in its own process as a test file is.
    const helper = join(__dirname, '..', 'helpers', 'ports.js');
    const script = `const { freeUdpPort } = require(${JSON.stringify(helper)}); (async () => { const ports = []; for (let i = 0; i < 300; i++) ports.push(await freeUdpPort()); console.log(JSON.stringify(ports)); })();`;
    const { stdout } = await run(process.execPath, ['-e', script]);
    const ports = JSON.parse(stdout) as number[];
    assert.equal(ports.length, 300);
    assert.equal(new Set(ports).size, 300, 'no port twice');
    assert.deepEqual(ports.filter((p) => taken.has(p)), [], 'no port another run holds');
  } finally {
    for (const s of others) s.close();
  }
});

test('a CoAP input binds the port handed out, without SO_REUSEADDR, and gets the datagrams sent to it', async () => {
  const port = await freeUdpPort();
  const server = await new Promise<Socket>((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, '127.0.0.1', () => resolve(s));
  });
  try {
    const got = new Promise<string>((resolve) => server.once('message', (m) => resolve(m.toString())));
    const client = createSocket('udp4');
    client.send('ping', port, '127.0.0.1', () => client.close());
    assert.equal(await got, 'ping');
  } finally {
    server.close();
  }
});
