import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

/*
 * Builds test/fixtures/ttrpc-go (a ttRPC client on containerd's Go library) offline, in GOPATH mode,
 * against Debian's packaged sources (golang-go, golang-github-containerd-ttrpc-dev). The binary is
 * cached by a hash of the sources and the Go version, so it builds once per machine.
 */

const GO_PATH = '/usr/share/gocode';
const sourceDir = join(repoRoot, 'test', 'fixtures', 'ttrpc-go');

let building: Promise<string> | undefined;

/** Path of the built `ttrpc-go-client`. Throws a clear error when Go or the ttrpc sources are missing. */
export function buildGoTtrpcClient(): Promise<string> {
  building ??= build().catch((e) => {
    building = undefined; // let a later call retry
    throw e;
  });
  return building;
}

async function build(): Promise<string> {
  const version = spawnSync('go', ['version'], { encoding: 'utf8', timeout: 30_000 });
  if (version.error || version.status !== 0) {
    throw new Error('go is not installed: apt-get install golang-go golang-github-containerd-ttrpc-dev');
  }
  if (!existsSync(join(GO_PATH, 'src', 'github.com', 'containerd', 'ttrpc'))) {
    throw new Error(
      `containerd ttrpc Go sources not found under ${GO_PATH}: apt-get install golang-github-containerd-ttrpc-dev`,
    );
  }
  const hash = createHash('sha256').update(version.stdout);
  for (const name of readdirSync(sourceDir)
    .filter((n) => n.endsWith('.go'))
    .sort()) {
    hash
      .update(name)
      .update('\0')
      .update(readFileSync(join(sourceDir, name)))
      .update('\0');
  }
  const dir = cacheDir();
  const bin = join(dir, `ttrpc-go-client-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(bin)) return bin;

  // Build next to the final name and rename: concurrent test processes never see a partial binary.
  const partial = `${bin}.${process.pid}.partial`;
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dir,
    GO111MODULE: 'off',
    GOPATH: GO_PATH,
    GOCACHE: join(dir, 'gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
    GOTOOLCHAIN: 'local',
    CGO_ENABLED: '0',
  };
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(
        'go',
        ['build', '-trimpath', '-buildvcs=false', '-o', partial, '.'],
        { cwd: sourceDir, env, timeout: 300_000, maxBuffer: 16 << 20 },
        (err, _stdout, stderr) => {
          if (err) reject(new Error(`building the Go ttRPC client failed:\n${stderr || err.message}`));
          else resolve();
        },
      );
    });
    renameSync(partial, bin);
  } finally {
    rmSync(partial, { force: true });
  }
  return bin;
}

/** node_modules/.cache when writable; else a private per-user folder in the OS temp dir. */
function cacheDir(): string {
  const candidates = [
    join(repoRoot, 'node_modules', '.cache', 'cocoseal-ttrpc-go'),
    join(tmpdir(), `cocoseal-ttrpc-go-${process.getuid?.() ?? 'user'}`),
  ];
  for (const dir of candidates) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      // A shared temp dir must not hand us a binary someone else can replace.
      if (!st.isDirectory() || (process.getuid && st.uid !== process.getuid()) || st.mode & 0o022) continue;
      return dir;
    } catch {
      // try the next candidate
    }
  }
  throw new Error('no writable private cache directory for the Go ttRPC client');
}

export interface GoClientResult {
  /** Process exit status: 0 ok, 1 ttRPC status (see `status`), 2 usage/connection error. */
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Parsed `code=<n> message=<text>` from stderr when the server answered a status. */
  status?: { code: number; message: string };
}

/** Runs the Go client: `runGoTtrpcClient(bin, ['-socket', path, 'get-resource', uri])`. */
export function runGoTtrpcClient(bin: string, args: string[], timeoutMs = 30_000): Promise<GoClientResult> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      if (err && exitCode === -1) {
        reject(new Error(`ttrpc-go-client did not finish: ${err.message}\n${stderr}`));
        return;
      }
      const m = /^code=(-?\d+) message=(.*)$/m.exec(stderr);
      resolve({
        exitCode,
        stdout,
        stderr,
        ...(m ? { status: { code: Number(m[1]), message: m[2] } } : {}),
      });
    });
  });
}
