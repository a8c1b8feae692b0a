/**
 * GET /metrics without a transport. Who may scrape is a setting: `key` (the
 * default) wants `Authorization: Bearer <token>` with the query API key or a
 * separate metrics token (so a Prometheus server need not hold a key that
 * reads data); `none` leaves the endpoint open, for a scraper on a private
 * network or behind a proxy that does the checking.
 */
import { bearerMatches } from '../security/apikey';
import { renderMetrics } from './registry';

export type MetricsAuth = 'key' | 'none';

export interface MetricsAccess {
  auth: MetricsAuth;
  /** Bearer tokens accepted when auth is `key`; empty ones are ignored. */
  tokens: string[];
}

export interface MetricsResponse {
  status: number;
  contentType: string;
  body: string;
  headers?: Record<string, string>;
}

/** Reads the metrics settings, with the environment as fallback; anything but `none` means `key`. */
export function metricsAccess(settings: { auth?: string; token?: string } | undefined, apiKey: string | undefined, env: NodeJS.ProcessEnv = process.env): MetricsAccess & { warning?: string } {
  const raw = (settings?.auth ?? env.UPPERSTACK_METRICS_AUTH ?? 'key').trim().toLowerCase();
  const token = settings?.token ?? env.UPPERSTACK_METRICS_TOKEN ?? '';
  const tokens = [apiKey ?? '', token].filter((t) => t.length > 0);
  if (raw === 'none') return { auth: 'none', tokens };
  const warning = raw === 'key' || raw === '' ? undefined : `UPPERSTACK_METRICS_AUTH must be "key" or "none", not "${raw}"; /metrics asks for a key`;
  return { auth: 'key', tokens, warning };
}

const json = (status: number, code: string, message: string, headers?: Record<string, string>): MetricsResponse => ({
  status,
  contentType: 'application/json',
  body: JSON.stringify({ error: { code, message } }),
  headers,
});

/** Never rejects. */
export async function handleMetrics(authorization: string | undefined, access: MetricsAccess): Promise<MetricsResponse> {
  if (access.auth === 'key') {
    if (access.tokens.length === 0) return json(401, 'UNAUTHORIZED', 'no API key or metrics token is configured: set UPPERSTACK_API_KEY or UPPERSTACK_METRICS_TOKEN, or UPPERSTACK_METRICS_AUTH=none');
    if (!access.tokens.some((t) => bearerMatches(authorization, t))) {
      return json(401, 'UNAUTHORIZED', 'a valid token is required: send "Authorization: Bearer <API key or metrics token>"', { 'WWW-Authenticate': 'Bearer' });
    }
  }
  try {
    const { contentType, body } = await renderMetrics();
    return { status: 200, contentType, body };
  } catch (err) {
    return json(500, 'INTERNAL', (err as Error).message);
  }
}
