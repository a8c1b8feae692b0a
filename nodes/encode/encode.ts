/** upperstack-encode: Readings (or any value, for JSON/CBOR/MessagePack) → bytes in the chosen format. */
import type { Node, NodeAPI } from 'node-red';
import { encode } from '../lib/codec';
import { onInput } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { CONTENT_TYPES, encodeMigrations, type EncodeNodeDef, type EncodeOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackEncodeNode(this: Node, def: EncodeNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<EncodeOptions>(def as unknown as Record<string, unknown>, encodeMigrations);
    onInput(node, (msg, send, done) => {
      msg.payload = encode(config.format, msg.payload, { protoType: config.protoType || undefined, protoDir: config.protoDir || undefined });
      msg.contentType = CONTENT_TYPES[config.format];
      msg.format = config.format;
      send(msg);
      done();
    });
  }

  registerNode(RED, 'upperstack-encode', UpperstackEncodeNode);
};
