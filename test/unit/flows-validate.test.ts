/** `upperstack flows validate`: what it refuses in a pack, and every shipped pack passes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePack, validatePack } from '../../nodes/lib/flows/validate';
import { knownTypes, runFlows } from '../../scripts/flows';
import { tempDir } from '../helpers/temp';

const root = join(__dirname, '..', '..', '..');
const types = knownTypes();

test('the known types are Node-RED\'s core nodes and every node of this package', () => {
  for (const t of ['inject', 'debug', 'link out', 'catch', 'function', 'mqtt in', 'upperstack-store', 'upperstack-simulate']) assert.ok(types.has(t), t);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { 'node-red': { nodes: Record<string, string> } };
  for (const t of Object.keys(pkg['node-red'].nodes)) assert.ok(types.has(t), t);
});

test('every pack in flows/ is valid: types resolve, references resolve, no secrets', () => {
  const files = readdirSync(join(root, 'flows')).filter((f) => f.endsWith('.json'));
  assert.ok(files.includes('pipeline.json') && files.includes('simulator.json'));
  for (const f of files) {
    const nodes = parsePack(readFileSync(join(root, 'flows', f), 'utf8'));
    // A pack meant to sit next to another may name that one's nodes.
    const deployedIds = new Set(parsePack(readFileSync(join(root, 'flows', 'pipeline.json'), 'utf8')).map((n) => n.id));
    assert.deepEqual(validatePack(nodes, { knownTypes: types, deployedIds }), [], f);
  }
});

test('a pack with an unknown type, a dangling reference, an inline secret or credentials is refused, naming node and property', () => {
  const pack = [
    { id: 't', type: 'tab' },
    { id: 'a', type: 'upperstack-store', z: 't', store: 'missing-cfg', wires: [['b', 'ghost']] },
    { id: 'b', type: 'lamp-controller', z: 't', wires: [] },
    { id: 'c', type: 'upperstack-mqtt-connection', password: 'hunter2', apiKey: '${API_KEY}' },
    { id: 'd', type: 'upperstack-api', z: 't', store: 'c', credentials: { apiKey: 'abc' }, wires: [] },
    { id: 'd', type: 'comment', z: 't' },
    { id: 'e', type: 'mqtt-broker', broker: '127.0.0.1', credentials: { user: 'apikey', password: '${UPPERSTACK_API_KEY}' } },
  ];
  const problems = validatePack(pack, { knownTypes: types });
  const said = problems.map((p) => `${p.node} ${p.property ?? ''}: ${p.message}`);
  assert.ok(said.some((s) => /^a store: store names missing-cfg/.test(s)), said.join('\n'));
  assert.ok(said.some((s) => /^a wires: wires names ghost/.test(s)));
  assert.ok(said.some((s) => /^b : unknown node type "lamp-controller"/.test(s)));
  assert.ok(said.some((s) => /^c password: "password" holds a secret inline/.test(s)));
  assert.ok(!said.some((s) => /apiKey/.test(s) && /^c /.test(s)), 'an ${ENV} placeholder is not a secret');
  assert.ok(said.some((s) => /^d credentials: the pack carries credentials/.test(s)));
  assert.ok(said.some((s) => /the id d is used twice/.test(s)));
  assert.ok(!said.some((s) => /^e /.test(s)), 'credentials of a user name and an ${ENV} placeholder carry no secret');
  assert.throws(() => parsePack('{"a":1}'), /JSON array of nodes/);
});

test('upperstack flows validate exits 0 for a valid pack and 1 listing the problems', async () => {
  const dir = tempDir('us-flows-');
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify([{ id: 'x', type: 'nope', wires: [['y']] }]));
  const lines: string[] = [];
  const out = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
  assert.equal(await runFlows(['validate', join(root, 'flows', 'simulator.json')], out), 0);
  assert.match(lines.join(''), /6 nodes, valid/);
  lines.length = 0;
  assert.equal(await runFlows(['validate', bad], out), 1);
  assert.match(lines.join(''), /node x \(nope\): unknown node type "nope"/);
  assert.match(lines.join(''), /2 problems/);
});
