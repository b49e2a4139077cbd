/**
 * `aether-tasks migrate`: creates the database or brings its schema up to date.
 * @module
 */

import { defineCommand, JSON_OPTION } from "../command.ts";
import { EXIT_OK } from "../exit.ts";
import { backupBeforeMigration } from "../migration_backup.ts";
import { DB_OPTION, resolveDbPath, withStore } from "../open_store.ts";

/** The `migrate` command. */
export const migrateCommand = defineCommand({
  name: "migrate",
  summary: "Create the database or upgrade its schema to this version",
  usage: "",
  positionals: [0, 0],
  options: { db: DB_OPTION, json: JSON_OPTION },
  details: [
    "worker and enqueue migrate on their own; run this to upgrade ahead of a deploy. A database " +
    "written by a newer aether-tasks is refused (exit 2). Before upgrading an existing " +
    "database, it is copied to DB.bak-vN (N: its schema version; VACUUM INTO, safe while " +
    "workers run); migrations are one-way, so keep that copy until the upgrade is done.",
  ],
  async run({ values, out, env }) {
    const path = resolveDbPath(values.db, env).value;
    const backup = await backupBeforeMigration(path);
    if (backup) {
      await out.note(`Backed up ${path} (schema ${backup.fromVersion}) to ${backup.path}\n`);
    }
    return await withStore(path, { missing: "create" }, async (store) => {
      await store.migrate();
      if (values.json) {
        await out.printJson({
          db: path,
          schemaVersion: store.schemaVersion,
          backup: backup?.path ?? null,
        });
      } else await out.print(`${path} is at schema version ${store.schemaVersion}\n`);
      return EXIT_OK;
    });
  },
});
