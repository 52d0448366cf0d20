export async function main(_argv: string[]): Promise<void> {
  process.stderr.write('kbs: not yet available in this version of cocoseal\n');
  process.exitCode = 1;
}
