import { readFile } from 'node:fs/promises';

/*
 * Loads trust material named in the configuration: a local path, a `file://` URL or an `https://`
 * URL (fetched once at startup with a timeout). Plain `http://` is refused: trust anchors must not be
 * fetched over an unauthenticated channel.
 */
export async function loadUri(uri: string, what: string): Promise<Buffer> {
  if (uri.startsWith('http://'))
    throw new Error(`${what}: ${uri} uses plain http; use https or a local file`);
  if (uri.startsWith('https://')) {
    const res = await fetch(uri, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`${what}: GET ${uri} answered ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
  const path = uri.startsWith('file://') ? new URL(uri).pathname : uri;
  try {
    return await readFile(path);
  } catch (e) {
    throw new Error(
      `${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
