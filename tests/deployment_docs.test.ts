/**
 * The deployment files in docs/: the systemd unit passes `systemd-analyze verify` with no
 * warning, and the binary accepts the command line and environment of the unit and of the
 * Dockerfile (Docker itself cannot run here, so the image is not built).
 */

import assert from "node:assert/strict";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FORCED_EXIT_MILLIS } from "../src/cli/commands/worker.ts";
import { parseDuration } from "../src/duration.ts";
import { tempDir } from "./_helpers.ts";
import { binary, childEnv, ROOT, run } from "./_process.ts";

const TEST_TIMEOUT = { timeout: 120_000 };
const UNIT = join(ROOT, "docs/aether-tasks.service");
const DOCKERFILE = join(ROOT, "docs/Dockerfile");
const INSTALLED_BINARY = "/usr/local/bin/aether-tasks";

/** `Key=value` lines of a unit's `[Service]` section (a key may repeat). */
function serviceEntries(unit: string): [string, string][] {
  const section = unit.split(/^\[Service\]$/m)[1]!.split(/^\[/m)[0]!;
  return section.split("\n").filter((line) => /^[A-Za-z]+=/.test(line)).map((line) => {
    const at = line.indexOf("=");
    return [line.slice(0, at), line.slice(at + 1)];
  });
}

/** The `ENV` settings of a Dockerfile (one `ENV` with `\` continued lines). */
function dockerEnv(dockerfile: string): Record<string, string> {
  const joined = dockerfile.replace(/\\\n\s*/g, " ");
  const env: Record<string, string> = {};
  for (const line of joined.split("\n").filter((l) => l.startsWith("ENV "))) {
    for (const [, key, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
  }
  return env;
}

/** What `worker --print-config --json` prints. */
interface PrintedConfig {
  config: Record<string, unknown>;
  sources: Record<string, string>;
}

const hasCommand = async (name: string) =>
  (await run(["sh", "-c", `command -v ${name}`], { cwd: ROOT })).code === 0;

describe("the systemd unit", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir("aether-unit-");
  });
  after(() => dir.remove());

  it("passes systemd-analyze verify with no warnings", TEST_TIMEOUT, async (t) => {
    if (!(await hasCommand("systemd-analyze"))) {
      t.skip("systemd-analyze is not installed (apt-get install systemd)");
      return;
    }
    // verify checks that ExecStart's program exists: point it at the built binary.
    const unit = (await readFile(UNIT, "utf8")).replaceAll(INSTALLED_BINARY, await binary());
    const path = join(dir.path, "aether-tasks.service");
    await writeFile(path, unit);
    const result = await run(["systemd-analyze", "verify", path], { cwd: dir.path });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, "", "no warnings");
  });

  it(
    "starts a worker command the binary accepts, and waits longer than the grace",
    TEST_TIMEOUT,
    async () => {
      const entries = serviceEntries(await readFile(UNIT, "utf8"));
      const env: Record<string, string> = {};
      for (const [key, value] of entries) {
        if (key === "Environment") {
          const at = value.indexOf("=");
          env[value.slice(0, at)] = value.slice(at + 1);
        }
      }
      const exec = entries.find(([key]) => key === "ExecStart")![1].split(" ");
      assert.equal(exec[0], INSTALLED_BINARY);
      const result = await run([await binary(), ...exec.slice(1), "--print-config", "--json"], {
        cwd: dir.path,
        env: childEnv(env),
      });
      assert.equal(result.code, 0, result.stderr);
      const { config, sources } = JSON.parse(result.stdout) as PrintedConfig;
      assert.equal(config.db, "/var/lib/aether-tasks/tasks.db");
      assert.equal(sources.db, "AETHER_DB");
      assert.equal(config.logFormat, "json");

      const stopSeconds = Number(entries.find(([key]) => key === "TimeoutStopSec")![1]);
      const graceMillis = parseDuration(env.AETHER_GRACE, "AETHER_GRACE");
      assert.ok(
        stopSeconds * 1000 > graceMillis + FORCED_EXIT_MILLIS,
        "TimeoutStopSec > grace + 5 s",
      );
      const noRestart = entries.find(([key]) => key === "RestartPreventExitStatus")![1];
      assert.equal(noRestart, "2", "configuration errors (exit 2) are not restarted");
    },
  );
});

describe("the Dockerfile", () => {
  let dir: { path: string; remove: () => Promise<void> };
  before(async () => {
    dir = await tempDir("aether-docker-");
  });
  after(() => dir.remove());

  it(
    "runs a worker command and environment the binary accepts; without a token it refuses to start",
    TEST_TIMEOUT,
    async () => {
      const dockerfile = await readFile(DOCKERFILE, "utf8");
      const env = dockerEnv(dockerfile);
      assert.equal(env.AETHER_ADMIN, "0.0.0.0:7070");
      const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)![1]!) as string[];
      assert.deepEqual(JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)![1]!), [
        INSTALLED_BINARY,
      ]);
      // The image's paths, moved into a temporary folder.
      await mkdir(join(dir.path, "handlers"));
      await writeFile(
        join(dir.path, "handlers", "noop.ts"),
        'import { defineTask } from "aether-tasks";\nexport default defineTask({ name: "noop", run: () => null });\n',
      );
      const local = {
        ...env,
        AETHER_DB: join(dir.path, "tasks.db"),
        AETHER_HANDLERS: join(dir.path, "handlers"),
      };
      const exe = await binary();
      const config = await run([exe, ...cmd, "--print-config", "--json"], {
        cwd: dir.path,
        env: childEnv({ ...local, AETHER_ADMIN_TOKEN: "x".repeat(32) }),
      });
      assert.equal(config.code, 0, config.stderr);
      const printed = JSON.parse(config.stdout) as PrintedConfig;
      assert.equal(printed.config.admin, "0.0.0.0:7070");
      assert.equal(printed.sources.admin, "AETHER_ADMIN");

      const refused = await run([exe, ...cmd], { cwd: dir.path, env: childEnv(local) });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /token/i);
    },
  );
});
