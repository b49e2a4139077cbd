/**
 * `npm run build:all` (`scripts/build.ts --all`): binaries for linux-x64, linux-arm64 and
 * linux-x64-musl with a `SHA256SUMS` file that `sha256sum -c` accepts. The host one runs; the
 * arm64 one runs under `qemu-aarch64` when qemu-user and the arm64 C library
 * (`libc6-arm64-cross`) are installed, else that check is skipped and says so. Bun fetches the
 * foreign runtimes from the npm registry on the first build.
 */

import assert from "node:assert/strict";
import { open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { tempDir } from "./_helpers.ts";
import { BUN, ROOT, run } from "./_process.ts";

const TEST_TIMEOUT = { timeout: 300_000 };
const FILES = ["aether-tasks-linux-x64", "aether-tasks-linux-arm64", "aether-tasks-linux-x64-musl"];
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";

/** The ELF machine of a file (62 x86-64, 183 AArch64) and its first 4 KiB as text. */
async function elfHeader(path: string): Promise<{ machine: number; head: string }> {
  const file = await open(path);
  try {
    const buffer = Buffer.alloc(4096);
    await file.read(buffer, 0, buffer.length, 0);
    assert.equal(buffer.subarray(0, 4).toString("latin1"), "\x7fELF", `${path} is an ELF file`);
    return { machine: buffer.readUInt16LE(18), head: buffer.toString("latin1") };
  } finally {
    await file.close();
  }
}

const hasCommand = async (name: string) =>
  (await run(["sh", "-c", `command -v ${name}`], { cwd: ROOT })).code === 0;

describe("the release build", () => {
  let out: { path: string; remove: () => Promise<void> };
  before(async () => {
    out = await tempDir("aether-release-");
  });
  after(() => out.remove());

  it(
    "builds the three Linux binaries and a SHA256SUMS file sha256sum accepts",
    TEST_TIMEOUT,
    async () => {
      const built = await run([BUN, "scripts/build.ts", "--all", "--outdir", out.path], {
        cwd: ROOT,
      });
      assert.equal(built.code, 0, built.stdout + built.stderr);
      const sums = await readFile(join(out.path, "SHA256SUMS"), "utf8");
      assert.deepEqual(sums.trim().split("\n").map((line) => line.split("  ")[1]), FILES);
      const checked = await run(["sha256sum", "-c", "SHA256SUMS"], { cwd: out.path });
      assert.equal(checked.code, 0, checked.stdout + checked.stderr);
      assert.equal(checked.stdout, FILES.map((f) => `${f}: OK\n`).join(""));

      const [x64, arm64, musl] = await Promise.all(FILES.map((f) => elfHeader(join(out.path, f))));
      assert.equal(x64!.machine, 62);
      assert.equal(arm64!.machine, 183);
      assert.equal(musl!.machine, 62);
      assert.match(musl!.head, /ld-musl-x86_64\.so\.1/);
      assert.match(arm64!.head, /ld-linux-aarch64\.so\.1/);
    },
  );

  it("makes a linux-x64 binary that runs here", TEST_TIMEOUT, async () => {
    const result = await run([join(out.path, FILES[0]!), "--version"], { cwd: out.path });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^aether-tasks \d+\.\d+\.\d+ \(schema \d+, bun /);
  });

  it("makes a linux-arm64 binary that runs under qemu-aarch64", TEST_TIMEOUT, async (t) => {
    const sysroot = await stat(ARM64_SYSROOT).then(() => true, () => false);
    if (!(await hasCommand("qemu-aarch64")) || !sysroot) {
      t.skip("qemu-aarch64 or libc6-arm64-cross is not installed");
      return;
    }
    const result = await run(
      ["qemu-aarch64", "-L", ARM64_SYSROOT, join(out.path, FILES[1]!), "--version"],
      { cwd: out.path },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^aether-tasks \d+\.\d+\.\d+ \(schema \d+, bun /);
  });
});
