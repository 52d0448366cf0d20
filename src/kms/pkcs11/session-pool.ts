import { createHash, timingSafeEqual } from 'node:crypto';
import { ckrName, describePkcs11Error, pkcs11Failed } from './errors.js';
import { isCkr, type LoadedModule, loadModule, onBeforeFinalize, pkcs11Binding } from './library.js';

/*
 * Sessions on one token, shared by every unseal in the process.
 *
 * PKCS#11 login state belongs to the application and the slot, not to a session: every session of the
 * process is logged in as soon as one is, and the last C_CloseSession logs the user out. So the pool
 * logs in once and keeps its idle sessions open (which keeps the login), instead of logging in and out
 * per operation, which would log out concurrent operations mid-flight. A session is used by one
 * operation at a time; concurrent operations get different sessions.
 *
 * Because a second C_Login on a logged-in slot does not check the PIN (CKR_USER_ALREADY_LOGGED_IN), the
 * pool remembers a SHA-256 digest of the PIN that logged in and refuses any other PIN as incorrect.
 */

const DEFAULT_MAX_SESSIONS = 8;

type Waiter = (session: Buffer | undefined) => void;

/** Errors after which a session (or the whole pool) cannot be trusted any more. */
const SESSION_FATAL = new Set([
  'CKR_SESSION_HANDLE_INVALID',
  'CKR_SESSION_CLOSED',
  'CKR_USER_NOT_LOGGED_IN',
  'CKR_DEVICE_ERROR',
]);
const POOL_FATAL = new Set(['CKR_DEVICE_REMOVED', 'CKR_TOKEN_NOT_PRESENT', 'CKR_SLOT_ID_INVALID']);

export class TokenPool {
  private readonly idle: Buffer[] = [];
  private open = 0;
  private readonly waiters: Waiter[] = [];
  private loginDigest: Buffer | undefined;
  private loginLock: Promise<void> = Promise.resolve();
  private closed = false;
  /** Object handles of keys by label; valid while the key exists (handles are per application). */
  readonly keyHandles = new Map<string, Buffer>();

  constructor(
    readonly module: LoadedModule,
    readonly slot: Buffer,
    readonly tokenLabel: string,
    private readonly maxSessions = DEFAULT_MAX_SESSIONS,
  ) {}

  /** Runs `fn` on a logged-in session of this token. */
  async withSession<T>(pin: string, fn: (session: Buffer) => Promise<T>): Promise<T> {
    const session = await this.acquire();
    let broken = false;
    try {
      await this.ensureLogin(session, pin);
      return await fn(session);
    } catch (e) {
      const name = ckrName(e);
      if (name && (SESSION_FATAL.has(name) || POOL_FATAL.has(name))) broken = true;
      if (name && POOL_FATAL.has(name)) dropPool(this);
      throw e;
    } finally {
      this.release(session, broken);
    }
  }

  private async acquire(): Promise<Buffer> {
    if (this.closed) throw pkcs11Failed(`the session pool of token '${this.tokenLabel}' is closed`);
    const ready = this.idle.pop();
    if (ready) return ready;
    if (this.open >= this.maxSessions) {
      const handed = await new Promise<Buffer | undefined>((resolve) => this.waiters.push(resolve));
      if (handed) return handed;
      if (this.closed) throw pkcs11Failed(`the session pool of token '${this.tokenLabel}' is closed`);
    }
    this.open++;
    try {
      return this.module.lib.C_OpenSession(this.slot, pkcs11Binding().CKF_SERIAL_SESSION);
    } catch (e) {
      this.open--;
      throw pkcs11Failed(`cannot open a session on token '${this.tokenLabel}': ${describePkcs11Error(e)}`, e);
    }
  }

  private release(session: Buffer, broken: boolean): void {
    if (broken || this.closed) {
      this.closeSession(session);
      const next = this.waiters.shift();
      if (next) next(undefined);
      return;
    }
    const next = this.waiters.shift();
    if (next) next(session);
    else this.idle.push(session);
  }

  private closeSession(session: Buffer): void {
    try {
      this.module.lib.C_CloseSession(session);
    } catch {
      // The session is gone either way.
    }
    this.open--;
    // The last session closed: the token logged the user out.
    if (this.open === 0) this.loginDigest = undefined;
  }

  private async ensureLogin(session: Buffer, pin: string): Promise<void> {
    const digest = createHash('sha256').update(pin, 'utf8').digest();
    if (this.loginDigest) return this.checkSamePin(digest);
    // Serialise the first login: concurrent first operations must not race two C_Login calls.
    const previous = this.loginLock;
    let unlock!: () => void;
    this.loginLock = new Promise((r) => {
      unlock = r;
    });
    await previous;
    try {
      if (this.loginDigest) return this.checkSamePin(digest);
      this.login(session, pin);
      this.loginDigest = digest;
    } finally {
      unlock();
    }
  }

  private checkSamePin(digest: Buffer): void {
    if (!timingSafeEqual(digest, this.loginDigest!)) {
      throw pkcs11Failed(`login to token '${this.tokenLabel}' failed: PIN incorrect`);
    }
  }

  private login(session: Buffer, pin: string): void {
    const p = pkcs11Binding();
    const lib = this.module.lib;
    try {
      try {
        lib.C_Login(session, p.CKU_USER, pin);
      } catch (e) {
        if (!isCkr(e, p.CKR_USER_ALREADY_LOGGED_IN)) throw e;
        // Someone else in this process logged in (no operation of ours is in flight, or we would hold
        // a digest): log out and in again so that this PIN is actually checked by the token.
        lib.C_Logout(session);
        lib.C_Login(session, p.CKU_USER, pin);
      }
    } catch (e) {
      throw pkcs11Failed(`login to token '${this.tokenLabel}' failed: ${describePkcs11Error(e)}`, e);
    }
  }

  /** Closes every session (logging the user out). Operations in flight finish, then close theirs. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) this.closeSession(s);
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

const pools = new Map<string, TokenPool>();

function poolKey(modulePath: string, tokenLabel: string): string {
  return `${modulePath}\u0000${tokenLabel}`;
}

function dropPool(pool: TokenPool): void {
  const key = poolKey(pool.module.path, pool.tokenLabel);
  if (pools.get(key) === pool) pools.delete(key);
  pool.close();
}

onBeforeFinalize((m) => {
  for (const pool of [...pools.values()]) if (pool.module === m) dropPool(pool);
});

/** The pool of the token labelled `tokenLabel` in module `modulePath` (loading the module if needed). */
export function tokenPool(modulePath: string, tokenLabel: string): TokenPool {
  const key = poolKey(modulePath, tokenLabel);
  const existing = pools.get(key);
  if (existing) return existing;
  const m = loadModule(modulePath);
  const slot = findTokenSlot(m, tokenLabel);
  const pool = new TokenPool(m, slot, tokenLabel);
  pools.set(key, pool);
  return pool;
}

function findTokenSlot(m: LoadedModule, tokenLabel: string): Buffer {
  let slots: Buffer[];
  try {
    slots = m.lib.C_GetSlotList(true);
  } catch (e) {
    throw pkcs11Failed(`C_GetSlotList failed: ${describePkcs11Error(e)}`, e);
  }
  const matches: Buffer[] = [];
  for (const slot of slots) {
    try {
      // Token labels are blank-padded to 32 bytes.
      if (m.lib.C_GetTokenInfo(slot).label.replace(/ +$/, '') === tokenLabel) matches.push(slot);
    } catch {
      // A slot whose token vanished between the two calls.
    }
  }
  if (matches.length === 0) throw pkcs11Failed(`no token labelled '${tokenLabel}' in module ${m.path}`);
  if (matches.length > 1) {
    throw pkcs11Failed(`${matches.length} tokens are labelled '${tokenLabel}' in module ${m.path}`);
  }
  return matches[0];
}
