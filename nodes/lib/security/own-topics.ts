/**
 * Where Upperstack publishes its own messages on the embedded broker as they
 * are configured: dead letters (`<prefix>/{device}` of each dead-letter node),
 * alerts (`<prefix>/{device}` of each alert node) and notifications (the alert
 * node's MQTT topic template, with {device}, {rule}, {severity}, {event}).
 * MQTT masking (mqtt-masking.ts) and the device scopes of API keys
 * (device-auth.ts) ask here what a delivery is and whose, so a configured topic
 * is treated as the default one is. The default topics (`upperstack/…`) are
 * known to them without this.
 */

export type OwnKind = 'deadletter' | 'alert';

export interface OwnTopicMatch {
  kind: OwnKind;
  /** The device level of the topic ({device}), when the template has one. */
  device?: string;
}

interface Entry {
  kind: OwnKind;
  re: RegExp;
  deviceGroup: number;
}

const PLACEHOLDER = /\{(device|rule|severity|event)\}/g;

/** A template as a matcher of whole topics: each placeholder stands for the characters of one level. */
function compile(kind: OwnKind, template: string): Entry | undefined {
  if (!template || template.includes('+') || template.includes('#')) return undefined;
  let source = '';
  let group = 0;
  let deviceGroup = 0;
  let last = 0;
  for (const m of template.matchAll(PLACEHOLDER)) {
    source += escape(template.slice(last, m.index));
    group++;
    if (m[1] === 'device' && !deviceGroup) deviceGroup = group;
    source += '([^/]*)';
    last = m.index! + m[0].length;
  }
  source += escape(template.slice(last));
  return { kind, re: new RegExp(`^${source}$`), deviceGroup };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export class OwnTopics {
  private readonly entries = new Map<number, Entry>();
  private next = 0;

  /** Adds a topic template of `kind`; the returned function takes it away again (the node that publishes is gone). */
  add(kind: OwnKind, template: string): () => void {
    const e = compile(kind, template.trim());
    if (!e) return () => undefined;
    const id = this.next++;
    this.entries.set(id, e);
    return () => void this.entries.delete(id);
  }

  /** What `topic` is, if one of the configured templates matches it. */
  match(topic: string): OwnTopicMatch | undefined {
    for (const e of this.entries.values()) {
      const m = e.re.exec(topic);
      if (m) return e.deviceGroup ? { kind: e.kind, device: m[e.deviceGroup] } : { kind: e.kind };
    }
    return undefined;
  }
}
