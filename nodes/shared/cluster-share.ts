/**
 * What every member of a cluster group shares through the cluster broker
 * (nodes/lib/cluster/shared.ts, docs/scaling.md): the alert rules of the
 * runtime's rule store and the records of its device registry. Started by the
 * partition node, the one node every cluster member runs.
 */
import type { NodeAPI } from 'node-red';
import type { IClientOptions } from 'mqtt';
import { SharedDocs, type SharedSide } from '../lib/cluster/shared';
import { RuleInvalidError } from '../lib/errors';
import { validateRule } from '../lib/rules/validate';
import type { Rule } from '../lib/rules/types';
import { checkDeviceRecord, type DeviceRegistry } from '../lib/devices/registry';
import type { DeviceRecord } from '../lib/devices/types';
import { serviceFor } from './alerts';
import { deployedDevices, onDevicesChange } from './devices';

export interface ClusterShareOptions {
  broker: string;
  connect?: IClientOptions;
  group: string;
  member: string;
}

export interface ClusterShare {
  /** Resolves once the cluster's rules are in this member's rule store (and its devices in the registry, when one is deployed). */
  ready: Promise<void>;
  stop(): Promise<void>;
}

function checkRule(key: string, doc: unknown): Rule {
  const rule = validateRule(doc);
  if (rule.id !== key) throw new RuleInvalidError(`/id "${rule.id}" differs from the shared rule's key ("${key}")`, { pointer: '/id' });
  return rule;
}

export function shareWithCluster(RED: NodeAPI, o: ClusterShareOptions, warn: (err: Error) => void): ClusterShare {
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
  let attached: { registry: DeviceRegistry; side: SharedSide<DeviceRecord>; stop: () => void } | undefined;
  const attachDevices = (registry: DeviceRegistry | undefined): Promise<void> => {
    if (attached?.registry === registry) return Promise.resolve();
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
    if (!stopped) attachDevices(rt?.registry).catch(warn);
  });

  const ready = (async () => {
    await Promise.all([rules.start(), devices.start()]);
    await rules.attach(ruleSide);
    await attachDevices(deployedDevices()?.registry);
  })();

  return {
    ready,
    async stop() {
      stopped = true;
      stopRules();
      stopDevices();
      attached?.stop();
      attached = undefined;
      await Promise.all([rules.stop(), devices.stop()]);
    },
  };
}
