/**
 * At most `max` open connections per client address: one more is closed as
 * soon as it opens (before any byte is read), so a single client cannot hold
 * every socket the process can serve. Behind a reverse proxy every client
 * shares the proxy's address: turn this off there (MAX_CONNECTIONS_PER_CLIENT=0)
 * and let the proxy cap clients.
 */
import type { Server } from 'node:http';

export function capConnectionsPerClient(server: Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? 'unknown';
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
