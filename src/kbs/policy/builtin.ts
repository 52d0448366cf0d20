/*
 * Built-in CEL policies. Resource policies see `input` (verified token claims) and `data`
 * (`plugin`, `resource-path`, `query`) exactly as upstream's Rego `data.policy.allow` does
 * (kbs-protocol.md §6.3). Attestation policies see `input` (annotated evidence) and `tee`, and yield
 * the EAR trust vector (§8.1). docs/policies.md explains each one and the Rego it replaces.
 */

export const RESOURCE_POLICIES = {
  'allow-all': `// allow_all: serve any resource to any attested requester.
data.plugin == "resource"
`,
  'deny-all': `// deny_all: release nothing.
false
`,
  default: `// default: serve resources, but never to sample (unattested) evidence. Any real TEE is allowed
// regardless of ear.status, as upstream's default policy does: upload a stricter policy.
data.plugin == "resource" &&
!(has(input.submods) && "cpu0" in input.submods &&
  "ear.veraison.annotated-evidence" in input.submods.cpu0 &&
  "sample" in input.submods.cpu0["ear.veraison.annotated-evidence"])
`,
  affirming: `// affirming: at least one submodule, and every submodule's appraisal is "affirming".
has(input.submods) && size(input.submods) > 0 &&
input.submods.all(k, input.submods[k]["ear.status"] == "affirming")
`,
} as const;

export type BuiltinResourcePolicy = keyof typeof RESOURCE_POLICIES;

/**
 * default_cpu: the upstream default CPU appraisal. Without reference values the result is
 * contraindicated (hardware 97); matching reference values lower each claim to an affirming value.
 */
export const DEFAULT_CPU = `// default_cpu: baseline executables 33, hardware 97, configuration 36; reference values
// (RVPS) turn each into an affirming value. Names: docs/policies.md.
{
  "executables":
    has(input.sample) ?
      (rv_match("launch_digest", input.sample.launch_digest) ? 3 : 33) :
    has(input.snp) ?
      (rv_match("snp_launch_measurement", input.snp.measurement) ? 3 : 33) :
    has(input.tdx) ?
      (rv_match("rtmr_1", input.tdx.quote.body.rtmr_1) &&
       rv_match("rtmr_2", input.tdx.quote.body.rtmr_2) ? 3 : 33) :
    33,
  "hardware":
    has(input.sample) ?
      (rv_match("svn", input.sample.svn) &&
       rv_match("major_version", input.sample.platform_version.major) &&
       rv_min("minimum_minor_version", input.sample.platform_version.minor) ? 2 : 97) :
    has(input.snp) ?
      (rv_match("snp_bootloader", input.snp.reported_tcb_bootloader) &&
       rv_match("snp_microcode", input.snp.reported_tcb_microcode) &&
       rv_match("snp_snp_svn", input.snp.reported_tcb_snp) &&
       rv_match("snp_tee_svn", input.snp.reported_tcb_tee) ? 2 : 97) :
    has(input.tdx) ?
      (input.tdx.quote.header.tee_type == "81000000" &&
       input.tdx.quote.header.vendor_id == "939a7233f79c4ca9940a0db3957f0607" &&
       rv_match("mr_seam", input.tdx.quote.body.mr_seam) &&
       rv_match("tcb_svn", input.tdx.quote.body.tcb_svn) &&
       rv_match("mr_td", input.tdx.quote.body.mr_td) ? 2 : 97) :
    97,
  "configuration":
    has(input.sample) ?
      (input.sample.debug == false ? 2 : 36) :
    has(input.snp) ?
      (input.snp.policy_debug_allowed == false &&
       input.snp.policy_migrate_ma == false &&
       rv_match("smt_enabled", input.snp.platform_smt_enabled) &&
       rv_match("tsme_enabled", input.snp.platform_tsme_enabled) &&
       rv_match("abi_major", input.snp.policy_abi_major) &&
       rv_match("abi_minor", input.snp.policy_abi_minor) &&
       rv_match("single_socket", input.snp.policy_single_socket) &&
       rv_match("smt_allowed", input.snp.policy_smt_allowed) ? 2 : 36) :
    has(input.tdx) ?
      (input.tdx.td_attributes.debug == false &&
       rv_match("xfam", input.tdx.quote.body.xfam) ? 2 : 36) :
    36
}
`;

/** default_gpu: device evidence (sampledevice) is hardware-affirming once its SVN is a reference value. */
export const DEFAULT_GPU = `// default_gpu: baseline hardware 97; the reference value "device_svn" makes it affirming.
{
  "hardware":
    has(input.sampledevice) && rv_match("device_svn", input.sampledevice.svn) ? 2 : 97
}
`;

export const ATTESTATION_POLICIES: Record<string, string> = {
  default_cpu: DEFAULT_CPU,
  default_gpu: DEFAULT_GPU,
};
