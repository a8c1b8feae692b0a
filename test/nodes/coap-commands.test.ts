/**
 * Commands to CoAP observers of /commands/{device}, as a device sees them: each notification
 * with the Content-Format of its command, an observer that leaves (libcoap's coap-client-notls
 * deregisters when its -s time is up) no longer pushed to, and an input that is redeployed
 * leaving no observation behind that would fail later commands.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import helper from 'node-red-node-test-helper';
import { defaultTiming, updateTiming } from 'coap';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { commandBoard } from '../../nodes/lib/inputs/commands';
import { COMMAND_MAX_AGE_S, defaultObserveCheck, OBSERVATION_LIMITS, OBSERVE_CHECK, updateObserveCheck } from '../../nodes/lib/inputs/observations';
import { coapInLoader, waitFor } from '../helpers/coap-node';
import { useTestRuntime } from '../helpers/node-red';

/* eslint-disable @typescript-eslint/no-require-imports */
const coapNode = require('../../nodes/coap-in/coap-in');
const commandNode = require('../../nodes/command/command');

helper.init(require.resolve('node-red'));

const commandFlow = [
  { id: 'cmd', type: 'upperstack-command', topic: '', configVersion: 1, wires: [['sent']] },
  { id: 'sent', type: 'helper' },
];
const load = coapInLoader([coapNode, commandNode], 'cc', commandFlow);

useTestRuntime('us-coap-commands-');

/** A UDP client that observes /commands/{device} with a non-confirmable GET (or a confirmable one) and collects the notifications. */
async function observe(port: number, device: string, token: Buffer, confirmable = false): Promise<{ sock: Socket; got: ParsedPacket[] }> {
  const sock = createSocket('udp4');
  const got: ParsedPacket[] = [];
  sock.on('message', (m) => got.push(parse(m)));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  sock.send(generate({ code: 'GET', messageId: 61, token, confirmable, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('commands') }, { name: 'Uri-Path', value: Buffer.from(device) }] }), port, '127.0.0.1');
  await waitFor(() => (got.length ? true : undefined), 'the first notification');
  return { sock, got };
}

/** The Max-Age of a notification in seconds, or undefined without the option (then 60 s, RFC 7252 §5.10.5). */
function maxAge(p: ParsedPacket): number | undefined {
  const v = p.options.find((o) => o.name === 'Max-Age')?.value;
  return v === undefined ? undefined : v.length ? v.readUIntBE(0, v.length) : 0;
}

/** The Content-Format number of a notification (an empty option value is 0, text/plain). */
function contentFormat(p: ParsedPacket): number | undefined {
  const v = p.options.find((o) => o.name === 'Content-Format')?.value;
  return v === undefined ? undefined : v.length ? v.readUIntBE(0, v.length) : 0;
}

test('each notification carries the Content-Format of its command: text, bytes, JSON', async () => {
  const { port } = await load();
  const { sock, got } = await observe(port, 'cf-1', Buffer.from([6, 1]));
  try {
    const cmd = helper.getNode('cmd')!;
    cmd.receive({ device: 'cf-1', payload: 'reboot' });
    cmd.receive({ device: 'cf-1', payload: Buffer.from([1, 2, 3]) });
    cmd.receive({ device: 'cf-1', payload: { valve: 'open' } });
    await waitFor(() => (got.length >= 4 ? true : undefined), 'three notifications');
    // RFC 7252 §12.3: 0 text/plain, 42 application/octet-stream, 50 application/json.
    assert.deepEqual(got.slice(1).map((p) => [contentFormat(p), p.payload.toString('hex')]), [
      [0, Buffer.from('reboot').toString('hex')],
      [42, '010203'],
      [50, Buffer.from('{"valve":"open"}').toString('hex')],
    ]);
  } finally {
    sock.close();
  }
});

test('an observer that leaves (coap-client-notls -s deregisters) is no longer pushed to', async () => {
  const { port } = await load();
  const observer = spawn('coap-client-notls', ['-m', 'get', '-s', '2', `coap://127.0.0.1:${port}/commands/gone-1`]);
  let out = '';
  observer.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => observer.once('exit', () => r()));
  await waitFor(() => (commandBoard.observers('gone-1') === 1 ? true : undefined), 'the observation');
  helper.getNode('cmd')!.receive({ device: 'gone-1', payload: 'stay' });
  await exited;
  assert.match(out, /stay/);
  assert.equal(commandBoard.observers('gone-1'), 0);
});

test('observing again with the same token replaces the observation, not adds one', async () => {
  const { port } = await load();
  const { sock, got } = await observe(port, 'again-1', Buffer.from([7, 1]));
  try {
    sock.send(generate({ code: 'GET', messageId: 62, token: Buffer.from([7, 1]), confirmable: false, options: [{ name: 'Observe', value: Buffer.alloc(0) }, { name: 'Uri-Path', value: Buffer.from('commands') }, { name: 'Uri-Path', value: Buffer.from('again-1') }] }), port, '127.0.0.1');
    await waitFor(() => (got.length >= 2 ? true : undefined), 'the second registration');
    assert.equal(commandBoard.observers('again-1'), 1);
    helper.getNode('cmd')!.receive({ device: 'again-1', payload: 'once' });
    await waitFor(() => (got.length >= 3 ? true : undefined), 'the notification');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got.slice(2).map((p) => p.payload.toString()), ['once']);
  } finally {
    sock.close();
  }
});

test('after the CoAP input is redeployed, commands to a device it had an observer of still go out', async () => {
  const { port } = await load();
  const { sock } = await observe(port, 'redeploy-1', Buffer.from([8, 1]));
  sock.close();
  await helper.unload();
  await helper.load([commandNode], commandFlow);
  assert.equal(commandBoard.observers('redeploy-1'), 0);
  const cmd = helper.getNode('cmd')!;
  // Whichever comes first: the command sent on, or its failure.
  const outcome = new Promise<string>((r) => {
    helper.getNode('sent')!.once('input', (msg: Record<string, unknown>) => r(`sent to ${String(msg.device)}`));
    (cmd as unknown as { once(e: 'call:error', f: (c: { args: unknown[] }) => void): void }).once('call:error', (c) => r(`failed: ${String(c.args[0])}`));
  });
  cmd.receive({ device: 'redeploy-1', payload: 'still here' });
  assert.equal(await outcome, 'sent to redeploy-1');
  assert.equal(commandBoard.get('redeploy-1')?.payload.toString(), 'still here');
});

/** The number of command-node status calls so far (the helper runtime shows message keys, not the counts in them). */
function statusCalls(): number {
  const node = helper.getNode('cmd') as unknown as { status: { getCalls(): Array<{ thisValue: unknown }> } };
  return node.status.getCalls().filter((c) => c.thisValue === node).length;
}

test('a non-confirmable observation gets a confirmable notification after five others; a Reset to it drops the observer', async () => {
  const { port } = await load();
  // A device that observes with a NON GET, as the UDP socket of a constrained device would, then forgets it.
  const { sock, got } = await observe(port, 'rst-1', Buffer.from([9, 1]));
  try {
    const cmd = helper.getNode('cmd')!;
    const n = OBSERVE_CHECK.maxNonInRow + 1;
    for (let i = 1; i <= n; i++) cmd.receive({ device: 'rst-1', payload: `c${i}` });
    await waitFor(() => (got.length >= n + 1 ? true : undefined), 'the notifications');
    // Notifications, not acknowledgements (the library marks them ACK after the first: coapjs/node-coap#218).
    // Each, the answer to the registration included, fresh for a day rather than the default 60 s.
    assert.deepEqual(got.map(maxAge), Array.from({ length: n + 1 }, () => COMMAND_MAX_AGE_S));
    assert.deepEqual(got.slice(1).map((p) => [p.payload.toString(), p.confirmable, p.ack]), [
      ...Array.from({ length: n - 1 }, (_, i) => [`c${i + 1}`, false, false]),
      [`c${n}`, true, false],
    ]);
    assert.equal(commandBoard.observers('rst-1'), 1);
    const before = statusCalls();
    const con = got[n];
    sock.send(generate({ code: '0.00', messageId: con.messageId, token: Buffer.alloc(0), reset: true, confirmable: false, ack: false }), port, '127.0.0.1');
    await waitFor(() => (commandBoard.observers('rst-1') === 0 ? true : undefined), 'the observer dropped');
    // The command node's status is set again with the device's observer count, without a new command.
    await waitFor(() => (statusCalls() > before ? true : undefined), 'the status again');
  } finally {
    sock.close();
  }
});

test('an observer that went away without cancelling is dropped once a confirmable notification goes unanswered; one that answers stays', async () => {
  const { port } = await load();
  // The library's CoAP timing made short once the input listens (ACK_TIMEOUT 0.2 s, one retransmission), so an
  // unanswered confirmable notification gives up in about a second rather than EXCHANGE_LIFETIME's 247 s.
  updateTiming({ ackTimeout: 0.2, maxRetransmit: 1, maxLatency: 0.1 });
  try {
    const url = `coap://127.0.0.1:${port}/commands/gone-2`;
    // Two libcoap observers registered with NON GETs: one stays, the other is killed without a word (SIGKILL).
    const stays = spawn('coap-client-notls', ['-N', '-m', 'get', '-s', '120', url]);
    let out = '';
    stays.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => (commandBoard.observers('gone-2') === 1 ? true : undefined), 'the first observation');
    const leaves = spawn('coap-client-notls', ['-N', '-m', 'get', '-s', '120', url]);
    try {
      await waitFor(() => (commandBoard.observers('gone-2') === 2 ? true : undefined), 'the second observation');
      const exited = new Promise<void>((r) => leaves.once('exit', () => r()));
      leaves.kill('SIGKILL');
      await exited;
      const cmd = helper.getNode('cmd')!;
      const n = OBSERVE_CHECK.maxNonInRow + 1;
      for (let i = 1; i <= n; i++) cmd.receive({ device: 'gone-2', payload: `go-${i}` });
      // The n-th went confirmable to both: the one still there acknowledges it, the other never does.
      await waitFor(() => (commandBoard.observers('gone-2') === 1 ? true : undefined), 'the gone observer dropped', 2400);
      await waitFor(() => (out.includes(`go-${n}`) ? true : undefined), 'the last command at the observer that stayed');
      // It stays after the time the other was given: the next command still reaches it.
      cmd.receive({ device: 'gone-2', payload: 'after' });
      await waitFor(() => (out.includes('after') ? true : undefined), 'the command after');
      assert.equal(commandBoard.observers('gone-2'), 1);
    } finally {
      leaves.kill('SIGKILL');
      stays.kill();
    }
  } finally {
    defaultTiming();
  }
});

/** The notifications (2.05) in libcoap's `-v 7` log, as it received them, a retransmission once: type, message ID and options. */
function loggedNotifications(log: string): Array<{ type: string; id: string; options: string }> {
  const byId = new Map<string, { type: string; id: string; options: string }>();
  for (const m of log.matchAll(/v:1 t:(\w+) c:2\.05 i:([0-9a-f]+) \{[0-9a-f]*\} \[ ([^\]]*) \]/g)) if (!byId.has(m[2])) byId.set(m[2], { type: m[1], id: m[2], options: m[3] });
  return [...byId.values()];
}

test('a confirmable observation (coap-client-notls) gets its later notifications confirmable, each with a Max-Age of a day, and every quick command in order', async () => {
  const { port } = await load();
  const observer = spawn('coap-client-notls', ['-v', '7', '-m', 'get', '-s', '60', `coap://127.0.0.1:${port}/commands/con-1`]);
  let log = '';
  observer.stdout.on('data', (d: Buffer) => (log += d.toString()));
  observer.stderr.on('data', (d: Buffer) => (log += d.toString()));
  try {
    await waitFor(() => (commandBoard.observers('con-1') === 1 ? true : undefined), 'the observation');
    const cmd = helper.getNode('cmd')!;
    // In one turn: the second and third are set while the first is still unacknowledged.
    for (const c of ['m1', 'm2', 'm3']) cmd.receive({ device: 'con-1', payload: c });
    await waitFor(() => (loggedNotifications(log).length >= 4 && log.includes('m3') ? true : undefined), 'the three commands');
    const seen = loggedNotifications(log);
    // The answer to the registration is piggybacked on its ACK; the later ones are CON (not ACK-typed
    // without a CON to answer), each a message of its own.
    assert.deepEqual(seen.map((n) => n.type), ['ACK', 'CON', 'CON', 'CON']);
    for (const n of seen) assert.match(n.options, new RegExp(`Max-Age:${COMMAND_MAX_AGE_S}\\b`));
    assert.deepEqual([...log.matchAll(/\bm[123]\b/g)].map((m) => m[0]).filter((c, i, all) => all.indexOf(c) === i), ['m1', 'm2', 'm3']);
  } finally {
    observer.kill();
  }
});

test('quick commands to a confirmable observer: one notification is outstanding at a time, the next goes once it is acknowledged', async () => {
  const { port } = await load();
  // Retransmissions within a second, so the test sees one without waiting the default 2-3 s.
  updateTiming({ ackTimeout: 0.2, maxRetransmit: 4, maxLatency: 0.1 });
  const { sock, got } = await observe(port, 'one-1', Buffer.from([10, 1]), true);
  try {
    const ack = (p: ParsedPacket) => sock.send(generate({ code: '0.00', messageId: p.messageId, token: Buffer.alloc(0), ack: true, confirmable: false }), port, '127.0.0.1');
    const copies = (payload: string) => got.filter((p) => p.payload.toString() === payload);
    const cmd = helper.getNode('cmd')!;
    for (const c of ['q1', 'q2', 'q3']) cmd.receive({ device: 'one-1', payload: c });
    // q1 goes, and is sent again while unacknowledged; q2 and q3 start no retransmissions beside it.
    await waitFor(() => (copies('q1').length >= 2 ? true : undefined), 'q1 sent again');
    assert.deepEqual([copies('q2').length, copies('q3').length], [0, 0]);
    const [q1] = copies('q1');
    assert.equal(q1.confirmable, true);
    ack(q1);
    const q2 = await waitFor(() => copies('q2')[0], 'q2 once q1 is acknowledged');
    assert.equal(q2.confirmable, true);
    assert.notEqual(q2.messageId, q1.messageId);
    assert.equal(copies('q3').length, 0);
    ack(q2);
    const q3 = await waitFor(() => copies('q3')[0], 'q3 once q2 is acknowledged');
    ack(q3);
    assert.deepEqual([q1, q2, q3].map(maxAge), [COMMAND_MAX_AGE_S, COMMAND_MAX_AGE_S, COMMAND_MAX_AGE_S]);
    assert.equal(commandBoard.observers('one-1'), 1);
  } finally {
    sock.close();
    defaultTiming();
  }
});

test('with no command sent, the periodic check drops an observer that stopped answering and keeps one that acknowledges', async () => {
  // Checked every 100 ms once 300 ms have passed (a day and an hour by default; the sweep's period is read as the
  // input starts), and, once it listens, an unanswered confirmable notification given up in about a second.
  updateObserveCheck({ everyMs: 300, sweepMs: 100 });
  const sockets: Socket[] = [];
  try {
    const { port } = await load();
    updateTiming({ ackTimeout: 0.2, maxRetransmit: 1, maxLatency: 0.1 });
    // The latest command was set before either registered; none is sent afterwards.
    commandBoard.set('sweep-1', 'stand by');
    const live = await observe(port, 'sweep-1', Buffer.from([11, 1]));
    const gone = await observe(port, 'sweep-1', Buffer.from([11, 2]));
    sockets.push(live.sock);
    const acked = new Set<number>();
    live.sock.on('message', (m) => {
      const p = parse(m);
      if (!p.confirmable) return;
      acked.add(p.messageId);
      live.sock.send(generate({ code: '0.00', messageId: p.messageId, token: Buffer.alloc(0), ack: true, confirmable: false }), port, '127.0.0.1');
    });
    // The one gone stops reading its socket: it answers nothing from now on.
    gone.sock.close();
    assert.equal(commandBoard.observers('sweep-1'), 2);
    await waitFor(() => (commandBoard.observers('sweep-1') === 1 ? true : undefined), 'the silent observer dropped');
    // The one that answers got the latest command again, confirmable, as a notification (2.05 with Observe).
    const rechecks = live.got.filter((p) => p.confirmable);
    assert.ok(rechecks.length >= 1);
    assert.deepEqual([rechecks[0].code, rechecks[0].payload.toString(), rechecks[0].options.some((o) => o.name === 'Observe')], ['2.05', 'stand by', true]);
    // It is checked again and again, and stays for as long as it answers.
    const before = acked.size;
    await waitFor(() => (acked.size >= before + 2 ? true : undefined), 'two more checks acknowledged');
    assert.equal(commandBoard.observers('sweep-1'), 1);
  } finally {
    for (const s of sockets) s.close();
    defaultObserveCheck();
    defaultTiming();
  }
});

test('a device at its limit of observations keeps a new registration and ends its oldest; a plain GET says Max-Age 0', async () => {
  const { port } = await load();
  const sock = createSocket('udp4');
  const got: ParsedPacket[] = [];
  sock.on('message', (m) => got.push(parse(m)));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const get = (messageId: number, token: Buffer, observeIt: boolean) =>
    sock.send(generate({ code: 'GET', messageId, token, confirmable: true, options: [...(observeIt ? [{ name: 'Observe' as const, value: Buffer.alloc(0) }] : []), { name: 'Uri-Path', value: Buffer.from('commands') }, { name: 'Uri-Path', value: Buffer.from('lim-1') }] }), port, '127.0.0.1');
  try {
    const limit = OBSERVATION_LIMITS.perDevice;
    for (let i = 0; i < limit; i++) get(100 + i, Buffer.from([12, i]), true);
    await waitFor(() => (commandBoard.observers('lim-1') === limit ? true : undefined), 'the observations up to the limit');
    // A device that rebooted registers again from a new endpoint and cannot cancel what it left behind.
    get(200, Buffer.from([13, 0]), true);
    const kept = await waitFor(() => got.find((p) => p.messageId === 200), 'the answer over the limit');
    assert.equal(kept.code, '2.05');
    assert.equal(kept.options.some((o) => o.name === 'Observe'), true, 'the registration is kept');
    assert.equal(commandBoard.observers('lim-1'), limit);
    commandBoard.set('lim-1', 'go');
    const pushedTo = (token: Buffer) => got.some((p) => p.payload.toString() === 'go' && p.token.equals(token));
    await waitFor(() => (pushedTo(Buffer.from([13, 0])) && pushedTo(Buffer.from([12, limit - 1])) ? true : undefined), 'the command pushed to the newest observations');
    assert.equal(pushedTo(Buffer.from([12, 0])), false, 'the oldest observation of the device was ended');
    // A plain GET: no push follows it, so it is fresh for no time at all rather than the default 60 s.
    commandBoard.set('lim-1', 'now');
    get(201, Buffer.from([13, 1]), false);
    const plain = await waitFor(() => got.find((p) => p.messageId === 201), 'the plain GET');
    assert.deepEqual([plain.code, plain.payload.toString(), maxAge(plain)], ['2.05', 'now', 0]);
  } finally {
    sock.close();
  }
});
