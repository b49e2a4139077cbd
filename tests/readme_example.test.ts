/**
 * The README's "Library use" example, extracted from README.md (the fenced block after the
 * `<!-- tested: tests/readme_example.test.ts -->` marker) so it cannot drift, runs as written in
 * a fresh folder where aether-tasks is installed as a package: under Bun a copy unpacked from
 * `npm pack` (what `npm install` of the tarball puts in `node_modules`), under Deno a link to the
 * checkout (what `npm install /path/to/aether-tasks` makes; Deno does not strip types under
 * `node_modules`). No import map, no `data/` folder.
 */

import assert from "node:assert/strict";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { BUN, childEnv, DENO, ROOT, run } from "./_process.ts";

const MARKER = "<!-- tested: tests/readme_example.test.ts";
const isBun = "bun" in process.versions;

/** The code of the first fenced `ts` block after the marker in README.md. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, "README.md"), "utf8");
  const marker = readme.indexOf(MARKER);
  assert.notEqual(marker, -1, `README.md has no ${MARKER} marker`);
  const match = /```ts\n([\s\S]*?)\n```/.exec(readme.slice(marker));
  assert.ok(match, "no ```ts block after the marker");
  return match[1]! + "\n";
}

/** Puts aether-tasks into `dir/node_modules` as npm would: a packed copy, or a link. */
async function installPackage(dir: string, how: "tarball" | "link"): Promise<void> {
  const modules = join(dir, "node_modules");
  await mkdir(modules);
  // The package's own dependencies, as `npm install` would bring them.
  const { dependencies } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as {
    dependencies: Record<string, string>;
  };
  for (const name of Object.keys(dependencies)) {
    // A scoped name (@logtape/logtape) lives in its scope's folder.
    await mkdir(dirname(join(modules, name)), { recursive: true });
    await symlink(join(ROOT, "node_modules", name), join(modules, name));
  }
  if (how === "link") {
    await symlink(ROOT, join(modules, "aether-tasks"));
    return;
  }
  const packed = await run(["npm", "pack", "--pack-destination", dir, "--silent"], { cwd: ROOT });
  assert.equal(packed.code, 0, packed.stderr);
  const tarball = join(dir, packed.stdout.trim().split("\n").pop()!);
  await mkdir(join(modules, "aether-tasks"));
  const unpacked = await run(
    ["tar", "xzf", tarball, "-C", join(modules, "aether-tasks"), "--strip-components=1"],
    { cwd: dir },
  );
  assert.equal(unpacked.code, 0, unpacked.stderr);
}

describe("the README's library example", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir("aether-readme-");
  });
  after(() => dir.remove());

  it(
    "runs as written in a fresh folder with the package installed",
    { timeout: 60_000 },
    async () => {
      await writeFile(join(dir.path, "main.ts"), await readmeExample());
      await writeFile(
        join(dir.path, "package.json"),
        JSON.stringify({ type: "module", dependencies: { "aether-tasks": "*", valibot: "*" } }),
      );
      await installPackage(dir.path, isBun ? "tarball" : "link");
      const command = isBun ? [BUN, "main.ts"] : [DENO, "run", "-A", "main.ts"];
      const result = await run(command, { cwd: dir.path, env: childEnv() });
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /mail to ada@example\.com/);
      assert.match(result.stdout, /COMPLETED \{\s*sent: true,?\s*\}/);
    },
  );
});
