/*
 * Resource policies `kbs-client config set-resource-policy` can install by name
 * (kbs-protocol.md §6.3). Rego v1. Upstream's `--default` installs deny-all (§15 #14); ours installs
 * the real default.
 */

/** Release to any real TEE, never to the sample TEE (its evidence proves nothing). */
export const DEFAULT_RESOURCE_POLICY = `package policy

import rego.v1

default allow := false

allow if {
	data.plugin == "resource"
	not input.submods.cpu0["ear.veraison.annotated-evidence"].sample
}
`;

/** Release every `resource` request from any attested requester (tests, sample TEE). */
export const ALLOW_ALL_RESOURCE_POLICY = `package policy

import rego.v1

default allow := false

allow if {
	data.plugin == "resource"
}
`;

export const DENY_ALL_RESOURCE_POLICY = `package policy

import rego.v1

default allow := false
`;

/** Release only when every appraised submodule (cpu0, gpu0, ...) is affirming. */
export const AFFIRMING_RESOURCE_POLICY = `package policy

import rego.v1

default allow := false

allow if {
	count(input.submods) > 0
	every submod in input.submods {
		submod["ear.status"] == "affirming"
	}
}
`;

export type NamedResourcePolicy = 'default' | 'allow-all' | 'deny-all' | 'affirming';

export const NAMED_RESOURCE_POLICIES: Record<NamedResourcePolicy, string> = {
  default: DEFAULT_RESOURCE_POLICY,
  'allow-all': ALLOW_ALL_RESOURCE_POLICY,
  'deny-all': DENY_ALL_RESOURCE_POLICY,
  affirming: AFFIRMING_RESOURCE_POLICY,
};
