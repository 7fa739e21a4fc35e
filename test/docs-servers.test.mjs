// Every TypeScript snippet of docs/servers.md (and the README's migration section) compiles under `strict` against the built package
// (dist/*.d.ts through the package's own exports, as a user's project imports it).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { root } from './helpers.mjs';
import { run } from './servers-common.mjs';

test("the TypeScript snippets of docs/servers.md and the README's migration section compile under strict", {
  timeout: 60_000,
}, async () => {
  const md = readFileSync(path.join(root, 'docs', 'servers.md'), 'utf8');
  const snippets = [...md.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(snippets.length >= 5, `found ${snippets.length} snippets`);
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  const migration = readme.split('\n## From `node:tls`')[1]?.split('\n## ')[0] ?? '';
  const fromReadme = [...migration.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.equal(fromReadme.length, 1, "the README's migration snippet");
  snippets.push(...fromReadme);
  // inside the repository, so that `libtls`, ws, express and fastify resolve as for a user
  const dir = mkdtempSync(path.join(root, 'test', '.snippets-'));
  try {
    const files = snippets.map((code, i) => {
      const f = path.join(dir, `snippet${i}.ts`);
      writeFileSync(f, `${code}\nexport {};\n`);
      return f;
    });
    writeFileSync(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
        },
        files,
      }),
    );
    const r = await run(
      process.execPath,
      [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir],
      {
        ms: 55_000,
      },
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
