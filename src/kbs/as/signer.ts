import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { EarSigner } from '../../attestation/ear/token.js';
import { pemBlocks } from '../../attestation/x509.js';
import type { SignerConfig } from '../config/config.js';
import { NS } from '../storage/namespaces.js';
import type { Storage } from '../storage/storage.js';

/*
 * The EAR token signer. With `signer.key_path` the key (and optional certificate chain) comes from
 * files. Otherwise a P-256 key is generated once and kept in storage, so restarts and every replica
 * sharing the database sign with the same key and accept each other's tokens. Creation is atomic:
 * `set(overwrite: false)`, and whoever loses the race re-reads the winner's key.
 */

const KEY = 'ear-token-signer.pem';

async function fromStorage(storage: Storage): Promise<EarSigner> {
  const existing = await storage.get(NS.signerKey, KEY);
  if (existing) return EarSigner.fromPem(Buffer.from(existing));
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  try {
    await storage.set(NS.signerKey, KEY, Buffer.from(pem), { overwrite: false });
    return new EarSigner(privateKey);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ALREADY_EXISTS') throw e;
    const winner = await storage.get(NS.signerKey, KEY);
    if (!winner) throw e;
    return EarSigner.fromPem(Buffer.from(winner));
  }
}

export async function loadSigner(storage: Storage, cfg: SignerConfig | undefined): Promise<EarSigner> {
  if (!cfg?.keyPath) return fromStorage(storage);
  let pem: Buffer;
  try {
    pem = await readFile(cfg.keyPath);
  } catch (e) {
    throw new Error(
      `token signer key_path ${cfg.keyPath}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`,
    );
  }
  let x5c: string[] | undefined;
  if (cfg.certPath) {
    const text = (await readFile(cfg.certPath)).toString('latin1');
    const ders = text.includes('-----BEGIN CERTIFICATE-----')
      ? pemBlocks(text)
      : [Buffer.from(text, 'latin1')];
    if (ders.length === 0) throw new Error(`token signer cert_path ${cfg.certPath} holds no certificate`);
    const leaf = new X509Certificate(ders[0]);
    const pub = createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' });
    const lk = leaf.publicKey.export({ format: 'jwk' });
    if (lk.x !== pub.x || lk.y !== pub.y)
      throw new Error(`token signer cert_path ${cfg.certPath}: the certificate is not for key_path`);
    x5c = ders.map((d) => d.toString('base64'));
  }
  return EarSigner.fromPem(pem, { x5c, x5u: cfg.certUrl });
}
