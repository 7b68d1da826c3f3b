// Type-checks each Grafana dashboard against @grafana/schema: every JSON
// file becomes `export const dashboard = <json> satisfies AsJson<Dashboard>`,
// so an unknown field, a wrong type or a missing required field fails `tsc`.
// `AsJson` only spells the schema's string enums (`ThresholdsMode.Absolute`)
// as the strings a JSON file holds (`"absolute"`); everything else is the
// schema's own type.
// Usage: node typecheck.mjs DASHBOARD_DIR (run where `npm ci` installed).
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";

const source = resolve(process.argv[2] ?? "");
const out = resolve("generated");
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
const files = readdirSync(source).filter((f) => f.endsWith(".json"));
if (files.length === 0) {
  console.error(`no dashboards in ${source}`);
  process.exit(1);
}
writeFileSync(
  join(out, "as-json.ts"),
  `// A type as JSON spells it: string enums become their values.
export type AsJson<T> = T extends string
  ? \`\${T}\`
  : T extends number | boolean | null | undefined
    ? T
    : T extends Array<infer U>
      ? Array<AsJson<U>>
      : T extends object
        ? { [K in keyof T]: AsJson<T[K]> }
        : T;
`,
);
for (const file of files) {
  const json = readFileSync(join(source, file), "utf8");
  JSON.parse(json); // a clear error for a file that is not JSON at all
  writeFileSync(
    join(out, `${basename(file, ".json")}.ts`),
    `// Generated from ${file}.\nimport type { Dashboard } from "@grafana/schema";\nimport type { AsJson } from "./as-json.js";\n\nexport const dashboard = ${json.trim()} satisfies AsJson<Dashboard>;\n`,
  );
}
writeFileSync(
  "tsconfig.json",
  JSON.stringify({
    compilerOptions: {
      strict: true,
      noEmit: true,
      module: "nodenext",
      moduleResolution: "nodenext",
      target: "es2022",
      skipLibCheck: true,
    },
    include: ["generated/*.ts"],
  }),
);
execFileSync(join("node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], { stdio: "inherit" });
console.log(`${files.length} dashboards satisfy @grafana/schema's Dashboard`);
