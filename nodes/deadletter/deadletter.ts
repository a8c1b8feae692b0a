/**
 * upperstack-deadletter: records a failed message in the deadletters table and
 * publishes it on <topic>/<device>, then settles its journal entry. Bad input is
 * thus neither dropped silently nor redelivered forever.
 */
import type { Node, NodeAPI } from 'node-red';
import { consume } from '../shared/receipts';
import { installSettlement } from '../shared/settlement';
import { keepsForReplay, keptOf, toDeadLetter, topicLevel } from '../lib/deadletter';
import { replayFacts, type ReplayFacts } from '../lib/deadletter-replay';
import { deadLettered } from '../lib/metrics';
import { onClose, onInput } from '../shared/input';
import { ownTopics } from '../shared/own-topics';
import { migrate, registerNode } from '../shared/config';
import { setStatus, throttledStatus } from '../shared/status';
import { findBroker } from '../shared/runtime';
import type { StoreConfigNode } from '../store-config/options';
import { deadLetterMigrations, type DeadLetterNodeDef, type DeadLetterOptions } from './options';

/** The facts of a letter that keeps no message: how it came, without the bytes. */
function withoutBytes(facts: ReplayFacts): ReplayFacts {
  const { bytes: _bytes, ...rest } = facts;
  return rest;
}

export = function register(RED: NodeAPI): void {
  installSettlement(RED);
  function UpperstackDeadLetterNode(this: Node, def: DeadLetterNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<DeadLetterOptions>(def as unknown as Record<string, unknown>, deadLetterMigrations);
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as StoreConfigNode | null) : null;
    const status = throttledStatus(node);
    let count = 0;
    setStatus(node, 'idle', RED._('upperstack-deadletter.status.none'));
    // API keys that may not see sensitive fields get these letters without the payload, whatever the prefix.
    const forgetTopic = ownTopics.add('deadletter', `${config.topic || 'upperstack/deadletter'}/{device}`);
    onClose(node, () => forgetTopic());

    onInput(node, (msg, send, done) => {
      // Kept in the store with what a replay needs (an impostor's body not at all); published and passed on without the bytes.
      const failed = keptOf({ ...msg, error: msg.error ?? (msg as { _error?: unknown })._error });
      // A message a replay would only refuse the same way (an empty one, say) is not kept: its letter is not replayable.
      const letter = keepsForReplay(failed) ? { ...toDeadLetter(failed), ...replayFacts(failed) } : { ...toDeadLetter(failed), ...withoutBytes(replayFacts(failed)), replayable: false };
      const { bytes: _bytes, ...shown } = letter;
      const finish = (err?: Error) => {
        if (err) return done(err);
        const broker = findBroker(config.broker || undefined);
        const topic = `${config.topic || 'upperstack/deadletter'}/${topicLevel(letter.device)}`;
        const published = broker ? broker.publish(topic, Buffer.from(JSON.stringify(shown)), 0) : Promise.resolve();
        published
          .catch((e: Error) => node.warn(RED._('upperstack-deadletter.errors.publish', { topic, message: e.message })))
          .finally(() => {
            consume(msg);
            count++;
            deadLettered.child(letter.code).inc();
            status('warning', RED._('upperstack-deadletter.status.count', { count, reason: letter.reason.slice(0, 40) }));
            send({ ...msg, topic, payload: shown });
            done();
          });
      };
      if (storeNode?.writer) storeNode.writer.writeDeadLetters([letter], finish);
      else if (storeNode) finish(new Error(RED._('upperstack-deadletter.errors.badStore')));
      else finish();
    });
  }

  registerNode(RED, 'upperstack-deadletter', UpperstackDeadLetterNode);
};
