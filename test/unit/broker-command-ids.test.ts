/**
 * Commands an admin key sends on the embedded broker with check characters on (the registry decides device
 * ids), with MQTT.js and mosquitto_pub: a command to an id whose check character is wrong is refused with the
 * reason a reading for that id gets (BAD_DEVICE_ID: MQTT 5 PUBACK 0x87 and its reason string; MQTT 3.1.1 the
 * connection closed), instead of going to a topic no device listens on; a command to a good id still arrives.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { withCheck } from '../../nodes/lib/devices/checkdigit';
import { API_KEY_USER, DeviceAuth } from '../../nodes/lib/security/device-auth';
import type { AuditInput } from '../../nodes/lib/audit/audit';

const run = promisify(execFile);
const KEY = `usk_admin_${randomBytes(12).toString('hex')}`;
const GOOD = withCheck('pump') as string;
// The same id with another last character: its check character is wrong.
const MISTYPED = `pump${GOOD.endsWith('x') ? 'y' : 'x'}`;

interface Ack {
  reasonCode: number;
  reasonString?: string;
}

describe('an admin key\'s command to a device id against the id rule', () => {
  let broker: EmbeddedMqttBroker;
  let auth: DeviceAuth;
  let secret = '';
  const audit: AuditInput[] = [];
  const url = () => `mqtt://127.0.0.1:${broker.addresses.tcp}`;

  before(async () => {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32), checkDigits: true });
    auth = new DeviceAuth({ registry, requireAuth: true, keys: (s) => Promise.resolve(s === KEY ? { id: 'admin', scopes: ['admin'] } : undefined), audit: (e) => audit.push(e) });
    await auth.ready;
    secret = (await registry.add({ id: GOOD })).secret;
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth });
    await broker.start();
  });
  after(async () => {
    await broker?.stop();
    auth?.close();
  });

  /** The PUBACK an admin key's MQTT 5 client gets for one QoS 1 message. */
  async function ackOf(topic: string): Promise<Ack> {
    const c = await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: API_KEY_USER, password: KEY });
    try {
      const ack = new Promise<Ack>((resolve) => {
        c.on('packetreceive', (p) => {
          if (p.cmd !== 'puback') return;
          const a = p as { reasonCode?: number; properties?: { reasonString?: string } };
          resolve({ reasonCode: a.reasonCode ?? 0, reasonString: a.properties?.reasonString });
        });
      });
      await c.publishAsync(topic, '{"relay":"off"}', { qos: 1 }).catch(() => undefined);
      return await ack;
    } finally {
      await c.endAsync();
    }
  }

  test('MQTT 5: PUBACK 0x87 with the BAD_DEVICE_ID reason a reading for that id gets; a command to the good id is delivered', async () => {
    const device = await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: GOOD, password: secret });
    const commands: string[] = [];
    device.on('message', (topic) => commands.push(topic));
    await device.subscribeAsync(`devices/${GOOD}/commands/#`, { qos: 1 });
    try {
      const command = await ackOf(`devices/${MISTYPED}/commands`);
      const reading = await ackOf(`devices/${MISTYPED}/telemetry`);
      assert.equal(command.reasonCode, 0x87);
      assert.match(command.reasonString ?? '', /^BAD_DEVICE_ID: .*its last character is not its check character/);
      assert.deepEqual(command, reading, 'the same refusal as a reading for the mistyped id');
      assert.ok(audit.some((e) => e.action === 'acl.denied' && e.reason === 'BAD_DEVICE_ID' && e.target === MISTYPED && e.actor === 'key:admin'));
      assert.deepEqual(await ackOf(`devices/${GOOD}/commands/relay`), { reasonCode: 0, reasonString: undefined });
      await new Promise<void>((resolve, reject) => {
        const started = Date.now();
        const poll = () => (commands.length > 0 ? resolve() : Date.now() - started > 10_000 ? reject(new Error('timed out waiting for the command')) : setTimeout(poll, 20));
        poll();
      });
      assert.deepEqual(commands, [`devices/${GOOD}/commands/relay`]);
    } finally {
      await device.endAsync();
    }
  });

  test('mosquitto_pub: MQTT 5 reports the refusal; MQTT 3.1.1 fails, its connection closed as for any refused publish', async () => {
    const pub = async (version: string, topic: string): Promise<{ code: number; out: string }> => {
      const args = ['-h', '127.0.0.1', '-p', String(broker.addresses.tcp), '-u', API_KEY_USER, '-P', KEY, '-q', '1', '-V', version, '-t', topic, '-m', 'on'];
      try {
        const { stdout, stderr } = await run('mosquitto_pub', args, { timeout: 20_000 });
        return { code: 0, out: `${stdout}${stderr}` };
      } catch (e) {
        const x = e as { code: number; stdout: string; stderr: string };
        return { code: x.code, out: `${x.stdout}${x.stderr}` };
      }
    };
    assert.match((await pub('mqttv5', `devices/${MISTYPED}/commands`)).out, /Publish 1 failed: Not authorized/);
    assert.notEqual((await pub('mqttv311', `devices/${MISTYPED}/commands/relay`)).code, 0);
    assert.deepEqual(await pub('mqttv311', `devices/${GOOD}/commands/relay`), { code: 0, out: '' });
  });
});
