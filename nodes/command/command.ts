/**
 * upperstack-command: sends a command to a device. It becomes the value CoAP
 * devices observe at `GET /commands/{device}` and is published to MQTT devices
 * on `devices/{device}/commands` (the embedded broker).
 */
import type { Node, NodeAPI } from 'node-red';
import { checkCommandDevice, checkCommandTopic, commandBoard, commandDevice, commandTopic } from '../lib/inputs/commands';
import { ConfigError, InvalidReadingError } from '../lib/errors';
import { onClose, onInput, refuseOnConfig } from '../shared/input';
import { migrate, registerNode } from '../shared/config';
import { setStatus } from '../shared/status';
import { brokerCount, findBroker } from '../shared/runtime';
import { commandMigrations, type CommandNodeDef, type CommandOptions } from './options';

export = function register(RED: NodeAPI): void {
  function UpperstackCommandNode(this: Node, def: CommandNodeDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const config = migrate<CommandOptions>(def as unknown as Record<string, unknown>, commandMigrations);
    let sent = 0;
    let last: string | undefined;
    const shown = (device: string, observers: number): void =>
      setStatus(node, 'connected', RED._('upperstack-command.status.sent', { count: sent, device, observers }));
    // Why no broker takes the command: the chosen one is not running, several run and none is chosen, or none runs.
    const noBroker = (): string => {
      if (config.broker) return RED._('upperstack-command.errors.brokerGone', { id: config.broker });
      const count = brokerCount();
      return count > 1 ? RED._('upperstack-command.errors.brokerNotChosen', { count }) : RED._('upperstack-command.errors.noBroker');
    };
    try {
      if (config.topic) checkCommandTopic(config.topic);
    } catch (err) {
      refuseOnConfig(node, err, (message) => RED._('upperstack-command.errors.config', { message }));
      return;
    }
    setStatus(node, 'idle', RED._('upperstack-command.status.none'));
    // The count of the last device's observers stays true after its command: observers come and go.
    const unwatch = commandBoard.watchObservers((device, observers) => {
      if (device === last) shown(device, observers);
    });
    onClose(node, unwatch);

    onInput(node, async (msg, send, done) => {
      const device = commandDevice(msg, config.topic || 'devices/{device}/commands');
      if (!device) return done(new InvalidReadingError('a command needs a device: set msg.device (or msg.topic devices/{device}/commands)', { path: 'device' }));
      // Everything that can refuse the command is checked before it is set: a refused command reaches no one.
      checkCommandDevice(device);
      const topic = config.topic ? commandTopic(config.topic, device) : undefined;
      const broker = topic === undefined ? undefined : findBroker(config.broker || undefined);
      if (topic !== undefined && !broker) return done(new ConfigError(noBroker()));
      const command = commandBoard.set(device, msg.payload);
      if (topic !== undefined && broker) {
        await broker.publish(topic, command.payload, config.qos);
        msg.topic = topic;
      }
      sent++;
      last = device;
      shown(device, commandBoard.observers(device));
      msg.device = device;
      send(msg);
      done();
    });
  }

  registerNode(RED, 'upperstack-command', UpperstackCommandNode);
};
