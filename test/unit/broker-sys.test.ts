/**
 * The embedded broker's `$SYS/#` (aedes announces every client id that connects
 * and disconnects, and every subscription) on a loopback listener that takes
 * anonymous clients: mosquitto_sub and MQTT.js without a login are refused the
 * subscription (MQTT 5 SUBACK 0x87, MQTT 3.1.1 0x80), as is an API key without
 * the admin scope; an admin API key subscribes and reads it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { EmbeddedMqttBroker } from '../../nodes/lib/broker/embedded';
import { DeviceRegistry } from '../../nodes/lib/devices/registry';
import { MemoryBackend } from '../../nodes/lib/devices/types';
import { DeviceAuth } from '../../nodes/lib/security/device-auth';

const KEYS: Record<string, string[]> = { 'admin-key': ['admin'], 'read-key': ['read'] };

/** mosquitto_sub until it exits by itself (-W ends it anyway); what it printed and its exit code. */
function mosquittoSub(port: number, args: string[]): Promise<{ code: number | null; out: string }> {
  const p = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve) => p.once('exit', (code) => resolve({ code, out })));
}

describe('$SYS on the embedded broker', () => {
  let broker: EmbeddedMqttBroker;
  let auth: DeviceAuth;
  const url = () => `mqtt://127.0.0.1:${broker.addresses.tcp}`;

  before(async () => {
    const registry = new DeviceRegistry(new MemoryBackend(), { sealKey: randomBytes(32) });
    auth = new DeviceAuth({ registry, keys: (secret) => Promise.resolve(KEYS[secret] ? { id: secret, scopes: KEYS[secret] } : undefined) });
    broker = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1', auth });
    await broker.start();
  });
  after(async () => {
    await broker?.stop();
    auth?.close();
  });

  /** The reason codes of the SUBACK a client gets for `filters`. */
  async function suback(opts: mqtt.IClientOptions, filters: string[]): Promise<number[]> {
    const c = await mqtt.connectAsync(url(), { reconnectPeriod: 0, ...opts });
    const granted = new Promise<number[]>((resolve) => {
      c.on('packetreceive', (p) => {
        if (p.cmd === 'suback') resolve((p as unknown as { granted: number[] }).granted);
      });
    });
    c.subscribe(filters, { qos: 0 }, () => undefined);
    const codes = await granted;
    await c.endAsync();
    return codes;
  }

  test('mosquitto_sub without a login is refused $SYS/# (MQTT 5 and 3.1.1)', async () => {
    const v5 = await mosquittoSub(broker.addresses.tcp, ['-V', 'mqttv5', '-t', '$SYS/#', '-W', '5']);
    assert.match(v5.out, /denied/i, `mosquitto_sub printed: ${v5.out}`);
    const v3 = await mosquittoSub(broker.addresses.tcp, ['-V', 'mqttv311', '-t', '$SYS/#', '-W', '5']);
    assert.match(v3.out, /denied/i, `mosquitto_sub printed: ${v3.out}`);
  });

  test('anonymous clients get 0x87 (MQTT 5) / 0x80 (3.1.1) for $SYS filters, shared ones included; other filters still count', async () => {
    assert.deepEqual(await suback({ protocolVersion: 5 }, ['$SYS/#', '$SYS/+/new/clients', '$share/g/$SYS/#', 'home/lights']), [0x87, 0x87, 0x87, 0]);
    assert.deepEqual(await suback({ protocolVersion: 4 }, ['$SYS/#', 'home/lights']), [0x80, 0]);
    assert.deepEqual(await suback({ protocolVersion: 5, username: 'apikey', password: 'read-key' }, ['$SYS/#']), [0x87], 'a key without the admin scope');
  });

  test('an admin API key subscribes to $SYS/# and reads the broker\'s announcements', async () => {
    const admin = await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: 'apikey', password: 'admin-key' });
    const seen: string[] = [];
    admin.on('message', (topic, payload) => seen.push(`${topic.split('/').slice(2).join('/')} ${payload.toString()}`));
    const granted = await admin.subscribeAsync('$SYS/#', { qos: 0 });
    assert.equal(granted[0]?.qos, 0);
    const device = await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, clientId: 'sys-watched' });
    await device.endAsync();
    const end = performance.now() + 30_000;
    while (!seen.includes('new/clients sys-watched') && performance.now() < end) await new Promise((r) => setTimeout(r, 20));
    await admin.endAsync();
    assert.ok(seen.includes('new/clients sys-watched'), seen.join('\n'));
  });
});
