import { bytesField, type MessageCodec, messageCodec, put, stringField } from './message-codec.js';

/*
 * The one Attestation Agent call the CDH makes (cdh.md §7.2, proto/attestation-agent.proto):
 * `attestation_agent.AttestationAgentService/GetToken`.
 */

/** `tokenType` (wire `TokenType`) is `kbs` for the KBS passport flow. */
export interface GetTokenRequest {
  tokenType: string;
}
export const GetTokenRequest: MessageCodec<GetTokenRequest> = messageCodec(
  'attestation-agent.proto',
  'attestation_agent.GetTokenRequest',
  (m) => {
    const o = {};
    put(o, 'TokenType', m.tokenType);
    return o;
  },
  (w) => ({ tokenType: stringField(w.TokenType) }),
);

/** `token` (wire `Token`): UTF-8 JSON `{"token":"<EAR JWT>","tee_keypair":"<PEM>"}`. Secret material. */
export interface GetTokenResponse {
  token: Uint8Array;
}
export const GetTokenResponse: MessageCodec<GetTokenResponse> = messageCodec(
  'attestation-agent.proto',
  'attestation_agent.GetTokenResponse',
  (m) => {
    const o = {};
    put(o, 'Token', m.token);
    return o;
  },
  (w) => ({ token: bytesField(w.Token) }),
);
