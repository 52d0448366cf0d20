import { randomBytes } from 'node:crypto';
import { decodeStd, encodeStd } from '../../crypto/base64.js';
import { credentialDir } from '../credentials.js';
import { KmsError } from '../errors.js';
import type { JsonObject, KmsProvider, ProviderFactory, WrappedKey } from '../provider.js';
import { ckrName, describePkcs11Error, pkcs11Failed } from './errors.js';
import { type Pkcs11Binding, pkcs11Binding } from './library.js';
import { type TokenPool, tokenPool } from './session-pool.js';
import {
  checkModuleAllowed,
  DEFAULT_MECHANISM,
  isMechanism,
  MECHANISMS,
  type Mechanism,
  type Pkcs11Settings,
  parseSettings,
  pinPath,
  readPinFile,
} from './settings.js';

/*
 * The `pkcs11` provider (ours): the DEK is wrapped inside an HSM by an AES key that never leaves it.
 *
 * - CKM_AES_KEY_WRAP_PAD (RFC 5649, default) / CKM_AES_KEY_WRAP (RFC 3394): the DEK becomes a transient
 *   session object that the token wraps with C_WrapKey; unwrapping creates a transient, non-sensitive
 *   session object whose CKA_VALUE is read once and destroyed. The KEK needs CKA_WRAP / CKA_UNWRAP.
 * - CKM_AES_GCM: C_Encrypt / C_Decrypt of the DEK with a fresh 96-bit IV and a 128-bit tag, no AAD;
 *   `encrypted_key` is ciphertext ‖ tag and the IV goes to `annotations.iv`. The KEK needs
 *   CKA_ENCRYPT / CKA_DECRYPT.
 *
 * Every call runs on a pooled, logged-in session (session-pool.ts); the crypto calls use the async
 * pkcs11js variants, which run on libuv worker threads, so the event loop is never blocked on the HSM.
 */

export const PKCS11_PROVIDER = 'pkcs11';
export const PKCS11_KEY_PATH_ENV = 'PKCS11_IN_GUEST_KEY_PATH';

const HANDLE_INVALID = new Set(['CKR_OBJECT_HANDLE_INVALID', 'CKR_KEY_HANDLE_INVALID']);
const GCM_IV_BYTES = 12;
const GCM_TAG_BYTES = 16;

export class Pkcs11Provider implements KmsProvider {
  readonly name = PKCS11_PROVIDER;

  constructor(
    private readonly settings: Pkcs11Settings,
    private readonly pin: () => Promise<string>,
    /** The mechanism used when sealing; unsealing follows `annotations.mechanism`. */
    private readonly mechanism: Mechanism = DEFAULT_MECHANISM,
  ) {}

  private where(): string {
    return `key '${this.settings.key_label}' on token '${this.settings.token_label}'`;
  }

  /** `key_id` and `provider_settings.key_label` name the same key; a mismatch is a sealing mistake. */
  private checkKeyId(keyId: string): void {
    if (keyId !== this.settings.key_label) {
      throw pkcs11Failed(
        `key id '${keyId}' does not match provider_settings.key_label '${this.settings.key_label}'`,
      );
    }
  }

  async wrapKey(dek: Uint8Array, keyId: string): Promise<WrappedKey> {
    this.checkKeyId(keyId);
    if (dek.length !== 16 && dek.length !== 24 && dek.length !== 32) {
      throw pkcs11Failed(`the data key must be 16, 24 or 32 bytes, got ${dek.length}`);
    }
    const mechanism = this.mechanism;
    return this.run(
      'wrap',
      async (pool, session, kek) => {
        const p = pkcs11Binding();
        const lib = pool.module.lib;
        if (mechanism === 'CKM_AES_GCM') {
          const iv = randomBytes(GCM_IV_BYTES);
          lib.C_EncryptInit(session, gcmMechanism(iv), kek);
          const out = await lib.C_EncryptAsync(session, Buffer.from(dek), Buffer.alloc(dek.length + 32));
          return { encryptedKey: new Uint8Array(out), annotations: { mechanism, iv: encodeStd(iv) } };
        }
        const dekObject = lib.C_CreateObject(session, [
          ...sessionDekTemplate(p),
          { type: p.CKA_VALUE, value: Buffer.from(dek) },
        ]);
        try {
          const out = await lib.C_WrapKeyAsync(
            session,
            { mechanism: p[mechanism] },
            kek,
            dekObject,
            Buffer.alloc(dek.length + 32),
          );
          return { encryptedKey: new Uint8Array(out), annotations: { mechanism } };
        } finally {
          destroyQuietly(pool, session, dekObject);
        }
      },
      true,
    );
  }

  async unwrapKey(encryptedKey: Uint8Array, keyId: string, annotations: JsonObject): Promise<Uint8Array> {
    this.checkKeyId(keyId);
    const mechanism = annotations.mechanism ?? DEFAULT_MECHANISM;
    if (!isMechanism(mechanism)) {
      throw pkcs11Failed(
        `unsupported annotations.mechanism ${JSON.stringify(mechanism)} (one of ${MECHANISMS.join(', ')})`,
      );
    }
    let iv: Buffer | undefined;
    if (mechanism === 'CKM_AES_GCM') {
      iv = decodeIv(annotations.iv);
      if (encryptedKey.length <= GCM_TAG_BYTES)
        throw pkcs11Failed('the wrapped key is too short for AES-GCM');
    }
    return this.run('unwrap', async (pool, session, kek) => {
      const p = pkcs11Binding();
      const lib = pool.module.lib;
      if (iv) {
        lib.C_DecryptInit(session, gcmMechanism(iv), kek);
        const out = await lib.C_DecryptAsync(
          session,
          Buffer.from(encryptedKey),
          Buffer.alloc(encryptedKey.length),
        );
        return new Uint8Array(out);
      }
      const dekObject = await lib.C_UnwrapKeyAsync(
        session,
        { mechanism: p[mechanism] },
        kek,
        Buffer.from(encryptedKey),
        sessionDekTemplate(p),
      );
      try {
        const [attr] = lib.C_GetAttributeValue(session, dekObject, [{ type: p.CKA_VALUE }]);
        if (!Buffer.isBuffer(attr?.value)) throw pkcs11Failed('the token returned no key value');
        return new Uint8Array(attr.value);
      } finally {
        destroyQuietly(pool, session, dekObject);
      }
    });
  }

  async getSecret(): Promise<Uint8Array> {
    throw new KmsError('PROVIDER_UNSUPPORTED', 'the pkcs11 provider has no vault (get_secret)', {
      provider: PKCS11_PROVIDER,
    });
  }

  /** Runs one operation with the KEK handle; retries once if a cached handle went stale. */
  private async run<T>(
    op: 'wrap' | 'unwrap',
    fn: (pool: TokenPool, session: Buffer, kek: Buffer) => Promise<T>,
    sealing = false,
  ): Promise<T> {
    const pin = await this.pin();
    const pool = tokenPool(this.settings.module, this.settings.token_label);
    for (let attempt = 0; ; attempt++) {
      try {
        return await pool.withSession(pin, async (session) => {
          const kek = findKey(pool, session, this.settings.key_label, sealing);
          return fn(pool, session, kek);
        });
      } catch (e) {
        if (e instanceof KmsError) throw e;
        const name = ckrName(e);
        if (name && HANDLE_INVALID.has(name) && attempt === 0) {
          pool.keyHandles.delete(this.settings.key_label);
          continue;
        }
        throw pkcs11Failed(`${op} with ${this.where()} failed: ${describeOpError(op, e)}`, e);
      }
    }
  }
}

function gcmMechanism(iv: Buffer) {
  const p = pkcs11Binding();
  return {
    mechanism: p.CKM_AES_GCM,
    parameter: { type: p.CK_PARAMS_AES_GCM, iv, aad: Buffer.alloc(0), tagBits: GCM_TAG_BYTES * 8 },
  };
}

/**
 * The data key as a session object: AES, private to the session, not on the token, and readable
 * (the point is to hand its value back). Used when it goes in (wrap) and when it comes out (unwrap).
 */
function sessionDekTemplate(p: Pkcs11Binding) {
  return [
    { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
    { type: p.CKA_KEY_TYPE, value: p.CKK_AES },
    { type: p.CKA_TOKEN, value: false },
    { type: p.CKA_PRIVATE, value: true },
    { type: p.CKA_SENSITIVE, value: false },
    { type: p.CKA_EXTRACTABLE, value: true },
  ];
}

function decodeIv(v: unknown): Buffer {
  if (typeof v !== 'string') throw pkcs11Failed('CKM_AES_GCM envelopes need annotations.iv (base64)');
  let iv: Buffer;
  try {
    iv = decodeStd(v, 'annotations.iv');
  } catch (e) {
    throw pkcs11Failed('annotations.iv is not valid base64', e);
  }
  if (iv.length !== GCM_IV_BYTES) throw pkcs11Failed(`annotations.iv must be ${GCM_IV_BYTES} bytes`);
  return iv;
}

/** SoftHSM reports a failed GCM tag check as CKR_GENERAL_ERROR; say what it almost always means. */
function describeOpError(op: 'wrap' | 'unwrap', e: unknown): string {
  if (op === 'unwrap' && ckrName(e) === 'CKR_GENERAL_ERROR') {
    return 'the token rejected the wrapped key (CKR_GENERAL_ERROR; wrong key or tampered data)';
  }
  return describePkcs11Error(e);
}

function findKey(pool: TokenPool, session: Buffer, label: string, sealing: boolean): Buffer {
  const cached = pool.keyHandles.get(label);
  if (cached && !sealing) return cached;
  const p = pkcs11Binding();
  const lib = pool.module.lib;
  lib.C_FindObjectsInit(session, [
    { type: p.CKA_CLASS, value: p.CKO_SECRET_KEY },
    { type: p.CKA_LABEL, value: label },
  ]);
  let found: Buffer[];
  try {
    found = lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
  if (found.length === 0) throw pkcs11Failed(`key '${label}' not found on token '${pool.tokenLabel}'`);
  if (found.length > 1)
    throw pkcs11Failed(`more than one key is labelled '${label}' on token '${pool.tokenLabel}'`);
  const handle = found[0];
  if (sealing) {
    // A KEK whose value can be read in clear is not an HSM-held key: refuse to seal with it.
    const [attr] = lib.C_GetAttributeValue(session, handle, [{ type: p.CKA_SENSITIVE }]);
    if (!isTrue(attr?.value)) {
      throw pkcs11Failed(
        `key '${label}' on token '${pool.tokenLabel}' is not sensitive (CKA_SENSITIVE is false)`,
      );
    }
  }
  pool.keyHandles.set(label, handle);
  return handle;
}

function isTrue(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return Buffer.isBuffer(v) && v.length > 0 && v[0] !== 0;
}

function destroyQuietly(pool: TokenPool, session: Buffer, object: Buffer): void {
  try {
    pool.module.lib.C_DestroyObject(session, object);
  } catch {
    // Session objects die with the session anyway.
  }
}

/**
 * Unseal side: `provider_settings` = `{"module", "token_label", "key_label"}`; the PIN is read from
 * `<credential dir>/pin_<token_label>.txt` (credential dir: `--key-path`, else
 * `$PKCS11_IN_GUEST_KEY_PATH`, else `<cred-root>/pkcs11`).
 */
export const pkcs11Provider: ProviderFactory = (ctx) => {
  const settings = parseSettings(ctx.settings);
  checkModuleAllowed(settings.module);
  const dir = credentialDir(ctx.credentialDir, PKCS11_KEY_PATH_ENV, PKCS11_PROVIDER);
  return new Pkcs11Provider(settings, () => readPinFile(pinPath(dir, settings.token_label)));
};
