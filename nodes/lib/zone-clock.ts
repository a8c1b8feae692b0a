/**
 * Times as invoices and reports print them: on the clock of their time zone (a Berlin customer's October runs
 * from 1 October 00:00 Berlin time, and a reading at 23:30 UTC on the 4th was taken on the 5th there), with
 * the zone named once by the names its times were in: "times in Europe/Berlin (CET/CEST)". The files for
 * programs (JSON, CSV, the ledger) keep instants with their offsets; only the printed text is local.
 */
import { clockTime, localText, luxon } from './report/period';
import { zoneAbbreviation } from './zone-name';

export class ZoneClock {
  /** Short names of the zone at the times printed, with their UTC offset in minutes. */
  private readonly names = new Map<string, number>();

  constructor(readonly zone: string) {}

  /**
   * "2026-10-05 06:00" (or in `format`, e.g. with seconds); a time the clock shows twice (the hour the clocks
   * go back) carries the zone's name, "2026-10-25 02:30 CEST", so the two can be told apart.
   */
  time(ms: number, format = 'yyyy-LL-dd HH:mm'): string {
    this.remember(ms);
    return clockTime(ms, this.zone, format);
  }

  /** "2026-11-01": a date on the zone's calendar. */
  date(ms: number): string {
    return localText(ms, this.zone, 'yyyy-LL-dd');
  }

  /** "times in Europe/Berlin (CET/CEST)", the names in the order of their offsets; "times in UTC". */
  note(): string {
    const names = [...this.names].sort((a, b) => a[1] - b[1]).map(([n]) => n);
    return names.length === 0 || (names.length === 1 && names[0] === this.zone) ? `times in ${this.zone}` : `times in ${this.zone} (${names.join('/')})`;
  }

  private remember(ms: number): void {
    const name = zoneAbbreviation(ms, this.zone);
    if (!this.names.has(name)) this.names.set(name, luxon().DateTime.fromMillis(ms, { zone: this.zone }).offset);
  }
}
