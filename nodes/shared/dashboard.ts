/**
 * Who is connected to the dashboard: the login guard of `npm start`'s settings
 * (nodes/lib/security/basic-auth.ts, as Dashboard 2's `ioMiddleware`) records
 * the user of each socket, and nodes that act for a person (acknowledging an
 * alert) look the user up by `msg._client.socketId`. In a Node-RED without
 * that guard nobody is recorded and such nodes act as "dashboard".
 */
export interface DashboardUser {
  username: string;
  /** Node-RED permissions: '*' or a list such as ['upperstack-alert.read', 'upperstack-alert.ack']. */
  permissions: string | readonly string[];
}

const bySocket = new Map<string, DashboardUser>();

export function rememberDashboardUser(socketId: string, user: DashboardUser): () => void {
  bySocket.set(socketId, user);
  return () => {
    if (bySocket.get(socketId) === user) bySocket.delete(socketId);
  };
}

export function dashboardUser(msg: object): DashboardUser | undefined {
  const c = (msg as { _client?: { socketId?: unknown } })._client;
  return typeof c?.socketId === 'string' ? bySocket.get(c.socketId) : undefined;
}

export function mayDo(user: DashboardUser, permission: string): boolean {
  return user.permissions === '*' || (Array.isArray(user.permissions) && (user.permissions.includes('*') || user.permissions.includes(permission)));
}
