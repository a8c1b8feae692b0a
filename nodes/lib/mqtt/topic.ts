/**
 * Topic templates such as `devices/{device}/telemetry`: the subscription filter
 * they stand for, and the device a concrete topic names.
 */
import { BadTopicError, ConfigError } from '../errors';

export interface TopicTemplate {
  /** MQTT filter, e.g. `devices/+/telemetry`. */
  filter: string;
  /** Device of a matching topic; throws BadTopicError when the topic cannot name one. */
  deviceOf(topic: string): string | undefined;
  matches(topic: string): boolean;
}

export function parseTopicTemplate(template: string): TopicTemplate {
  const t = template.trim();
  if (!t) throw new ConfigError('the topic is empty');
  const levels = t.split('/');
  let deviceLevel = -1;
  const filterLevels = levels.map((level, i) => {
    if (level === '{device}') {
      if (deviceLevel >= 0) throw new ConfigError(`topic "${t}" names {device} twice`);
      deviceLevel = i;
      return '+';
    }
    if (/[{}]/.test(level)) throw new ConfigError(`topic level "${level}" in "${t}": only a whole level can be {device}`);
    if (level === '#' && i !== levels.length - 1) throw new ConfigError(`"#" must be the last level of "${t}"`);
    if (level.includes('#') && level !== '#') throw new ConfigError(`"#" must stand alone in a level of "${t}"`);
    if (level.includes('+') && level !== '+') throw new ConfigError(`"+" must stand alone in a level of "${t}"`);
    return level;
  });
  const filter = filterLevels.join('/');
  return {
    filter,
    matches: (topic) => topicMatches(filter, topic),
    deviceOf(topic) {
      if (deviceLevel < 0) return undefined;
      // Runs for every message: the level is found and checked without splitting the topic.
      let start = 0;
      for (let i = 0; i < deviceLevel && start >= 0; i++) {
        const slash = topic.indexOf('/', start);
        start = slash < 0 ? -1 : slash + 1;
      }
      let end = start < 0 ? -1 : topic.indexOf('/', start);
      if (end < 0) end = topic.length;
      if (start < 0 || end === start) throw new BadTopicError(`topic "${topic}" has no device at level ${deviceLevel + 1}`, { topic });
      // MQTT topics are UTF-8; bytes that were not arrive as U+FFFD from the packet parser. A length or characters a
      // device id may not have are the id rule's to refuse (BAD_DEVICE_ID, as HTTP answers), not the topic's.
      const replaced = topic.indexOf('\uFFFD', start);
      if (replaced >= 0 && replaced < end) {
        throw new BadTopicError(`the device segment of topic "${topic.slice(0, 200)}" is not valid UTF-8`, { topic: topic.slice(0, 200) });
      }
      return topic.slice(start, end);
    },
  };
}

/** Whether a topic holds a wildcard level ("+", "#"): a subscription's filter, which MQTT never allows a publish to use. */
export function isTopicFilter(topic: string): boolean {
  return /(?:^|\/)[+#](?:\/|$)/.test(topic);
}

// Filters are few and long-lived (one per subscription); topics are new on every message.
const filterLevels = new Map<string, string[]>();

function levelsOf(filter: string): string[] {
  let levels = filterLevels.get(filter);
  if (!levels) {
    const f = filter.startsWith('$share/') ? filter.split('/').slice(2).join('/') : filter;
    levels = f.split('/');
    if (filterLevels.size > 10_000) filterLevels.clear();
    filterLevels.set(filter, levels);
  }
  return levels;
}

/** MQTT filter matching without splitting the topic (it runs for every publish on the broker). */
export function topicMatches(filter: string, topic: string): boolean {
  const fl = levelsOf(filter);
  let start = 0;
  for (let i = 0; i < fl.length; i++) {
    const level = fl[i];
    if (level === '#') return !(i === 0 && topic.startsWith('$'));
    if (start > topic.length) return false;
    let end = topic.indexOf('/', start);
    if (end < 0) end = topic.length;
    if (level === '+') {
      if (i === 0 && topic.startsWith('$')) return false;
    } else if (end - start !== level.length || !topic.startsWith(level, start)) {
      return false;
    }
    start = end + 1;
  }
  return start === topic.length + 1;
}
