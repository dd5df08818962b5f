// Builds dist/esm (ES modules), dist/cjs (CommonJS), dist/types (.d.ts) and
// dist/browser/craft.js (one ES module for <script type="module">, dependencies included).
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

rmSync("dist", { recursive: true, force: true });
const tsc = "node_modules/typescript/bin/tsc";
execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { stdio: "inherit" });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.cjs.json"], { stdio: "inherit" });
writeFileSync("dist/cjs/package.json", JSON.stringify({ type: "commonjs" }) + "\n");
mkdirSync("dist/browser", { recursive: true });
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: "dist/browser/craft.js",
  sourcemap: true,
  logLevel: "warning",
});
console.log("built dist/esm, dist/cjs, dist/types, dist/browser/craft.js");
