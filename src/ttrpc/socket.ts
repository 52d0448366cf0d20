import { lstat, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { TtrpcError } from './errors.js';

/*
 * Unix-socket address handling shared by the server and the client.
 */

/** sun_path is 108 bytes on Linux, including the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * `unix:///run/x.sock` → `/run/x.sock`. A bare absolute or relative path is accepted as is. Any other
 * scheme is refused with upstream's wording (cdh.md §1).
 */
export function parseUnixAddress(address: string): string {
  let path = address;
  if (address.startsWith('unix://')) path = address.slice('unix://'.length);
  else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(address)) {
    throw new TtrpcError('TTRPC_ADDRESS_INVALID', `socket address scheme is not expected: ${address}`);
  }
  checkSocketPath(path);
  return path;
}

export function checkSocketPath(path: string): void {
  if (path === '' || path.includes('\0')) {
    throw new TtrpcError('TTRPC_ADDRESS_INVALID', 'socket path is empty or contains NUL');
  }
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
    throw new TtrpcError(
      'TTRPC_ADDRESS_INVALID',
      `socket path is longer than ${MAX_SOCKET_PATH_BYTES} bytes (unix socket limit): ${path}`,
    );
  }
}

/** True when a server accepts connections on `path` right now. */
export function socketIsLive(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    const done = (live: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(live);
    };
    // A server too busy to accept within the timeout is still someone else's socket: live.
    const timer = setTimeout(() => done(true), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code !== 'ECONNREFUSED' && e.code !== 'ENOENT'));
  });
}

/**
 * Makes `path` free for bind(2): a stale socket file (nobody listening) is removed; a live socket, or
 * anything that is not a socket, is left alone and reported.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isSocket()) {
    throw new TtrpcError(
      'TTRPC_ADDRESS_IN_USE',
      `${path} exists and is not a socket; refusing to replace it (remove it or choose another path)`,
    );
  }
  if (await socketIsLive(path)) {
    throw new TtrpcError(
      'TTRPC_ADDRESS_IN_USE',
      `another server is listening on ${path}; stop it or choose another socket path`,
    );
  }
  try {
    await unlink(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
