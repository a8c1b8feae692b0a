/** The parts of qlobber (no bundled types) the broker's persistence uses. */
declare module 'qlobber' {
  export interface QlobberOptions {
    separator?: string;
    wildcard_one?: string;
    wildcard_some?: string;
    match_empty_levels?: boolean;
  }
  export class QlobberTrue {
    constructor(options?: QlobberOptions);
    add(topic: string): this;
    test(topic: string): boolean;
  }
}

declare module 'qlobber/aedes/qlobber-sub' {
  import type { QlobberOptions } from 'qlobber';
  export interface SubEntry {
    clientId: string;
    topic: string;
    qos: number;
    rh?: number;
    rap?: boolean;
    nl?: boolean;
  }
  class QlobberSub {
    constructor(options?: QlobberOptions);
    subscriptionsCount: number;
    add(topic: string, val: SubEntry): this;
    remove(topic: string, val: { clientId: string; topic: string }): this;
    match(topic: string): SubEntry[];
  }
  export = QlobberSub;
}
