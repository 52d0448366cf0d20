import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/*
 * The .proto interface definitions ship in the package's `proto/` folder and are parsed once, at
 * first use. Field names keep their declared case (`ResourcePath`, `timeout_nano`) so the loaded
 * types match the spec tables. proto3 syntax makes protobufjs verify UTF-8 in `string` fields when
 * decoding, which is what upstream (rust-protobuf) does too (cdh.md §2.3).
 */

export type ProtoFile = 'ttrpc.proto' | 'cdh-api.proto' | 'keyprovider.proto' | 'attestation-agent.proto';

function findProtoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'proto', 'ttrpc.proto'))) {
      return join(dir, 'proto');
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('cocoseal: proto/ folder not found next to package.json');
    dir = up;
  }
}

let protoDir: string | undefined;
const roots = new Map<ProtoFile, protobuf.Root>();

function loadRoot(file: ProtoFile): protobuf.Root {
  let root = roots.get(file);
  if (!root) {
    protoDir ??= findProtoDir();
    const source = readFileSync(join(protoDir, file), 'utf8');
    root = protobuf.parse(source, new protobuf.Root(), { keepCase: true }).root;
    root.resolveAll();
    roots.set(file, root);
  }
  return root;
}

/** A message type by its full name (`ttrpc.Request`, `api.UnsealSecretInput`, ...). */
export function protoType(file: ProtoFile, fullName: string): protobuf.Type {
  return loadRoot(file).lookupType(fullName);
}

/** Lazily resolved message type, so importing a module never touches the file system. */
export function lazyType(file: ProtoFile, fullName: string): () => protobuf.Type {
  let t: protobuf.Type | undefined;
  return () => {
    t ??= protoType(file, fullName);
    return t;
  };
}

/** protobufjs hands out int64 as a Long (when `long` is installed) or a number. */
export function int64ToNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof (v as { toNumber?: unknown }).toNumber === 'function') {
    return (v as { toNumber(): number }).toNumber();
  }
  return 0;
}

/** Bytes that protobufjs decoded, as a plain Uint8Array view (no copy) rather than a Buffer. */
export function ownBytes(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) return new Uint8Array(0);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}
