// Compiles TypeScript files with `strict` inside a project directory (resolving @craft/client
// from its node_modules, through the package's "exports") and returns the diagnostics.
import ts from "typescript";

export const compilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
  types: [],
  // The shipped .d.ts (and @bufbuild/protobuf's) must themselves compile under strict;
  // TypeScript's own lib files need no checking.
  skipLibCheck: false,
  skipDefaultLibCheck: true,
};

/**
 * One program for all the files (they do not import each other), so the libraries are checked
 * once. Returns a Map from file to [{ line (1-based), code: "TS2345", message (first line), full }].
 */
export function typecheck(files) {
  const program = ts.createProgram(files, compilerOptions);
  const byFile = new Map(files.map((f) => [f, []]));
  const other = [];
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const entry = describe(d);
    (byFile.get(entry.file) ?? other).push(entry);
  }
  // Diagnostics outside the listed files (a shipped .d.ts, the options) belong to every file.
  for (const list of byFile.values()) list.unshift(...other);
  return byFile;
}

function describe(d) {
  const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
  const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
  return { file: d.file?.fileName ?? "", line, code: `TS${d.code}`, message: text.split("\n")[0], full: text };
}

/** The `//! TS1234 message start` markers of a source: [{ line, code, message }]. */
export function expectedDiagnostics(source) {
  const out = [];
  source.split("\n").forEach((text, i) => {
    const m = /\/\/! (TS\d+) (.+)$/.exec(text);
    if (m) out.push({ line: i + 1, code: m[1], message: m[2].trim() });
  });
  return out;
}
