/**
 * Whether the broker delivers to shared subscriptions at all. nats-server's MQTT listener grants a
 * SUBSCRIBE to `$share/<group>/<topic>` and then delivers nothing to it (it takes the filter for a topic),
 * so an input with a Shared group would show green and receive nothing while the broker acknowledges and
 * drops what devices send. A message of the connection's own, published to a topic only it uses and read
 * back through a shared subscription of the same group, tells: it comes back, or the broker has no shared
 * subscriptions.
 */
import type { MqttClient } from 'mqtt';

interface Pending {
  client: MqttClient;
  topic: string;
  filter: string;
  timer: NodeJS.Timeout;
}

export class SharedProbe {
  private pending: Pending | undefined;
  private readonly topic: string;
  /** The input's filter whose group is being probed. */
  private shared = '';

  constructor(
    clientId: string,
    private readonly waitMs: number,
    private readonly result: (delivered: boolean, shared: string, topic: string) => void,
  ) {
    // A client id may hold characters that are wildcards or separators in a topic.
    this.topic = `upperstack/share-probe/${clientId.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  }

  /** Probes the group of `shared` (a `$share/<group>/...` filter) on `client`, unless a probe is under way. */
  start(client: MqttClient, shared: string): void {
    if (this.pending) return;
    const group = shared.split('/')[1];
    const filter = `$share/${group}/${this.topic}`;
    const timer = setTimeout(() => {
      if (this.pending?.timer !== timer) return;
      this.end();
      this.result(false, shared, this.topic);
    }, this.waitMs);
    this.pending = { client, topic: this.topic, filter, timer };
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (!err && this.pending?.timer === timer) client.publish(this.topic, 'probe', { qos: 1 });
    });
    this.shared = shared;
  }

  /** Whether a message is the probe's own (the caller acknowledges it and passes it to no input). */
  take(topic: string): boolean {
    if (this.pending === undefined || topic !== this.pending.topic) return false;
    this.end();
    this.result(true, this.shared, this.topic);
    return true;
  }

  /** Gives the probe up (the connection closed): it starts again at the next connect. */
  stop(): void {
    if (!this.pending) return;
    clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private end(): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    if (p.client.connected) p.client.unsubscribe(p.filter);
  }
}
