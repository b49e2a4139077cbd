/**
 * The files `aether-tasks init` writes, as text embedded in the binary at build time (text
 * imports): an example handler, the declarations of the `"aether-tasks"` module and of valibot
 * (the version the binary embeds), and editor settings that map both module names to them.
 * @module
 */

import valibotDeclarations from "../../../node_modules/valibot/dist/index.d.mts" with {
  type: "text",
};
import valibotPackage from "../../../node_modules/valibot/package.json" with { type: "json" };
import declarations from "./aether-tasks.d.ts" with { type: "text" };
import exampleHandler from "./example_handler.ts" with { type: "text" };

/** One scaffolded file: its path relative to the target folder and its text. */
export interface ScaffoldFile {
  path: string;
  text: string;
}

/** Where the declarations go, relative to the target folder. */
export const TYPES_DIR = "types";

const PATHS = {
  "aether-tasks": `./${TYPES_DIR}/aether-tasks.d.ts`,
  valibot: `./${TYPES_DIR}/valibot.d.mts`,
} as const;

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** The files of a new handlers project, in the order they are written. */
export function scaffoldFiles(): ScaffoldFile[] {
  return [
    { path: "handlers/hello.ts", text: exampleHandler },
    { path: PATHS["aether-tasks"].slice(2), text: declarations },
    {
      path: PATHS.valibot.slice(2),
      text: `// valibot ${valibotPackage.version} type declarations (MIT licence, ` +
        `https://valibot.dev), the version aether-tasks embeds; written by aether-tasks init.\n` +
        valibotDeclarations,
    },
    {
      // Deno's editor support and `deno check handlers/`.
      path: "deno.json",
      text: json({ imports: PATHS, compilerOptions: { strict: true } }),
    },
    {
      // TypeScript's editor support (VS Code and others): type checking only, nothing is emitted.
      path: "tsconfig.json",
      text: json({
        compilerOptions: {
          target: "ES2022",
          module: "ESNext",
          moduleResolution: "Bundler",
          lib: ["ES2022", "DOM"],
          types: [],
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          skipLibCheck: true,
          paths: { "aether-tasks": [PATHS["aether-tasks"]], valibot: [PATHS.valibot] },
        },
        include: ["handlers/**/*.ts", `${TYPES_DIR}/*.d.ts`],
      }),
    },
  ];
}
