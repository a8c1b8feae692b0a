/**
 * The embedded broker hands a client's publish that no in-process subscriber's filter matches, in the tree one
 * subscribes in, to that subscriber marked with the filters it missed; an MQTT 5 client's PUBACK/PUBREC then
 * says 0x10 No matching subscribers. Topics outside the tree and retained messages are not handed over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mqttPacket, type Packet } from '../helpers/aedes-packet';
import { EmbeddedMqttBroker, filterTree } from '../../nodes/lib/broker/embedded';


test('the tree of a filter: its levels before the first wildcard, never the whole filter', () => {
  assert.equal(filterTree('devices/+/telemetry'), 'devices/');
  assert.equal(filterTree('site/lab/#'), 'site/lab/');
  assert.equal(filterTree('sensors/room1'), 'sensors/');
  assert.equal(filterTree('+/telemetry'), '');
  assert.equal(filterTree('telemetry'), '');
});

test('an unrouted publish goes to the subscriber of its tree, and an MQTT 5 client hears 0x10 in PUBACK and PUBREC', async () => {
  const b = new EmbeddedMqttBroker({ port: 0, bind: '127.0.0.1' });
  await b.start();
  const got: Array<{ topic: string; unrouted?: readonly string[] }> = [];
  b.subscribe('devices/+/telemetry', (p, ack) => {
    got.push({ topic: p.topic, unrouted: p.unrouted });
    ack();
  });
  b.subscribe('devices/+/protobuf', (_p, ack) => ack());
  try {
    const socket = connect(b.addresses.tcp, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    const packets: Packet[] = [];
    parser.on('packet', (p) => packets.push(p));
    socket.on('data', (c) => parser.parse(c));
    const until = async (ok: () => boolean, what: string) => {
      for (let i = 0; i < 3000 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ok(), what);
    };
    const send = (p: object) => socket.write(mqttPacket.generate(p, { protocolVersion: 5 }));
    send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'unrouted-5', clean: true, keepalive: 60 });
    await until(() => packets.some((p) => p.cmd === 'connack'), 'CONNACK');
    const publish = (topic: string, qos: number, messageId: number, retain = false) => send({ cmd: 'publish', topic, payload: Buffer.from('{"t":1}'), qos, messageId, retain, dup: false });
    publish('devices/d1/telemtry', 1, 1);
    publish('devices/d1/telemtry', 2, 2);
    publish('devices/d1/telemetry', 1, 3);
    publish('elsewhere/d1/telemtry', 1, 4);
    publish('devices/d1/config', 1, 5, true);
    await until(() => packets.filter((p) => p.cmd === 'puback' || p.cmd === 'pubrec').length === 5, 'five acknowledgements');
    const code = (id: number) => packets.find((p) => (p.cmd === 'puback' || p.cmd === 'pubrec') && p.messageId === id)?.reasonCode ?? 0;
    assert.deepEqual([1, 2, 3, 4, 5].map(code), [0x10, 0x10, 0, 0, 0]);
    socket.destroy();
    const filters = ['devices/+/telemetry', 'devices/+/protobuf'];
    // Compared as a set: aedes may hand over a QoS 2 message after a later QoS 1 one.
    assert.deepEqual([...got].sort((x, y) => Number(x.unrouted === undefined) - Number(y.unrouted === undefined)), [
      { topic: 'devices/d1/telemtry', unrouted: filters },
      { topic: 'devices/d1/telemtry', unrouted: filters },
      { topic: 'devices/d1/telemetry', unrouted: undefined },
    ]);
  } finally {
    await b.stop();
  }
});
