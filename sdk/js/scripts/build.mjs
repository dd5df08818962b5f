// Builds dist/ from src/ (run by `npm run build` and by `npm pack` / `npm publish` through prepack):
//   dist/esm      ES modules + .d.ts (import)
//   dist/cjs      CommonJS + .d.ts, with a package.json saying so (require)
//   dist/browser/craft.js         one minified ES module for <script type="module">, dependencies included
//   dist/browser/craft.global.js  the same as a classic script for <script src>: a global `Craft`
// Source maps carry their sources, so the package does not ship src/.
import { execFileSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { build } from "esbuild";

process.chdir(path.resolve(path.dirname(fileURLToPath(import.meta.url)), ".."));
rmSync("dist", { recursive: true, force: true });
const tsc = "node_modules/typescript/bin/tsc";
execFileSync(process.execPath, [tsc, "-p", "tsconfig.json"], { stdio: "inherit" });
execFileSync(process.execPath, [tsc, "-p", "tsconfig.cjs.json"], { stdio: "inherit" });
// Node and TypeScript read dist/cjs/*.js and *.d.ts as CommonJS because of this file.
writeFileSync("dist/cjs/package.json", JSON.stringify({ type: "commonjs" }) + "\n");
mkdirSync("dist/browser", { recursive: true });
const common = {
  entryPoints: ["src/index.ts"],
  bundle: true,
  target: "es2022",
  minify: true,
  sourcemap: true,
  sourcesContent: true,
  legalComments: "eof",
  logLevel: "warning",
};
await build({ ...common, format: "esm", outfile: "dist/browser/craft.js" });
await build({ ...common, format: "iife", globalName: "Craft", outfile: "dist/browser/craft.global.js" });
console.log("built dist/esm, dist/cjs, dist/browser/craft.js, dist/browser/craft.global.js");
