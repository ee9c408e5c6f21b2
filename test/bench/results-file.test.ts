import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceSection, writeResultsSection } from '../../bench/results-file.ts';

t.test('a run writes its table on top and keeps the section\'s history and the other sections', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'results-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'RESULTS.md');
  writeFileSync(file, '# Benchmark results\n\n## Spine\n\nRun 1\n\n| a | 1 |\n\nnote on run 1 ($1 and $& kept as written)\n\n## Imaging\n\nimaging notes\n');
  writeResultsSection('## Spine\n\nRun 2\n\n| a | 2 |\n', file);
  writeResultsSection('## Spine\n\nRun 3\n\n| a | 3 |\n', file);
  const text = readFileSync(file, 'utf8');
  t.ok(text.indexOf('Run 3') < text.indexOf('Run 2') && text.indexOf('Run 2') < text.indexOf('Run 1'), 'newest first');
  t.match(text, /note on run 1 \(\$1 and \$& kept as written\)/, 'notes kept byte for byte');
  t.equal(text.split('Earlier runs of this section').length - 1, 1, 'one "Earlier runs" line however many runs');
  t.match(text, /## Imaging\n\nimaging notes\n$/, 'the next section untouched');
  writeResultsSection('## Network\n\nfirst\n', file);
  t.match(readFileSync(file, 'utf8'), /imaging notes\n\n## Network\n\nfirst\n$/, 'a new section is appended');
  t.throws(() => writeResultsSection('Spine\n', file), /starts with "## Name"/);
});

t.test('generated files: nothing outside the section changes, nothing of it is lost', async (t) => {
  const line = fc.stringMatching(/^[a-z0-9 |$&.-]{0,20}$/);
  fc.assert(fc.property(fc.array(line, { maxLength: 6 }), fc.array(line, { maxLength: 6 }), fc.array(line, { maxLength: 6 }), fc.array(line, { minLength: 1, maxLength: 4 }), (before, body, after, fresh) => {
    const text = ['# B', '', ...before, '## S', ...body, '## T', ...after].join('\n');
    const out = replaceSection(text, ['## S', ...fresh].join('\n'));
    const [head, rest] = [out.slice(0, out.indexOf('## S\n')), out.slice(out.indexOf('## S\n'))];
    if (head.trimEnd() !== ['# B', '', ...before].join('\n').trimEnd()) return false;
    const tail = rest.slice(rest.indexOf('\n## T'));
    if (tail !== '\n' + ['## T', ...after].join('\n')) return false;
    const section = rest.slice(0, rest.indexOf('\n## T'));
    return [...body, ...fresh].every((l) => section.includes(l.trim()));
  }), { numRuns: 300 });
  t.pass('300 generated files');
});
