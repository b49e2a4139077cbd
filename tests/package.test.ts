/**
 * The package metadata: `package.json` and `deno.json` agree on the version, name the MIT
 * licence, export `mod.ts` (types too) and the handler API, and `npm pack` ships the library's
 * source and licence but no tests or build output.
 */

import assert from "node:assert/strict";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT, run } from "./_process.ts";

const readJson = async (file: string) =>
  JSON.parse(await readFile(join(ROOT, file), "utf8")) as Record<string, unknown>;

describe("the package", () => {
  it("is publishable: not private, MIT, exports with types that exist", async () => {
    const pkg = await readJson("package.json");
    assert.equal(pkg.private, undefined);
    assert.equal(pkg.license, "MIT");
    const exports = pkg.exports as Record<string, { types: string; default: string } | string>;
    assert.deepEqual(exports["."], { types: "./mod.ts", default: "./mod.ts" });
    for (const entry of Object.values(exports)) {
      for (const file of typeof entry === "string" ? [entry] : Object.values(entry)) {
        assert.ok((await stat(join(ROOT, file))).isFile(), file);
      }
    }
    assert.match(
      await readFile(join(ROOT, "LICENSE"), "utf8"),
      /^MIT License\n\nCopyright \(c\) \d{4} aether-tasks contributors\n/,
    );
  });

  it("has a deno.json with the same version and the same exports", async () => {
    const pkg = await readJson("package.json");
    const deno = await readJson("deno.json");
    assert.equal(deno.name, "@aether/tasks");
    assert.equal(deno.version, pkg.version);
    assert.equal(deno.license, "MIT");
    const npmExports = pkg.exports as Record<string, unknown>;
    const denoExports = deno.exports as Record<string, string>;
    for (const [path, file] of Object.entries(denoExports)) {
      assert.deepEqual(npmExports[path], { types: file, default: file }, path);
    }
  });

  it(
    "packs the source, the licence and package.json, and of the tests only the shared suites",
    { timeout: 60_000 },
    async () => {
      const packed = await run(["npm", "pack", "--dry-run", "--json"], { cwd: ROOT });
      assert.equal(packed.code, 0, packed.stderr);
      const [{ files }] = JSON.parse(packed.stdout) as [{ files: { path: string }[] }];
      const paths = files.map((f) => f.path);
      for (
        const path of ["mod.ts", "src/handler_api.ts", "src/cli/main.ts", "LICENSE", "package.json"]
      ) {
        assert.ok(paths.includes(path), `${path} is packed`);
      }
      // tests/: only the suites aether-tasks/testing exports (for other store backends).
      assert.deepEqual(paths.filter((p) => /^(tests|dist|scripts|node_modules)\//.test(p)).sort(), [
        "tests/_helpers.ts",
        "tests/store_conformance.ts",
        "tests/worker_suite.ts",
      ]);
    },
  );
});
