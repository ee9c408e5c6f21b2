/**
 * The one way a benchmark writes its section of bench/RESULTS.md.
 *
 * A section holds more than the last run: the sessions' notes on earlier runs, across machines,
 * are what the ratios in the issues are judged on. The benches used to replace their whole
 * section with the new table (a full spine run on 2026-12-03 deleted 230 lines of earlier runs
 * and notes). Here the new results go on top and the section's earlier text stays below them,
 * under one "Earlier runs" line; the file is replaced atomically.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RESULTS_FILE = join(import.meta.dirname, 'RESULTS.md');
const EARLIER = 'Earlier runs of this section and the notes on them (kept when a run writes its results above):';

/** Puts `section` (its first line `## Name`) in place of that section, keeping the section's earlier text below it. */
export function writeResultsSection(section: string, file = RESULTS_FILE): void {
  const heading = section.split('\n', 1)[0]!;
  if (!/^## \S/.test(heading)) throw new Error(`a results section starts with "## Name", not ${JSON.stringify(heading)}`);
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n';
  const next = replaceSection(text, section);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, next.endsWith('\n') ? next : `${next}\n`);
  renameSync(tmp, file);
}

/** The text with `section` in place of its heading's section (or appended), the old body kept below. */
export function replaceSection(text: string, section: string): string {
  const heading = section.split('\n', 1)[0]!;
  const lines = text.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) return `${text.trimEnd()}\n\n${section.trimEnd()}\n`;
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const oldBody = lines.slice(start + 1, end).filter((l) => l !== EARLIER).join('\n').trim();
  const body = oldBody ? `${section.trimEnd()}\n\n${EARLIER}\n\n${oldBody}\n` : `${section.trimEnd()}\n`;
  const after = lines.slice(end).join('\n');
  return `${lines.slice(0, start).join('\n').trimEnd()}\n\n${body}${after ? `\n${after}` : ''}`;
}
