/**
 * `aether-tasks version`: the version, the database schema version and the runtime.
 * @module
 */

import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { versionInfo } from "../version.ts";

/** The `version` command (also `--version`). */
export const versionCommand = defineCommand({
  name: "version",
  summary: "Print the version, the database schema version and the runtime",
  usage: "",
  positionals: [0, 0],
  options: { json: JSON_OPTION },
  async run({ values, out }) {
    const info = versionInfo();
    if (values.json) await out.printJson(info);
    else {await out.print(
        `aether-tasks ${info.version} (schema ${info.schemaVersion}, ${info.runtime})\n`,
      );}
    return EXIT_OK;
  },
});
