/**
 * Whether the broker delivers to shared subscriptions at all. nats-server's MQTT listener grants a
 * SUBSCRIBE to `$share/<group>/<topic>` and then delivers nothing to it (it takes the filter for a topic),
 * so an input with a Shared group would show green and receive nothing while the broker acknowledges and
 * drops what devices send. A message of the connection's own, published to a topic only it uses and read
 * back through a shared subscription of the same group, tells: it comes back, or the broker has no shared
 * subscriptions.
 *
 * The same message is first read back through a plain subscription. A broker whose ACL gives this login
 * only the devices' topics drops the probe either way (mosquitto grants the SUBSCRIBE and, over MQTT 3.1.1,
 * acknowledges the PUBLISH it does not deliver): without the plain step that looked like a broker without
 * shared subscriptions and turned inputs red that work. When the plain step does not come back the probe
 * gives no verdict.
 */
import type { MqttClient } from 'mqtt';

interface Pending {
  client: MqttClient;
  /** The subscription of the current step: the plain topic, then the shared filter. */
  filter: string;
  step: 'plain' | 'shared';
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
    this.shared = shared;
    this.step(client, 'plain', this.topic);
  }

  /** Whether a message is the probe's own (the caller acknowledges it and passes it to no input). */
  take(topic: string): boolean {
    if (topic !== this.topic) return false;
    const p = this.pending;
    // A copy that comes late (after its step gave up, or twice) is still the probe's: no input gets it.
    if (p === undefined) return true;
    this.end();
    if (p.step === 'plain') {
      const group = this.shared.split('/')[1];
      this.step(p.client, 'shared', `$share/${group}/${this.topic}`);
    } else {
      this.result(true, this.shared, this.topic);
    }
    return true;
  }

  /** Gives the probe up (the connection closed): it starts again at the next connect. */
  stop(): void {
    if (!this.pending) return;
    clearTimeout(this.pending.timer);
    this.pending = undefined;
  }

  private step(client: MqttClient, step: Pending['step'], filter: string): void {
    const timer = setTimeout(() => {
      if (this.pending?.timer !== timer) return;
      this.end();
      // Only the shared step's silence is a verdict: the plain one's means the broker keeps this topic from us.
      if (step === 'shared') this.result(false, this.shared, this.topic);
    }, this.waitMs);
    const p: Pending = { client, filter, step, timer };
    this.pending = p;
    // Refused outright (a SUBACK failure code, or over MQTT 5 a PUBACK error): no verdict either.
    const refused = (): void => {
      if (this.pending === p) this.end();
    };
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      if (this.pending !== p) return;
      if (err || (granted ?? []).some((g) => g.qos >= 0x80)) return refused();
      client.publish(this.topic, 'probe', { qos: 1 }, (perr) => {
        if (perr) refused();
      });
    });
  }

  private end(): void {
    const p = this.pending;
    if (!p) return;
    clearTimeout(p.timer);
    this.pending = undefined;
    if (p.client.connected) p.client.unsubscribe(p.filter);
  }
}
