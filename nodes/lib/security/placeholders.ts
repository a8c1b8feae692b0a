/**
 * Secrets left at the values `compose/.env.example` ships: they pass the compose file's "must be set" guards,
 * and the image listens on every interface, so anyone who read the example could log in.
 */
import { ConfigError } from '../errors';

/** The placeholders of compose/.env.example. */
export const SECRET_PLACEHOLDERS: readonly string[] = ['change-me', 'change-me-to-a-long-random-key'];

/** The environment variables that hold a secret the runtime itself checks. */
export const SECRET_VARIABLES: readonly string[] = ['UPPERSTACK_API_KEY', 'UPPERSTACK_ADMIN_PASSWORD', 'UPPERSTACK_MQTT_PASSWORD'];

/** Throws a ConfigError naming every secret still at a placeholder. */
export function refusePlaceholderSecrets(env: Record<string, string | undefined>): void {
  const placeholders = new Set(SECRET_PLACEHOLDERS);
  const left = SECRET_VARIABLES.filter((name) => placeholders.has((env[name] ?? '').trim().toLowerCase()));
  if (left.length) {
    throw new ConfigError(`${left.join(', ')} ${left.length === 1 ? 'is' : 'are'} still the example value from compose/.env.example: set ${left.length === 1 ? 'it' : 'each'} to a secret of your own (e.g. openssl rand -base64 24) and start again`);
  }
}
