import { bytesField, type MessageCodec, messageCodec, put } from './message-codec.js';

/*
 * ocicrypt key-provider messages, package `keyprovider` (proto/keyprovider.proto). Both carry a JSON
 * document as bytes (cdh.md §2.4); parsing that JSON is the CDH's business, not the codec's.
 */

/** Wire field `KeyProviderKeyWrapProtocolInput` (1): the request JSON. */
export interface KeyProviderKeyWrapProtocolInput {
  keyProviderKeyWrapProtocolInput: Uint8Array;
}
export const KeyProviderKeyWrapProtocolInput: MessageCodec<KeyProviderKeyWrapProtocolInput> = messageCodec(
  'keyprovider.proto',
  'keyprovider.KeyProviderKeyWrapProtocolInput',
  (m) => {
    const o = {};
    put(o, 'KeyProviderKeyWrapProtocolInput', m.keyProviderKeyWrapProtocolInput);
    return o;
  },
  (w) => ({ keyProviderKeyWrapProtocolInput: bytesField(w.KeyProviderKeyWrapProtocolInput) }),
);

/** Wire field `KeyProviderKeyWrapProtocolOutput` (1): the result JSON. */
export interface KeyProviderKeyWrapProtocolOutput {
  keyProviderKeyWrapProtocolOutput: Uint8Array;
}
export const KeyProviderKeyWrapProtocolOutput: MessageCodec<KeyProviderKeyWrapProtocolOutput> = messageCodec(
  'keyprovider.proto',
  'keyprovider.KeyProviderKeyWrapProtocolOutput',
  (m) => {
    const o = {};
    put(o, 'KeyProviderKeyWrapProtocolOutput', m.keyProviderKeyWrapProtocolOutput);
    return o;
  },
  (w) => ({ keyProviderKeyWrapProtocolOutput: bytesField(w.KeyProviderKeyWrapProtocolOutput) }),
);
