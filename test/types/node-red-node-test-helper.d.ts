/** The parts of node-red-node-test-helper the tests use (it ships no types). */
declare module 'node-red-node-test-helper' {
  import type { Node } from 'node-red';
  interface Helper {
    init(nodeRedRuntime: string, userSettings?: Record<string, unknown>): void;
    settings(userSettings: Record<string, unknown>): Record<string, unknown>;
    load(nodes: unknown[] | unknown, flow: Array<Record<string, unknown>>, credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    getNode(id: string): Node | null;
    startServer(): Promise<void>;
    stopServer(): Promise<void>;
  }
  const helper: Helper;
  export = helper;
}
