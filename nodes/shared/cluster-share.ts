/**
 * What every member of a cluster group shares through the cluster broker
 * (nodes/lib/cluster/shared.ts, docs/scaling.md): the alert rules of the
 * runtime's rule store and the records of its device registry. Started by the
 * partition node, the one node every cluster member runs.
 *
 * Signing devices' keys travel sealed under each member's registry key
 * (upperstack-registry.key), which never travels: every member needs the same
 * file. Members compare a fingerprint of it (never the key) through a shared
 * document; the first one published is the group's, and a member whose key
 * differs does not start (red status, /health failing, a message naming the
 * file) instead of failing each signed device's messages.
 */
import { join } from 'node:path';
import type { NodeAPI } from 'node-red';
import type { IClientOptions } from 'mqtt';
import { SharedDocs, type SharedSide } from '../lib/cluster/shared';
import { BadParameterError, ConfigError, RuleInvalidError } from '../lib/errors';
import { validateRule } from '../lib/rules/validate';
import type { Rule } from '../lib/rules/types';
import { checkDeviceRecord, type DeviceRegistry } from '../lib/devices/registry';
import type { DeviceRecord } from '../lib/devices/types';
import { serviceFor } from './alerts';
import { deployedDevices, onDevicesChange } from './devices';
import { dataDir } from './runtime';

export interface ClusterShareOptions {
  broker: string;
  connect?: IClientOptions;
  group: string;
  member: string;
}

export interface ClusterShare {
  /**
   * Resolves once the cluster's rules are in this member's rule store (and its devices in the registry, when one is deployed);
   * rejects with a ConfigError when this member's registry key is not the group's.
   */
  ready: Promise<void>;
  /** Why this member must not serve (its registry key differs from the group's), or undefined. */
  problem(): Error | undefined;
  stop(): Promise<void>;
}

function checkRule(key: string, doc: unknown): Rule {
  const rule = validateRule(doc);
  if (rule.id !== key) throw new RuleInvalidError(`/id "${rule.id}" differs from the shared rule's key ("${key}")`, { pointer: '/id' });
  return rule;
}

/** The shared document holding the group's registry key fingerprint. */
export const REGISTRY_KEY_DOC = 'registry';

interface RegistryKeyDoc {
  fingerprint: string;
}

function checkKeyDoc(key: string, doc: unknown): RegistryKeyDoc {
  const f = (doc as { fingerprint?: unknown } | null)?.fingerprint;
  if (key !== REGISTRY_KEY_DOC || typeof f !== 'string' || !/^[A-Za-z0-9_-]{16,64}$/.test(f)) throw new BadParameterError('registry-key', 'a registry key fingerprint (base64url)');
  return { fingerprint: f };
}

/**
 * `onProblem` is told when this member's registry key turns out to differ from
 * the group's (also after the start, when another member's key won a race).
 */
export function shareWithCluster(RED: NodeAPI, o: ClusterShareOptions, warn: (err: Error) => void, onProblem: (err: Error) => void = warn): ClusterShare {
  let stopped = false;
  const base = { broker: o.broker, connect: o.connect, group: o.group, member: o.member };

  const store = serviceFor(RED).rules;
  const rules = new SharedDocs<Rule>({ ...base, kind: 'rules', check: checkRule });
  rules.on('error', warn);
  const stopRules = store.onChange((c) => (c.type === 'upsert' ? rules.put(c.rule.id, c.rule) : rules.put(c.id, undefined)));
  const ruleSide: SharedSide<Rule> = {
    local: () => new Map(store.list().map((r) => [r.id, r])),
    apply: (id, rule) => store.applyShared(id, rule, { actor: `cluster member ${rules.version(id)?.member ?? '?'}`, via: 'cluster' }),
  };

  const devices = new SharedDocs<DeviceRecord>({ ...base, kind: 'devices', check: checkDeviceRecord });
  devices.on('error', warn);

  const keys = new SharedDocs<RegistryKeyDoc>({ ...base, kind: 'registry-key', check: checkKeyDoc });
  keys.on('error', warn);
  const keyFile = join(dataDir(RED), 'upperstack-registry.key');
  let problem: Error | undefined;
  /** Publishes this member's fingerprint when the group has none yet; an error when the group's differs. */
  const keyMismatch = (registry: DeviceRegistry): Error | undefined => {
    const mine = registry.keyFingerprint();
    const group = keys.docs().get(REGISTRY_KEY_DOC);
    if (!group) {
      keys.put(REGISTRY_KEY_DOC, { fingerprint: mine });
      return undefined;
    }
    if (group.fingerprint === mine) return undefined;
    const by = keys.version(REGISTRY_KEY_DOC)?.member ?? '?';
    return new ConfigError(
      `this member's device registry key (${keyFile}, fingerprint ${mine}) is not the one cluster group "${o.group}" uses (fingerprint ${group.fingerprint}, published by member "${by}"): ` +
        `keys of signing devices sealed on other members cannot be opened here. Copy upperstack-registry.key from another member's data folder to ${keyFile} and restart this member.`,
      { setting: keyFile, fingerprint: mine, group: group.fingerprint },
    );
  };
  keys.on('applied', () => {
    const registry = attached?.registry ?? deployedDevices()?.registry;
    const err = registry && !problem ? keyMismatch(registry) : undefined;
    if (err) {
      problem = err;
      onProblem(err);
    }
  });

  let attached: { registry: DeviceRegistry; side: SharedSide<DeviceRecord>; stop: () => void } | undefined;
  const attachDevices = (registry: DeviceRegistry | undefined): Promise<void> => {
    if (attached?.registry === registry) return Promise.resolve();
    if (registry && !problem) problem = keyMismatch(registry);
    if (problem) {
      onProblem(problem);
      return Promise.reject(problem);
    }
    if (attached) {
      devices.detach(attached.side);
      attached.stop();
      attached = undefined;
    }
    if (!registry) return Promise.resolve();
    const side: SharedSide<DeviceRecord> = {
      local: async () => {
        await registry.open();
        return new Map(registry.records().map((d) => [d.id, d]));
      },
      apply: (id, record) => registry.applyShared(id, record),
    };
    const stop = registry.onChange((id) => devices.put(id, registry.get(id)));
    attached = { registry, side, stop };
    return devices.attach(side);
  };
  const stopDevices = onDevicesChange((rt) => {
    // A key that differs has been reported through onProblem already.
    if (!stopped) attachDevices(rt?.registry).catch((err: unknown) => err !== problem && warn(err as Error));
  });

  const ready = (async () => {
    await Promise.all([rules.start(), devices.start(), keys.start()]);
    // Attached so that a fingerprint published later (another member's, in a race) is seen ('applied').
    await keys.attach({ local: () => new Map(), apply: () => undefined });
    await rules.attach(ruleSide);
    await attachDevices(deployedDevices()?.registry);
  })();

  return {
    ready,
    problem: () => problem,
    async stop() {
      stopped = true;
      stopRules();
      stopDevices();
      attached?.stop();
      attached = undefined;
      await Promise.all([rules.stop(), devices.stop(), keys.stop()]);
    },
  };
}
