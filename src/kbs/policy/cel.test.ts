import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appraise } from './attestation-policy.js';
import { ATTESTATION_POLICIES, RESOURCE_POLICIES } from './builtin.js';
import { blankComments, compilePolicy, PolicyCompileError, toCel } from './cel.js';
import { celForKnownRego, looksLikeRego } from './rego.js';
import { evaluateResourcePolicy, explainResourcePolicy } from './resource-policy.js';

const data = { plugin: 'resource', 'resource-path': ['a', 'b', 'c'], query: {} };
const sampleClaims = toCel({
  submods: {
    cpu0: { 'ear.status': 'affirming', 'ear.veraison.annotated-evidence': { sample: { svn: '1' } } },
  },
});
const snpClaims = toCel({
  submods: { cpu0: { 'ear.status': 'warning', 'ear.veraison.annotated-evidence': { snp: {} } } },
});

test('built-in resource policies', () => {
  const ev = (name: keyof typeof RESOURCE_POLICIES, input: unknown, d = data) =>
    evaluateResourcePolicy(compilePolicy(RESOURCE_POLICIES[name], 'resource'), input, d).allow;
  assert.equal(ev('allow-all', sampleClaims), true);
  assert.equal(ev('allow-all', sampleClaims, { ...data, plugin: 'other' }), false);
  assert.equal(ev('deny-all', sampleClaims), false);
  assert.equal(ev('default', sampleClaims), false);
  assert.equal(ev('default', snpClaims), true);
  assert.equal(ev('default', toCel({})), true, 'no submods: sample absent, as upstream');
  assert.equal(ev('affirming', sampleClaims), true);
  assert.equal(ev('affirming', snpClaims), false);
  assert.equal(ev('affirming', toCel({ submods: {} })), false);
});

test('compile errors are caught at upload', () => {
  for (const [src, re] of [
    ['data.plugin ==', /syntax/],
    ['nosuchvar == 1', /unknown identifier "nosuchvar"/],
    ['nosuchfn(1)', /unknown function "nosuchfn"/],
    ['[1,2].exists(x, x == y)', /unknown identifier "y"/],
  ] as const) {
    assert.throws(
      () => compilePolicy(src, 'resource'),
      (e: unknown) => e instanceof PolicyCompileError && re.test(e.message),
      src,
    );
  }
  assert.throws(() => compilePolicy('rv_match(input.name, 1)', 'attestation'), /string literal/);
  assert.throws(() => compilePolicy('query_reference_value("x")', 'resource'), /unknown function/);
  compilePolicy('[1,2].exists(x, x == 2) && "a".startsWith("a") && input.x.matches("^a")', 'resource');
});

test('comments are blanked outside strings (CEL parser quirk with consecutive comment lines)', () => {
  assert.equal(blankComments('// a\n// b\n{"x": "//y"} // z'), '    \n    \n{"x": "//y"}     ');
  assert.equal(compilePolicy('// a\n// b\n{"a": 1}["a"] == 1', 'resource').op, 'single');
});

test('missing fields deny (undefined) rather than fail; dry-run names the deciding condition', () => {
  const p = compilePolicy('data.plugin == "resource" && input.nope.deeper == 1 && true', 'resource');
  const d = evaluateResourcePolicy(p, toCel({}), data);
  assert.equal(d.allow, false);
  const r = explainResourcePolicy(p, toCel({}), data);
  assert.equal(r.decided_by, 'input.nope.deeper == 1');
  assert.equal(r.combinator, 'and');
  const or = compilePolicy('data.plugin == "x" || data["resource-path"][0] == "a"', 'resource');
  assert.equal(explainResourcePolicy(or, toCel({}), data).decided_by, 'data["resource-path"][0] == "a"');
  assert.throws(
    () => evaluateResourcePolicy(compilePolicy('1 / 0 == 1', 'resource'), toCel({}), data),
    /divide by zero/,
  );
});

test('default_cpu: sample baseline contraindicated; reference values make it affirming; snp and tdx paths', () => {
  const p = compilePolicy(ATTESTATION_POLICIES.default_cpu, 'attestation');
  assert.deepEqual(p.referenceValues.slice(0, 3), ['abi_major', 'abi_minor', 'launch_digest']);
  const sample = toCel({
    sample: { svn: '1', launch_digest: 'abcde', platform_version: { major: 1, minor: 4 }, debug: false },
  });
  const none = appraise(p, sample, 'sample', new Map());
  assert.equal(none.status, 'contraindicated');
  assert.equal(none.trustVector.hardware, 97);
  const rv = new Map<string, unknown>([
    ['svn', ['1']],
    ['launch_digest', ['abcde']],
    ['major_version', 1],
    ['minimum_minor_version', [4]],
  ]);
  assert.equal(appraise(p, sample, 'sample', rv).status, 'affirming');
  assert.equal(
    appraise(p, sample, 'sample', new Map([...rv, ['minimum_minor_version', 5]])).trustVector.hardware,
    97,
  );
  const snp = toCel({
    snp: {
      measurement: 'aa',
      reported_tcb_bootloader: 10,
      reported_tcb_microcode: 25,
      reported_tcb_snp: 23,
      reported_tcb_tee: 0,
      policy_debug_allowed: false,
      policy_migrate_ma: false,
      platform_smt_enabled: true,
      platform_tsme_enabled: false,
      policy_abi_major: 0,
      policy_abi_minor: 31,
      policy_single_socket: false,
      policy_smt_allowed: true,
    },
  });
  const snpRv = new Map<string, unknown>([
    ['snp_launch_measurement', ['aa']],
    ['snp_bootloader', [10]],
    ['snp_microcode', [25]],
    ['snp_snp_svn', [23]],
    ['snp_tee_svn', [0]],
    ['smt_enabled', [true]],
    ['tsme_enabled', [false]],
    ['abi_major', [0]],
    ['abi_minor', [31]],
    ['single_socket', [false]],
    ['smt_allowed', [true]],
  ]);
  assert.equal(appraise(p, snp, 'snp', new Map()).status, 'contraindicated');
  assert.equal(appraise(p, snp, 'snp', snpRv).status, 'affirming');
  const tdx = toCel({
    tdx: {
      quote: {
        header: { tee_type: '81000000', vendor_id: '939a7233f79c4ca9940a0db3957f0607' },
        body: { mr_td: 'td', mr_seam: 'seam', tcb_svn: 'svn', rtmr_1: 'r1', rtmr_2: 'r2', xfam: 'x' },
      },
      td_attributes: { debug: true },
    },
  });
  const tdxRv = new Map<string, unknown>([
    ['mr_td', ['td']],
    ['mr_seam', ['seam']],
    ['tcb_svn', ['svn']],
    ['rtmr_1', ['r1']],
    ['rtmr_2', ['r2']],
    ['xfam', ['x']],
  ]);
  const t = appraise(p, tdx, 'tdx', tdxRv);
  assert.equal(t.trustVector.hardware, 2);
  assert.equal(t.trustVector.executables, 3);
  assert.equal(t.trustVector.configuration, 36, 'debug TD is not affirming');
});

test('Rego detection and the upstream sample policies', () => {
  assert.ok(looksLikeRego('package policy\ndefault allow = false'));
  assert.ok(!looksLikeRego('data.plugin == "resource"'));
  assert.equal(celForKnownRego('package policy\n\ndefault allow = false\n'), RESOURCE_POLICIES['deny-all']);
  assert.equal(
    celForKnownRego('package policy\n# c\ndefault allow := true'),
    '// upstream "default allow = true": release everything.\ntrue\n',
  );
  assert.equal(celForKnownRego('package policy\nallow { input.x }'), undefined);
});
