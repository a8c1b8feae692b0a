/**
 * upperstack-validate: checks each Reading against a JSON Schema compiled once at
 * deploy. Valid readings leave output 1 together; each invalid one leaves output 2
 * with msg.error = {code, path, message}.
 */
import type { Node, NodeAPI } from 'node-red';
import { InvalidReadingError, type UpperstackError } from '../lib/errors';
import { checkReadingLimits, checkReadingTime, type Reading } from '../lib/reading';
import { tooManyReadings, resolveLimits } from '../lib/limits';
import { onInput } from '../shared/input';
import { readingsOf, routeResult, type Failure } from '../shared/batch';
import { migrate, registerNode } from '../shared/config';
import { throttledStatus } from '../shared/status';
import { loadNodeSchema } from '../shared/schema';
import { invalid as invalidTotal } from '../lib/metrics';
import { validateMigrations, LIMITS_ORIGIN, type ValidateNodeDef, type ValidateOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackValidateNode(this: Node, def: ValidateNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<ValidateOptions>(def as unknown as Record<string, unknown>, validateMigrations);
    const schema = loadNodeSchema(RED, node, config);
    if (!schema.ok) {
      // Messages still arriving fail visibly (Catch nodes see them); their journal entries stay
      // unsettled and replay once the schema is fixed and the runtime restarts.
      onInput(node, (_msg, _send, done) => done(schema.error));
      return;
    }
    const validate = schema.validate;
    const status = throttledStatus(node);
    let valid = 0;
    let invalid = 0;
    const invalidTally = invalidTotal.child('validate');
    const limits = resolveLimits(
      { maxFields: config.maxFields, maxStringLength: config.maxStringLength, maxReadings: config.maxReadings },
      (err) => node.warn(RED._('upperstack-validate.errors.limit', { message: err.message })),
    );
    limits.origin = LIMITS_ORIGIN;

    onInput(node, (msg, send, done) => {
      const readings = readingsOf(msg);
      if (!readings) return done(new InvalidReadingError('msg.payload must be a Reading {device, ts, fields, tags} or an array of them; put a decode node before validate'));
      if (readings.length > limits.maxReadings) {
        const err = tooManyReadings(limits, { count: readings.length });
        invalid += readings.length;
        return routeResult(node as unknown as { wires?: string[][] }, msg, send, done, null, [{ msg: { ...msg, error: err.toJSON() }, error: err }]);
      }
      // The readings that pass are listed only once one has failed: the common case passes msg on as it is.
      let good: Reading[] | undefined;
      const bad: Failure[] = [];
      const batch = Array.isArray(msg.payload);
      // Judged from when the message came in (a replay meets the same bound), else from now.
      const receivedAt = typeof msg.receivedAt === 'number' ? msg.receivedAt : Date.now();
      for (let i = 0; i < readings.length; i++) {
        // The limits (and non-finite fields) first: they bound what the schema (and its error messages) would walk.
        let error: UpperstackError | undefined = checkReadingLimits(readings[i], limits);
        // The reading's place in the batch is spelled out only for the error.
        if (error && batch) error = checkReadingLimits(readings[i], limits, `[${i}]`);
        if (!error) {
          error = checkReadingTime(readings[i], receivedAt);
          if (error && batch) error = checkReadingTime(readings[i], receivedAt, `[${i}]`);
        }
        if (!error) {
          const r = validate(readings[i]);
          if (!r.ok) error = r.error;
        }
        if (!error) good?.push(readings[i]);
        else {
          good ??= readings.slice(0, i);
          const described = batch ? { ...error.toJSON(), index: i } : error.toJSON();
          bad.push({ msg: { ...msg, _msgid: RED.util.generateId(), device: readings[i].device, payload: readings[i], error: described }, error });
        }
      }
      const passed = good?.length ?? readings.length;
      valid += passed;
      invalid += bad.length;
      invalidTally.inc(bad.length);
      status(invalid ? 'warning' : 'connected', () => RED._('upperstack-validate.status.counts', { valid, invalid }));
      // The common case passes the message on untouched.
      const out = good === undefined ? msg : passed ? { ...msg, payload: Array.isArray(msg.payload) ? good : good[0] } : null;
      routeResult(node as unknown as { wires?: string[][] }, msg, send, done, out, bad);
    });
  }

  registerNode(RED, 'upperstack-validate', UpperstackValidateNode);
};
