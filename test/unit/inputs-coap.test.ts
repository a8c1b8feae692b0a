import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generate, parse } from 'coap-packet';
import { boundAmplification, boundedBlock2, coapContentType, coapOutcomeAnswer, ExchangeCache, parseBlock2, requestSize, wellKnownCore } from '../../nodes/lib/inputs/coap';
import { checkDatagram, wellFormed } from '../../nodes/lib/inputs/coap-checks';
import { Block1Assembler, block1Value, parseBlock1 } from '../../nodes/lib/inputs/block1';
import { CommandBoard, commandBytes, commandDevice, commandTopic } from '../../nodes/lib/inputs/commands';
import { emptyAckOf, ObserverCheck, ObserverOutbox } from '../../nodes/lib/inputs/observations';
import { DecodeError, SchemaViolationError } from '../../nodes/lib/errors';

describe('CoAP input pieces', () => {
  test('Content-Formats name the codecs', () => {
    assert.equal(coapContentType(50), 'application/json');
    assert.equal(coapContentType(112), 'application/senml+cbor');
    assert.equal(coapContentType('application/cbor'), 'application/cbor');
    assert.equal(coapContentType(9999), 'unknown/9999');
    assert.equal(coapContentType(undefined), undefined);
  });

  test('answers: 2.04 with counts, 4.00 with a diagnostic naming the problem, 4.22 when no reading is valid', () => {
    assert.deepEqual(JSON.parse(coapOutcomeAnswer({ readings: [{ device: 'd', ts: 1, fields: { a: 1 }, tags: {} }], failures: [] }).payload!.toString()), { accepted: 1, deadLettered: 0 });
    const bad = coapOutcomeAnswer({ readings: [], failures: [{ error: new DecodeError('JSON payload ends early at byte 3', { format: 'json', offset: 3 }), payload: Buffer.from('{"a') }], refusal: 'malformed' });
    assert.equal(bad.code, '4.00');
    assert.equal(bad.payload!.toString(), 'DECODE_FAILED: JSON payload ends early at byte 3');
    assert.equal(coapOutcomeAnswer({ readings: [], failures: bad.payload ? [{ error: new DecodeError('x', { format: 'x' }), payload: '' }] : [], refusal: 'unsupported' }).code, '4.15');
    const refused = coapOutcomeAnswer({ readings: [], failures: [{ error: new SchemaViolationError('fields/t must be <= 30', { path: '/fields/t' }), payload: {}, index: 0 }] });
    assert.equal(refused.code, '4.22');
    assert.equal(refused.payload!.toString(), 'SCHEMA_VIOLATION: fields/t must be <= 30 (item 0)');
  });

  test('no answer is more than 3× its request', () => {
    const long = { code: '4.00', payload: Buffer.from('é'.repeat(200)) };
    const cut = boundAmplification(long, 20);
    // Header (4), the longest token (8) and the payload marker (1) around the cut payload.
    assert.ok(cut.payload!.length + 13 <= 60);
    assert.doesNotThrow(() => new TextDecoder('utf-8', { fatal: true }).decode(cut.payload));
    assert.equal(boundAmplification(long, 4).payload, undefined);
    assert.equal(boundAmplification(long, 1000).payload!.length, 400);
  });

  test('the bound counts the answer\'s token and options, and the request\'s real size', () => {
    // GET /x without a token is a 6-byte datagram: a 4.04 with a diagnostic may be at most 18 bytes.
    const get = generate({ code: 'GET', messageId: 9, confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('x') }] });
    assert.equal(requestSize(parse(get)), get.length);
    const notFound = boundAmplification({ code: '4.04', payload: Buffer.from('resources: /telemetry/{device}'), options: { 'Content-Format': 'text/plain' } }, requestSize(parse(get)), 0);
    const out = generate({ code: '4.04', messageId: 9, ack: true, payload: notFound.payload, options: notFound.payload ? [{ name: 'Content-Format', value: Buffer.from([0]) }] : [] });
    assert.ok(out.length <= 3 * get.length, `${out.length} > 3 x ${get.length}`);
    const withToken = generate({ code: 'POST', messageId: 10, token: Buffer.alloc(8, 1), confirmable: true, payload: Buffer.from('{'), options: [{ name: 'Uri-Path', value: Buffer.from('telemetry') }, { name: 'Uri-Path', value: Buffer.from('d') }] });
    assert.equal(requestSize(parse(withToken)), withToken.length);
  });

  test('/.well-known/core is answered block-wise within 3× a small request, and reassembles to the whole list', () => {
    const body = Buffer.from(wellKnownCore());
    const request = (num?: number, szx?: number) => {
      const options = [{ name: 'Uri-Path', value: Buffer.from('.well-known') }, { name: 'Uri-Path', value: Buffer.from('core') }];
      if (num !== undefined) options.push({ name: 'Block2', value: Buffer.from([num * 16 + szx!]) });
      return generate({ code: 'GET', messageId: 1, confirmable: true, options });
    };
    const first = request();
    const a0 = boundedBlock2(body, requestSize(parse(first)), 0, undefined, { 'Content-Format': 'application/link-format' })!;
    assert.ok(a0.block2, 'a 21-byte request cannot get the whole list at once');
    const szx = parseBlock2(a0.block2)!.szx;
    const parts = [a0.payload];
    let more = (a0.block2[0] & 8) !== 0;
    for (let num = 1; more; num++) {
      const req = request(num, szx);
      const a = boundedBlock2(body, requestSize(parse(req)), 0, parseBlock2(Buffer.from([num * 16 + szx])), { 'Content-Format': 'application/link-format' })!;
      const wire = generate({ code: '2.05', messageId: 1, ack: true, payload: a.payload, options: [{ name: 'Content-Format', value: Buffer.from([40]) }, { name: 'Block2', value: a.block2! }] });
      assert.ok(wire.length <= 3 * req.length, `block ${num}: ${wire.length} > 3 x ${req.length}`);
      parts.push(a.payload);
      more = (a.block2![a.block2!.length - 1] & 8) !== 0;
    }
    assert.equal(Buffer.concat(parts).toString(), body.toString());
    // A client asking for bigger blocks gets the same offset in smaller ones; a block past the end is refused.
    const big = boundedBlock2(body, 23, 0, { num: 1, szx: 2 })!;
    assert.equal(big.payload.toString(), body.subarray(64, 64 + big.payload.length).toString());
    assert.equal(boundedBlock2(body, 23, 0, { num: 1000, szx: 0 }), undefined);
    // A large enough request gets it whole.
    assert.equal(boundedBlock2(body, 1000, 0)!.block2, undefined);
  });

  test('a Block1 transfer that would pass the limit is refused with 4.13 and Size1 before reassembly', () => {
    const block1 = (num: number, more: boolean, szx: number) => {
      const v = (num << 4) | (more ? 8 : 0) | szx;
      return Buffer.from(v < 256 ? [v] : v < 65536 ? [v >> 8, v & 255] : [v >> 16, (v >> 8) & 255, v & 255]);
    };
    const raw = (num: number) => generate({ code: 'POST', messageId: 7, confirmable: true, payload: Buffer.alloc(64), options: [{ name: 'Block1', value: block1(num, false, 2) }] });
    assert.equal(checkDatagram(raw(10), 4096).reject, undefined);
    const r = checkDatagram(raw(100000), 4096).reject!;
    assert.equal(r.code, '4.13');
    assert.equal(r.options!.Size1, 4096);
    assert.equal(r.payload!.toString(), 'PAYLOAD_TOO_LARGE: the payload would be more than 4096 bytes');
    assert.equal(checkDatagram(generate({ code: 'POST', payload: Buffer.alloc(1100) }), 1024).reject!.code, '4.13');
    assert.deepEqual(checkDatagram(Buffer.from([0xff, 0x00]), 1024), {});
  });

  test('message format errors the parser lets through (RFC 7252 §3, §4.1) are not readable datagrams', () => {
    const post = (...rest: number[]) => Buffer.from([0x40, 0x02, 0x00, 0x05, ...rest]);
    const path = [...Buffer.from('telemetry')];
    // Well-formed: Uri-Path telemetry, a payload; an empty CON (ping); a 1-byte token.
    assert.equal(wellFormed(post(0xb9, ...path, 0xff, 0x31)), true);
    assert.equal(wellFormed(Buffer.from([0x40, 0x00, 0x00, 0x08])), true);
    assert.equal(wellFormed(Buffer.from([0x41, 0x01, 0x00, 0x01, 0xaa])), true);
    assert.equal(wellFormed(generate({ code: 'POST', messageId: 7, confirmable: true, token: Buffer.from([1, 2]), payload: Buffer.alloc(300, 0x31), options: [{ name: 'Uri-Path', value: Buffer.alloc(300, 0x61) }] })), true);
    const bad = [
      post(0xb9, ...path, 0xff), // a payload marker with no payload
      post(0xbd, 0xf0, ...path), // Uri-Path announces 253 bytes, 9 follow
      post(0xb9, ...path.slice(0, 4)), // Uri-Path announces 9 bytes, 4 follow
      post(0xbe, 0x00), // the second extended length byte is missing
      post(0xf0), // delta nibble 15 without being the payload marker
      post(0x1f), // length nibble 15
      Buffer.from([0x40, 0x00, 0x00, 0x08, 0xff, 0x31]), // an Empty message with a payload
      Buffer.from([0x41, 0x02, 0x00, 0x01]), // the token announced is missing
      Buffer.from([0x40, 0x02, 0x00]), // shorter than the header
    ];
    for (const raw of bad) {
      assert.equal(wellFormed(raw), false, raw.toString('hex'));
      assert.deepEqual(checkDatagram(raw, 1024), {}, raw.toString('hex'));
    }
  });

  test('a retransmission is dropped while pending and answered the same once done', () => {
    const c = new ExchangeCache(3, 1000);
    assert.equal(c.begin('a/1', 0), 'new');
    assert.equal(c.begin('a/1', 10), 'pending');
    c.finish('a/1', { code: '2.04' });
    assert.deepEqual(c.begin('a/1', 20), { code: '2.04' });
    assert.equal(c.begin('a/1', 2000), 'new');
    for (const k of ['b', 'c', 'd', 'e']) c.begin(k, 2000);
    assert.ok(c.size <= 3);
  });

  test('/.well-known/core lists the resources in CoRE Link Format', () => {
    assert.match(wellKnownCore(), /^<\/telemetry>;rt="upperstack.telemetry";.*,<\/commands>;rt="upperstack.commands";if="core.s";obs/);
  });
});

describe('commands', () => {
  test('the board keeps the latest command per device and tells observers', () => {
    const b = new CommandBoard();
    const seen: string[] = [];
    const stop = b.observe('d', (c) => seen.push(`${c.seq}:${c.payload.toString()}`));
    b.set('d', { a: 1 });
    b.set('d', 'two');
    stop();
    b.set('d', Buffer.from('3'));
    assert.deepEqual(seen, ['1:{"a":1}', '2:two']);
    assert.equal(b.get('d')?.contentType, 'application/octet-stream');
    assert.throws(() => b.set('', 1), /needs a device/);
    assert.throws(() => commandBytes('x'.repeat(70_000)), /larger than 65536/);
  });

  test('topics and devices', () => {
    assert.equal(commandTopic('devices/{device}/commands', 'p1'), 'devices/p1/commands');
    assert.throws(() => commandTopic('devices/{device}/commands', 'a/b'), /cannot be one MQTT topic level/);
    assert.equal(commandDevice({ topic: 'devices/p2/commands' }, 'devices/{device}/commands'), 'p2');
    assert.equal(commandDevice({ topic: 'other/p2' }, 'devices/{device}/commands'), undefined);
    assert.equal(commandDevice({ device: 'x', topic: 'devices/p2/commands' }, 'devices/{device}/commands'), 'x');
  });
});

describe('observers of commands', () => {
  const HOUR = 60 * 60 * 1000;

  test('a non-confirmable observation gets a confirmable notification after five others, and after 24 hours without one', () => {
    const check = new ObserverCheck(0);
    // Every minute for ten minutes: the sixth and the twelfth... go confirmable.
    assert.deepEqual(Array.from({ length: 12 }, (_, i) => check.confirmable((i + 1) * 60_000)), [false, false, false, false, false, true, false, false, false, false, false, true]);
    // A command a day: each is confirmable, the last one being 24 hours back.
    const daily = new ObserverCheck(0);
    assert.equal(daily.confirmable(23 * HOUR), false);
    assert.equal(daily.confirmable(24 * HOUR), true);
    assert.equal(daily.confirmable(47 * HOUR), false);
    assert.equal(daily.confirmable(48 * HOUR), true);
  });

  test('while a confirmable notification is unacknowledged, later commands wait behind it and go one per acknowledgement, in order', () => {
    const outbox = new ObserverOutbox<string>();
    // Non-confirmable notifications leave nothing outstanding: each goes at once.
    assert.equal(outbox.offer('a'), 'a');
    outbox.sent(false);
    assert.equal(outbox.offer('b'), 'b');
    outbox.sent(true);
    // 'b' is outstanding: 'c' and 'd' do not start retransmissions of their own beside it.
    assert.equal(outbox.offer('c'), undefined);
    assert.equal(outbox.offer('d'), undefined);
    assert.equal(outbox.waitingCount, 2);
    assert.equal(outbox.acknowledged(), 'c');
    outbox.sent(true);
    assert.equal(outbox.isOutstanding, true);
    assert.equal(outbox.acknowledged(), 'd');
    outbox.sent(true);
    assert.equal(outbox.acknowledged(), undefined);
    assert.equal(outbox.isOutstanding, false);
    assert.equal(outbox.offer('e'), 'e');
  });

  test('at most the limit of commands wait: the oldest waiting goes first, the latest is kept', () => {
    const outbox = new ObserverOutbox<number>(3);
    outbox.offer(0);
    outbox.sent(true);
    for (let i = 1; i <= 5; i++) assert.equal(outbox.offer(i), undefined);
    assert.equal(outbox.dropped, 2);
    const order: Array<number | undefined> = [];
    for (let next = outbox.acknowledged(); next !== undefined; next = outbox.acknowledged()) {
      order.push(next);
      outbox.sent(true);
    }
    assert.deepEqual(order, [3, 4, 5]);
  });

  test('an empty ACK names the message it acknowledges; a Reset, a CON, a piggybacked answer do not', () => {
    assert.equal(emptyAckOf(generate({ code: '0.00', messageId: 0xbeef, ack: true, confirmable: false, token: Buffer.alloc(0) })), 0xbeef);
    assert.equal(emptyAckOf(generate({ code: '0.00', messageId: 7, reset: true, confirmable: false, ack: false, token: Buffer.alloc(0) })), undefined);
    assert.equal(emptyAckOf(generate({ code: '0.00', messageId: 7, confirmable: true, token: Buffer.alloc(0) })), undefined);
    assert.equal(emptyAckOf(generate({ code: '2.05', messageId: 7, ack: true, confirmable: false, token: Buffer.from([1]) })), undefined);
    assert.equal(emptyAckOf(Buffer.from([0x60, 0])), undefined);
  });

  test('the board tells its watchers when a device gains or loses an observer', () => {
    const b = new CommandBoard();
    const seen: string[] = [];
    const unwatch = b.watchObservers((device, n) => seen.push(`${device}:${n}`));
    const stopA = b.observe('d', () => undefined);
    b.observe('d', () => {
      throw new Error('its socket is gone');
    });
    b.set('d', 'x');
    stopA();
    stopA();
    unwatch();
    b.observe('d', () => undefined);
    assert.deepEqual(seen, ['d:1', 'd:2', 'd:1', 'd:0']);
  });
});

describe('Block1 reassembly', () => {
  test('in-order blocks make the payload; repeats are acknowledged; gaps, oversize and strays are refused', () => {
    const a = new Block1Assembler(200);
    const b16 = (n: number) => Buffer.alloc(16, n);
    assert.deepEqual(a.add('k', { num: 0, more: true, szx: 0 }, b16(1)), { type: 'continue' });
    assert.deepEqual(a.add('k', { num: 0, more: true, szx: 0 }, b16(1)), { type: 'continue' });
    assert.deepEqual(a.add('k', { num: 1, more: true, szx: 0 }, b16(2)), { type: 'continue' });
    assert.deepEqual(a.add('k', { num: 1, more: true, szx: 0 }, b16(2)), { type: 'continue' });
    const done = a.add('k', { num: 2, more: false, szx: 0 }, Buffer.from([3]));
    assert.equal(done.type, 'complete');
    assert.deepEqual((done as { payload: Buffer }).payload, Buffer.concat([b16(1), b16(2), Buffer.from([3])]));
    assert.equal(a.size, 0);
    assert.equal((a.add('k', { num: 3, more: true, szx: 0 }, b16(0)) as { code: string }).code, '4.08');
    a.add('g', { num: 0, more: true, szx: 0 }, b16(0));
    assert.equal((a.add('g', { num: 2, more: true, szx: 0 }, b16(0)) as { code: string }).code, '4.08');
    assert.equal((a.add('big', { num: 100, more: false, szx: 6 }, b16(0)) as { code: string }).code, '4.13');
    assert.equal((a.add('short', { num: 0, more: true, szx: 1 }, b16(0)) as { code: string }).code, '4.00');
    // Size1 announcing more than the limit: refused at block 0, nothing kept of the transfer.
    assert.deepEqual(a.add('announced', { num: 0, more: true, szx: 0 }, b16(0), Date.now(), 201), { type: 'error', code: '4.13', message: 'the payload announced (Size1 201 bytes) is more than 200 bytes' });
    assert.equal((a.add('announced', { num: 1, more: true, szx: 0 }, b16(0)) as { code: string }).code, '4.08');
    assert.deepEqual(a.add('fits', { num: 0, more: true, szx: 0 }, b16(0), Date.now(), 200), { type: 'continue' });
    assert.deepEqual(parseBlock1(block1Value({ num: 4000, more: true, szx: 2 })), { num: 4000, more: true, szx: 2 });
    assert.deepEqual(parseBlock1(block1Value({ num: 0xfffff, more: false, szx: 6 })), { num: 0xfffff, more: false, szx: 6 });
    assert.equal(block1Value({ num: 0, more: false, szx: 0 }).length, 0);
  });

  test('a Block2 option is read as RFC 7959 writes it: empty is block 0 of 16 bytes, SZX 7 is reserved, at most 3 bytes', () => {
    assert.deepEqual(parseBlock2(Buffer.alloc(0)), { num: 0, szx: 0 });
    assert.deepEqual(parseBlock2(Buffer.from([0x1e])), { num: 1, szx: 6 });
    assert.deepEqual(parseBlock2(Buffer.from([0xff, 0xff, 0xfe])), { num: 0xfffff, szx: 6 });
    assert.equal(parseBlock2(Buffer.from([0x07])), undefined);
    assert.equal(parseBlock2(Buffer.from([0x01, 0x0f])), undefined);
    assert.equal(parseBlock2(Buffer.from([0, 0, 0, 0x10])), undefined);
  });
});
