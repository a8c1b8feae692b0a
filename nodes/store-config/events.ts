/** Log lines for what a store's writer reports (an outage starting and ending, readings refused). */
import type { NodeAPI } from 'node-red';
import type { WriterEvent } from '../lib/store/writer';

export function writerEventText(RED: Pick<NodeAPI, '_'>, e: WriterEvent): string {
  switch (e.type) {
    case 'spooling':
      return RED._('upperstack-store-config.events.spooling', { error: e.error });
    case 'recovered':
      return RED._('upperstack-store-config.events.recovered', { seconds: Math.round(e.downMs / 1000) });
    case 'rejected':
      return RED._('upperstack-store-config.events.rejected', { count: String(e.count), devices: e.devices.join(', '), codes: e.codes.join(', '), error: e.error });
    case 'budget':
      return RED._(`upperstack-store-config.events.${e.full ? 'budgetFull' : 'budgetRoom'}`, { mb: Math.round(e.bytes / 1048576), budget: Math.round(e.budget / 1048576) });
  }
}
