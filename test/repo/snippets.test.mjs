// Every TypeScript snippet of the README and of docs/*.md compiles under `strict` against the
// package's published types (dist/*.d.ts through package.json's "exports"), each block as a module
// of its own. The harness itself is checked: a snippet with a type error must be reported.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { root, tempDir } from '../support/helpers.mjs';

const run = promisify(execFile);

/** The ```ts blocks of `file`, with the line each starts on. */
function snippetsOf(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out = [];
  let start = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (start < 0 && /^```(ts|typescript)\s*$/.test(line)) start = i;
    else if (start >= 0 && /^```\s*$/.test(line)) {
      out.push({
        file: path.relative(root, file),
        line: start + 1,
        code: lines.slice(start + 1, i).join('\n'),
      });
      start = -1;
    }
  }
  return out;
}

/** README.md and every docs/*.md (docs/api is TypeDoc's output). */
function markdownFiles() {
  const files = [path.join(root, 'README.md')];
  const docs = path.join(root, 'docs');
  if (existsSync(docs)) {
    for (const f of readdirSync(docs).sort()) if (f.endsWith('.md')) files.push(path.join(docs, f));
  }
  return files;
}

/**
 * A directory where `import ... from 'libtls'` resolves to this repository (its package.json and
 * dist/) and every other import to the repository's node_modules.
 */
function project(dir) {
  const nm = path.join(dir, 'node_modules');
  mkdirSync(nm);
  for (const entry of readdirSync(path.join(root, 'node_modules'))) {
    if (entry === '.bin' || entry === '.package-lock.json') continue;
    symlinkSync(path.join(root, 'node_modules', entry), path.join(nm, entry));
  }
  symlinkSync(root, path.join(nm, 'libtls'));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
}

/** Compiles `snippets` ({ name, code }) under strict; returns tsc's diagnostics ('' when none). */
async function compile(dir, snippets) {
  for (const s of snippets) writeFileSync(path.join(dir, s.name), `${s.code}\nexport {};\n`);
  writeFileSync(
    path.join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'ESNext.Disposable'],
        types: ['node'],
        skipLibCheck: true,
      },
      files: snippets.map((s) => s.name),
    }),
  );
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    await run(process.execPath, [tsc, '-p', dir], { cwd: dir, timeout: 120_000, maxBuffer: 1 << 24 });
    return '';
  } catch (err) {
    if (typeof err.stdout !== 'string' || err.stdout === '') throw err;
    return err.stdout;
  }
}

test('every ```ts snippet of README.md and docs/*.md compiles under strict against the published types', {
  timeout: 180_000,
}, async (t) => {
  const snippets = markdownFiles().flatMap(snippetsOf);
  assert.ok(snippets.length >= 4, `found ${snippets.length} snippets`);
  const dir = tempDir(t.after.bind(t));
  project(dir);
  const named = snippets.map((s) => ({
    ...s,
    name: `${s.file.replaceAll(/[^A-Za-z0-9]/g, '_')}_line${s.line}.ts`,
  }));
  // the harness reports a type error (else a broken snippet would pass unseen)
  const control = {
    name: 'control.ts',
    code: "import { connect } from 'libtls';\nconst n: number = connect;",
  };
  const out = await compile(dir, [...named, control]);
  assert.match(out, /^control\.ts\(2,7\): error TS2322/m, `the control snippet's error is reported:\n${out}`);
  const errors = out
    .split('\n')
    .filter((l) => l !== '' && !l.startsWith('control.ts'))
    .map((l) => {
      const s = named.find((n) => l.startsWith(n.name));
      return s ? `${s.file}, the snippet at line ${s.line}: ${l.slice(s.name.length)}` : l;
    });
  assert.deepEqual(errors, [], `snippets that do not compile:\n${errors.join('\n')}`);
});
