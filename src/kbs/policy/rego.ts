import { RESOURCE_POLICIES } from './builtin.js';

/*
 * This KBS evaluates CEL, not Rego. Uploaded Rego gets a clear error pointing to docs/policies.md,
 * except for the trivial policies the upstream `kbs-client` and e2e tests upload
 * (allow-all, deny-all, default, affirming, `default allow = true`): those are recognised by their normalized
 * text and replaced by the CEL built-in with the same meaning, so upstream tooling keeps working.
 */

export function looksLikeRego(text: string): boolean {
  return /^\s*package\s+[A-Za-z_][\w.]*\s*$/m.test(text) || /^\s*default\s+allow\s*:?=/m.test(text);
}

function normalize(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => l !== '' && !l.startsWith('import '))
    .join('')
    .replace(/\s+/g, '')
    .replace(/:=/g, '=')
    .replace(/allowif\{/g, 'allow{');
}

const KNOWN: Record<string, string> = {
  'packagepolicydefaultallow=false': RESOURCE_POLICIES['deny-all'],
  'packagepolicydefaultallow=true': '// upstream "default allow = true": release everything.\ntrue\n',
  'packagepolicydefaultallow=falseallow{data.plugin=="resource"}': RESOURCE_POLICIES['allow-all'],
  'packagepolicyallow{data.plugin=="resource"}': RESOURCE_POLICIES['allow-all'],
  'packagepolicydefaultallow=falseallow{data.plugin=="resource"notinput.submods.cpu0["ear.veraison.annotated-evidence"].sample}':
    RESOURCE_POLICIES.default,
  'packagepolicydefaultallow=falseallow{count(input.submods)>0everysubmodininput.submods{submod["ear.status"]=="affirming"}}':
    RESOURCE_POLICIES.affirming,
};

/** The CEL equivalent of a recognised trivial upstream Rego resource policy, if any. */
export function celForKnownRego(text: string): string | undefined {
  return KNOWN[normalize(text)];
}

export const REGO_HINT =
  'this KBS evaluates CEL policies, not Rego; see docs/policies.md for the CEL equivalents of the upstream policies';
