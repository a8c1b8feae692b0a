/** Options of upperstack-alert, shared by the runtime and the editor. */
import type { NodeDef } from 'node-red';
import type { Migration } from '../shared/config';

export interface AlertOptions {
  name: string;
  /** Store config: transitions become rows there, and the rule preview replays its history. */
  store: string;
  /** Embedded broker for upperstack/alerts/{device}; '' = the only one. */
  broker: string;
  /** Topic prefix of every transition; the device is the last level. */
  topic: string;
  emailEnabled: boolean;
  smtpHost: string;
  smtpPort: number;
  smtpSecure: boolean;
  emailFrom: string;
  /** Recipients, separated by commas. */
  emailTo: string;
  webhookEnabled: boolean;
  webhookUrl: string;
  webhookAttempts: number;
  mqttEnabled: boolean;
  /** '' = the embedded broker; else mqtt://, mqtts://, ws://, wss:// of another broker. */
  mqttUrl: string;
  mqttTopic: string;
  configVersion: number;
}

export interface AlertNodeDef extends NodeDef, AlertOptions {}

export interface AlertCredentials {
  smtpUser?: string;
  smtpPassword?: string;
  webhookToken?: string;
  mqttUsername?: string;
  mqttPassword?: string;
}

export const ALERT_DEFAULTS: Omit<AlertOptions, 'name' | 'configVersion'> = {
  store: '',
  broker: '',
  topic: 'upperstack/alerts',
  emailEnabled: false,
  smtpHost: '',
  smtpPort: 587,
  smtpSecure: false,
  emailFrom: '',
  emailTo: '',
  webhookEnabled: false,
  webhookUrl: '',
  webhookAttempts: 5,
  mqttEnabled: false,
  mqttUrl: '',
  mqttTopic: 'upperstack/notifications/{device}',
};

export const alertMigrations: ReadonlyArray<Migration<AlertOptions>> = [
  // v0 (no version: hand-written or imported flows) → v1: every option present, numbers and booleans typed.
  (old) => {
    const out: Record<string, unknown> = { name: '', ...ALERT_DEFAULTS, ...old };
    for (const k of ['smtpPort', 'webhookAttempts'] as const) out[k] = Number(out[k]) || ALERT_DEFAULTS[k];
    for (const k of ['emailEnabled', 'smtpSecure', 'webhookEnabled', 'mqttEnabled'] as const) out[k] = out[k] === true || out[k] === 'true';
    return out as Record<string, unknown> & Partial<AlertOptions>;
  },
];

export function recipients(text: string): string[] {
  return text
    .split(/[,;\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);
}
