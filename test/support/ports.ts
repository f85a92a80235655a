// A port of 127.0.0.1 where nothing listens, for the tests of an unreachable origin or
// gateway. Picking a free port and closing it again would leave it to any process that binds
// port 0 meanwhile; this one stays refused until it is released.
import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";

export interface ClosedPort {
  port: number;
  release(): Promise<void>;
}

/**
 * The local end of an open connection holds the port: connecting to it is refused, as at a
 * port nobody uses (no listening socket there), and no process can bind it while the
 * connection lasts (it is in use). The connection runs to a throwaway server of our own.
 */
export async function closedPort(): Promise<ClosedPort> {
  const accepted: Socket[] = [];
  const server = createServer((socket) => accepted.push(socket));
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port: serverPort } = server.address() as { port: number };
  const holder = connect(serverPort, "127.0.0.1");
  await once(holder, "connect");
  return {
    port: holder.localPort!,
    release: async () => {
      holder.destroy();
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
