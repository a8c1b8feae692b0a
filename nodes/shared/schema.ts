/**
 * The schema of a node that validates readings (validate, http in, coap in):
 * compiled once at deploy from the shipped schema, inline text or a file in
 * the data folder, with the fields it marks sensitive masked while the node
 * is deployed. A schema that cannot be used is the node's red status and its
 * own `<type>.errors.schema` error.
 */
import type { Node, NodeAPI } from 'node-red';
import { loadSchema, type ReadingValidator } from '../lib/schema/validator';
import { describeError } from '../lib/errors';
import { maskSensitiveOf } from './keys';
import { dataDir } from './runtime';
import { setStatus } from './status';

/** The schema settings every validating node has. */
export interface SchemaChoice {
  /** 'default': the shipped reading schema; 'inline': `schema`; 'file': `schemaFile`. */
  schemaSource: 'default' | 'inline' | 'file';
  schema: string;
  schemaFile: string;
}

/** The compiled schema, or the error once it has been reported on the node. */
export type NodeSchema = { ok: true; validate: ReadingValidator } | { ok: false; error: Error };

export function loadNodeSchema(RED: NodeAPI, node: Node, choice: SchemaChoice): NodeSchema {
  try {
    const loaded = loadSchema({
      inline: choice.schemaSource === 'inline' ? choice.schema : undefined,
      file: choice.schemaSource === 'file' ? choice.schemaFile : undefined,
      baseDir: dataDir(RED),
    });
    // Fields the schema marks sensitive are masked for API keys without read:sensitive.
    maskSensitiveOf(node, loaded.schema);
    return { ok: true, validate: loaded.validate };
  } catch (err) {
    const message = describeError(err).message;
    setStatus(node, 'failed', message);
    node.error(RED._(`${node.type}.errors.schema`, { message }));
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}
