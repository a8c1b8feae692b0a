/** The alert service lives in nodes/shared/alerts.ts, where the dashboard's alert list reaches it too. */
export { AlertService, serviceFor, type AttachedEngine } from '../shared/alerts';
