import { bytesField, type MessageCodec, messageCodec, put, stringField } from './message-codec.js';

/*
 * Messages of the CDH API, package `api` (proto/cdh-api.proto, cdh.md §2.1). Each name is both the
 * TypeScript type and its codec: `UnsealSecretInput.decode(bytes)`.
 */

/** `secret` is the sealed string's UTF-8 bytes; it is `bytes` on the wire, so it may be any bytes. */
export interface UnsealSecretInput {
  secret: Uint8Array;
}
export const UnsealSecretInput: MessageCodec<UnsealSecretInput> = messageCodec(
  'cdh-api.proto',
  'api.UnsealSecretInput',
  (m) => {
    const o = {};
    put(o, 'secret', m.secret);
    return o;
  },
  (w) => ({ secret: bytesField(w.secret) }),
);

export interface UnsealSecretOutput {
  plaintext: Uint8Array;
}
export const UnsealSecretOutput: MessageCodec<UnsealSecretOutput> = messageCodec(
  'cdh-api.proto',
  'api.UnsealSecretOutput',
  (m) => {
    const o = {};
    put(o, 'plaintext', m.plaintext);
    return o;
  },
  (w) => ({ plaintext: bytesField(w.plaintext) }),
);

/** `resourcePath` (wire name `ResourcePath`) is a full resource URI, e.g. `kbs:///default/key/1`. */
export interface GetResourceRequest {
  resourcePath: string;
}
export const GetResourceRequest: MessageCodec<GetResourceRequest> = messageCodec(
  'cdh-api.proto',
  'api.GetResourceRequest',
  (m) => {
    const o = {};
    put(o, 'ResourcePath', m.resourcePath);
    return o;
  },
  (w) => ({ resourcePath: stringField(w.ResourcePath) }),
);

export interface GetResourceResponse {
  resource: Uint8Array;
}
export const GetResourceResponse: MessageCodec<GetResourceResponse> = messageCodec(
  'cdh-api.proto',
  'api.GetResourceResponse',
  (m) => {
    const o = {};
    put(o, 'Resource', m.resource);
    return o;
  },
  (w) => ({ resource: bytesField(w.Resource) }),
);

export interface SecureMountRequest {
  volumeType: string;
  /** A null-prototype record when decoded (keys come from the peer). */
  options: Record<string, string>;
  flags: string[];
  mountPoint: string;
}
export const SecureMountRequest: MessageCodec<SecureMountRequest> = messageCodec(
  'cdh-api.proto',
  'api.SecureMountRequest',
  (m) => {
    const o: Record<string, unknown> = {};
    put(o, 'volume_type', m.volumeType);
    const entries = Object.entries(m.options);
    if (entries.length) o.options = Object.fromEntries(entries);
    if (m.flags.length) o.flags = [...m.flags];
    put(o, 'mount_point', m.mountPoint);
    return o;
  },
  (w) => {
    const options: Record<string, string> = Object.create(null);
    for (const [k, v] of Object.entries((w.options ?? {}) as Record<string, unknown>))
      options[k] = stringField(v);
    return {
      volumeType: stringField(w.volume_type),
      options,
      flags: Array.isArray(w.flags) ? w.flags.map(stringField) : [],
      mountPoint: stringField(w.mount_point),
    };
  },
);

/** No fields. */
export type SecureMountResponse = Record<string, never>;
export const SecureMountResponse: MessageCodec<SecureMountResponse> = messageCodec(
  'cdh-api.proto',
  'api.SecureMountResponse',
  () => ({}),
  () => ({}),
);

export interface ImagePullRequest {
  imageUrl: string;
  bundlePath: string;
}
export const ImagePullRequest: MessageCodec<ImagePullRequest> = messageCodec(
  'cdh-api.proto',
  'api.ImagePullRequest',
  (m) => {
    const o = {};
    put(o, 'image_url', m.imageUrl);
    put(o, 'bundle_path', m.bundlePath);
    return o;
  },
  (w) => ({ imageUrl: stringField(w.image_url), bundlePath: stringField(w.bundle_path) }),
);

/** kata's copy of the proto declares this message empty; it ignores field 1 (cdh.md §2.1). */
export interface ImagePullResponse {
  manifestDigest: string;
}
export const ImagePullResponse: MessageCodec<ImagePullResponse> = messageCodec(
  'cdh-api.proto',
  'api.ImagePullResponse',
  (m) => {
    const o = {};
    put(o, 'manifest_digest', m.manifestDigest);
    return o;
  },
  (w) => ({ manifestDigest: stringField(w.manifest_digest) }),
);
