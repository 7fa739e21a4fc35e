#!/usr/bin/env node
// Summarises V8 CPU profiles (`node --cpu-prof`, or `node bench/run.mjs --cpu-prof`): the functions
// with the most self time, over every .cpuprofile file given (or found under the given directories).
//
//   node bench/prof-top.mjs [--top N] FILE_OR_DIR...
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
let top = 25;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else inputs.push(args[i]);
}
if (inputs.length === 0) {
  process.stderr.write('usage: node bench/prof-top.mjs [--top N] FILE_OR_DIR...\n');
  process.exit(2);
}

function files(p, depth = 0) {
  if (depth > 8) return [];
  if (statSync(p).isDirectory()) return readdirSync(p).flatMap((f) => files(path.join(p, f), depth + 1));
  return p.endsWith('.cpuprofile') ? [p] : [];
}

const self = new Map();
let total = 0;
for (const f of inputs.flatMap((p) => files(p))) {
  const prof = JSON.parse(readFileSync(f, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const deltas = prof.timeDeltas ?? [];
  for (let i = 0; i < prof.samples.length; i++) {
    const n = byId.get(prof.samples[i]);
    const us = deltas[i] ?? 0;
    if (!n) continue;
    const cf = n.callFrame;
    const where = cf.url
      ? `${cf.url.replace(/^file:\/\/.*?\/(dist|bench|node_modules)\//, '$1/')}:${cf.lineNumber + 1}`
      : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
    self.set(key, (self.get(key) ?? 0) + us);
    total += us;
  }
}
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
process.stdout.write(`total sampled: ${(total / 1000).toFixed(0)} ms\n`);
for (const [k, us] of rows) {
  process.stdout.write(
    `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}\n`,
  );
}
