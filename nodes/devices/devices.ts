/**
 * upperstack-devices: the device registry of the runtime, as a config node.
 * Its devices (id, secret as a scrypt hash, enabled, tags, signing) live in
 * tables of the chosen store's DuckDB; the broker and the HTTP and CoAP inputs
 * check every connection and request against it. Devices are managed in this
 * node's editor table, with the admin API (/api/v1/devices) or the CLI
 * (`upperstack devices ...`), never in the flow file: a secret is shown once.
 * One per runtime.
 */
import type { NodeAPI } from 'node-red';
import { join } from 'node:path';
import { describeError } from '../lib/errors';
import { DeviceRegistry } from '../lib/devices/registry';
import { loadOrCreateKey } from '../lib/devices/secret';
import { DeviceAuth } from '../lib/security/device-auth';
import { auditLogFor } from '../lib/audit/audit';
import { onClose } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { dataDir } from '../shared/runtime';
import { deployedDevices, devicesChanging, requireAuthFromEnv, setKeySource, trafficFor, useDevices } from '../shared/devices';
import { onFlowsStarted } from '../shared/deploy-events';
import { apiKeyInForce } from '../shared/http';
import { addDeviceRoutes } from '../shared/devices-routes';
import { checkAnyApiKey, keyMasks, keySeesDevice } from '../shared/keys';
import { ownTopics } from '../shared/own-topics';
import { addGrantRoutes } from '../shared/market-routes';
import { createMarket, endSubscriptionsOnExpiry } from '../shared/market';
import type { StoreConfigNode } from '../store-config/options';
import { devicesMigrations, type DevicesNode, type DevicesNodeDef, type DevicesOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackDevicesNode(this: DevicesNode, def: DevicesNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<DevicesOptions>(def as unknown as Record<string, unknown>, devicesMigrations);
    addDeviceRoutes(RED);
    addGrantRoutes(RED);
    setKeySource(() => apiKeyInForce(RED));
    const other = deployedDevices();
    if (other) {
      // Named as port-holders.ts names the node holding a port, so the user knows which of the two to delete.
      node.error(RED._('upperstack-devices.errors.twice', { holder: other.label ?? 'another devices node' }));
      return;
    }
    const storeNode = config.store ? (RED.nodes.getNode(config.store) as StoreConfigNode | null) : null;
    const backend = storeNode?.store?.registry?.();
    if (!storeNode || !backend) {
      if (storeNode?.failure) node.error(RED._('upperstack-devices.errors.storeFailed'));
      else node.error(RED._(storeNode ? 'upperstack-devices.errors.noTables' : 'upperstack-devices.errors.noStore'));
      return;
    }
    const dir = dataDir(RED);
    let sealKey: Buffer;
    try {
      sealKey = loadOrCreateKey(join(dir, 'upperstack-registry.key'));
    } catch (err) {
      node.error(describeError(err).message);
      return;
    }
    const audit = auditLogFor(dir, { onError: (err) => node.warn(RED._('upperstack-devices.errors.audit', { message: err.message })) });
    const registry = new DeviceRegistry(backend, { checkDigits: config.checkDigits, sealKey });
    const market = createMarket(registry, backend);
    const auth = new DeviceAuth({
      registry,
      // The settings' key and the stored keys (their scopes decide what each delivery may carry).
      keys: checkAnyApiKey,
      keySees: keySeesDevice,
      // Sensitive fields masked in MQTT deliveries to keys that may not see them.
      keyMasks,
      ownTopic: (topic) => ownTopics.match(topic),
      requireAuth: config.requireAuth || requireAuthFromEnv(),
      traffic: trafficFor(registry, { perDevice: config.perDevice, perAddress: config.perAddress }),
      audit: (entry, refusal) => (refusal ? audit.refusal(entry) : audit.record(entry)),
      market,
    });
    const stopMarket = endSubscriptionsOnExpiry(market, auth, audit);
    const release = useDevices({ owner: node, label: `devices node "${config.name || node.type}" (${node.id})`, auth, registry, audit, store: storeNode.store, market });
    Promise.all([registry.open(), market.open()]).then(
      // A string count: a number makes i18next look for plural forms (ours have none) through
      // Intl.PluralRules, which maps ~1.6 MB of ICU data into a runtime that is otherwise idle.
      () => node.log(RED._('upperstack-devices.log.loaded', { count: String(registry.size) })),
      (err: unknown) => node.error(RED._('upperstack-devices.errors.load', { message: describeError(err).message })),
    );
    onClose(node, (removed) => {
      // Wills are judged by the registry in force once the deploy is over (another devices node may take this
      // one's place in it), never by the moment between: marked before the release, so what it starts waits.
      onFlowsStarted(RED, devicesChanging(), true);
      // Deployed anew or stopping: nothing is judged for this one; removed: by the rules after the deploy.
      release(!removed);
      stopMarket();
      market.close();
      auth.close();
    });
  }

  registerNode(RED, 'upperstack-devices', UpperstackDevicesNode);
};
