/**
 * The dead-letter, alert and notification topics of the deployed nodes: each
 * dead-letter and alert node adds its own when it starts and takes them away
 * when it closes, so MQTT masking and the device scopes of API keys follow the
 * topics the flows configure (nodes/lib/security/own-topics.ts).
 */
import { OwnTopics } from '../lib/security/own-topics';

export const ownTopics = new OwnTopics();
