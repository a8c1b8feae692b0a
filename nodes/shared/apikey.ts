/**
 * The key of the HTTP API, as the deployed upperstack-api node has it, so
 * routes added by other nodes (reports, invoices) accept the same key.
 */
import type { NodeAPI } from 'node-red';
import { upperstackSettings } from './runtime';

let deployed: string | undefined;

/** Called by the API node on deploy (its key) and close (undefined). */
export function setDeployedApiKey(key: string | undefined): void {
  deployed = key || undefined;
}

/** The API node's key, else the upperstack.apiKey setting, else UPPERSTACK_API_KEY; '' when none. */
export function apiKeyOf(RED: NodeAPI): string {
  return deployed || upperstackSettings(RED).apiKey || process.env.UPPERSTACK_API_KEY || '';
}
