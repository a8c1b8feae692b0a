/**
 * The MQTT 5 behaviour devices rely on, as test scenarios that run against any
 * broker: the embedded one (test/unit) and Debian's mosquitto (test/integration),
 * so a scenario that passes on mosquitto shows the test itself asks for what a
 * mature broker does. Modelled on the situations of the Eclipse Paho MQTT 5
 * interoperability tests (will, will delay, offline queueing, message expiry,
 * maximum packet size, flow control, shared subscriptions), each against a
 * fresh broker.
 */
import { scenarioKit, type ScenarioOptions, type StartTarget } from './mqtt5-kit';
import { willScenarios } from './mqtt5-scenarios-will';
import { sessionScenarios } from './mqtt5-scenarios-sessions';
import { limitScenarios } from './mqtt5-scenarios-limits';
import { sharedScenarios } from './mqtt5-scenarios-shared';

export type { BrokerUnderTest, ScenarioOptions, StartTarget, TargetOptions } from './mqtt5-kit';

export function defineScenarios(name: string, start: StartTarget, sopts: ScenarioOptions = {}): void {
  const k = scenarioKit(name, start, sopts);
  willScenarios(k);
  sessionScenarios(k);
  limitScenarios(k);
  sharedScenarios(k);
}

export type { RawPacket } from './mqtt-raw';
