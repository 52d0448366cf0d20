import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plainDaemonArgs } from './daemon.js';

test('plain daemon invocations are recognised without the argument parser', () => {
  assert.deepEqual(plainDaemonArgs([]), { debug: false });
  assert.deepEqual(plainDaemonArgs(['-c', '/etc/cdh.toml']), { debug: false, config: '/etc/cdh.toml' });
  assert.deepEqual(plainDaemonArgs(['--config=/a.toml', '--socket', 'unix:///s', '--debug']), {
    debug: true,
    config: '/a.toml',
    socket: 'unix:///s',
  });
  assert.deepEqual(plainDaemonArgs(['--config', 'a', '-c', 'b']), { debug: false, config: 'b' });
});

test('everything else goes to the full parser (subcommands, help, odd or missing values)', () => {
  for (const argv of [
    ['unseal-secret', '--secret-path', 'x'],
    ['--socket', 'unix:///s', 'exec', '--', 'true'],
    ['-c', 'a', 'watch', '--dir', 'd'],
    ['--help'],
    ['-h'],
    ['--version'],
    ['-V'],
    ['-c'],
    ['-c', ''],
    ['-c', '--debug'],
    ['--config='],
    ['-cfile'],
    ['--socket'],
    ['--unknown'],
    ['extra'],
  ]) {
    assert.equal(plainDaemonArgs(argv), undefined, argv.join(' '));
  }
});
