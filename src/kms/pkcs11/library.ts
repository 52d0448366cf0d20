import { createRequire } from 'node:module';
import type * as Pkcs11Js from 'pkcs11js';
import { KmsError } from '../errors.js';
import { describePkcs11Error } from './errors.js';

export type Pkcs11Binding = typeof Pkcs11Js;
export type Pkcs11Lib = Pkcs11Js.PKCS11;

let binding: Pkcs11Binding | undefined;

/**
 * The pkcs11js native binding, loaded on first use only: a host without it (or without a C++ build)
 * can still use every other provider.
 */
export function pkcs11Binding(): Pkcs11Binding {
  if (!binding) {
    try {
      binding = createRequire(import.meta.url)('pkcs11js') as Pkcs11Binding;
    } catch (e) {
      throw new KmsError('KMS_FAILED', 'the pkcs11js native module cannot be loaded', {
        provider: 'pkcs11',
        cause: e,
      });
    }
  }
  return binding;
}

/** One PKCS#11 module (shared library), loaded and initialised once per process. */
export interface LoadedModule {
  readonly path: string;
  readonly lib: Pkcs11Lib;
  /** True when this process called C_Initialize (and so must call C_Finalize). */
  readonly ownsInitialization: boolean;
}

const loaded = new Map<string, LoadedModule>();
/** Hooks run before a module is finalised (session pools close their sessions). */
const beforeFinalize = new Set<(m: LoadedModule) => void>();

/**
 * Loads and initialises `path` once per process. C_Initialize gets CKF_OS_LOCKING_OK because the
 * async pkcs11js calls run on libuv worker threads: concurrent unseals hit the module from several
 * threads, each on its own session.
 */
export function loadModule(path: string): LoadedModule {
  const existing = loaded.get(path);
  if (existing) return existing;
  const p = pkcs11Binding();
  const lib = new p.PKCS11();
  try {
    lib.load(path);
  } catch (e) {
    throw new KmsError('KMS_FAILED', `cannot load PKCS#11 module ${path}: ${describePkcs11Error(e)}`, {
      provider: 'pkcs11',
      cause: e,
    });
  }
  let ownsInitialization = true;
  try {
    lib.C_Initialize({ flags: p.CKF_OS_LOCKING_OK });
  } catch (e) {
    // Another binding in this process (a second pkcs11js instance) already initialised it.
    if (isCkr(e, p.CKR_CRYPTOKI_ALREADY_INITIALIZED)) ownsInitialization = false;
    else {
      lib.close();
      throw new KmsError(
        'KMS_FAILED',
        `C_Initialize failed for PKCS#11 module ${path}: ${describePkcs11Error(e)}`,
        { provider: 'pkcs11', cause: e },
      );
    }
  }
  const m: LoadedModule = { path, lib, ownsInitialization };
  loaded.set(path, m);
  return m;
}

export function onBeforeFinalize(hook: (m: LoadedModule) => void): void {
  beforeFinalize.add(hook);
}

/** Closes every session, finalises and unloads every module this process loaded (tests, benches, shutdown). */
export function finalizeAllModules(): void {
  for (const m of loaded.values()) {
    for (const hook of beforeFinalize) hook(m);
    try {
      if (m.ownsInitialization) m.lib.C_Finalize();
      m.lib.close();
    } catch {
      // Shutting down: nothing useful to do with a failure here.
    }
  }
  loaded.clear();
}

export function isCkr(e: unknown, code: number): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code;
}
