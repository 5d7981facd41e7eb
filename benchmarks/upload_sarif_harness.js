// Runs github/codeql-action's own upload-sarif processing on a SARIF file, without uploading:
// the functions upload-sarif calls before its HTTP request, from codeql-action's compiled
// modules (its `build/` folder, given as CODEQL_ACTION_BUILD). Nothing here reimplements them.
//
//   node upload_sarif_harness.js process SARIF CHECKOUT [CATEGORY]   -> JSON on stdout
//   node upload_sarif_harness.js hash FILE...                         -> JSON on stdout
//
// `process` is upload-sarif's postProcessSarifFiles (read, schema validation, the one-run-per-
// category check, fingerprinting, automation details), then uploadPostProcessedFiles' checks
// before the request (validateUniqueCategory, JSON serialisation, gzip). `hash` is
// fingerprints.hash, the per-line hash upload-sarif computes.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const zlib = require("zlib");

const build = process.env.CODEQL_ACTION_BUILD;
if (!build) {
  console.error("set CODEQL_ACTION_BUILD to codeql-action's compiled build/ folder");
  process.exit(2);
}
// The one constant codeql-action's bundler defines at build time (build.mjs `define`).
globalThis.__CODEQL_ACTION_VERSION__ = require(path.join(build, "..", "package.json")).version;
const uploadLib = require(path.join(build, "upload-lib.js"));
const fingerprints = require(path.join(build, "fingerprints.js"));
const analyses = require(path.join(build, "analyses.js"));

function capturingLogger(messages) {
  const keep = (level) => (m) => messages.push({ level, text: String(m instanceof Error ? m.message : m) });
  return {
    debug: keep("debug"), info: keep("info"), warning: keep("warning"), error: keep("error"),
    isDebug: () => true, startGroup: () => undefined, endGroup: () => undefined,
  };
}

async function hashFiles(files) {
  const out = {};
  for (const file of files) {
    const lines = [];
    await fingerprints.hash((line, hash) => lines.push([line, hash]), file);
    out[file] = lines;
  }
  return out;
}

async function processSarif(sarifPath, checkout, category) {
  // upload-sarif runs on github.com (no API call for the version), as one job of one workflow.
  process.env.GITHUB_SERVER_URL ??= "https://github.com";
  process.env.GITHUB_API_URL ??= "https://api.github.com";
  process.env.CODEQL_ACTION_ANALYSIS_KEY ??= ".github/workflows/mlsecops.yml:gate";
  process.env.INPUT_MATRIX ??= "null";
  process.env.RUNNER_TEMP ??= fs.mkdtempSync(path.join(os.tmpdir(), "upload-sarif-"));  // no PR diff ranges in it
  process.env.INPUT_TOKEN ??= "unused";
  if (!process.env.GITHUB_ENV) {  // core.exportVariable appends here
    process.env.GITHUB_ENV = path.join(process.env.RUNNER_TEMP, "github-env");
    fs.writeFileSync(process.env.GITHUB_ENV, "");
  }  // an API client is built, but on github.com no request is made
  const messages = [];
  const logger = capturingLogger(messages);
  const features = { getValue: async () => false };
  const started = process.hrtime.bigint();
  let error = null;
  let result = null;
  let zippedBytes = null;
  try {
    const processed = await uploadLib.postProcessSarifFiles(
      logger, features, checkout, [sarifPath], category || undefined, analyses.CodeScanning);
    uploadLib.validateUniqueCategory(processed.sarif, analyses.CodeScanning.sentinelPrefix);
    zippedBytes = zlib.gzipSync(JSON.stringify(processed.sarif)).length;
    result = processed.sarif;
  } catch (e) {
    error = `${e.constructor.name}: ${e.message}`;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const runs = (result?.runs || []).map((run) => ({
    automationId: run.automationDetails?.id ?? null,
    results: (run.results || []).map((r) => ({
      uri: r.locations?.[0]?.physicalLocation?.artifactLocation?.uri ?? null,
      startLine: r.locations?.[0]?.physicalLocation?.region?.startLine ?? null,
      primaryLocationLineHash: r.partialFingerprints?.primaryLocationLineHash ?? null,
    })),
  }));
  return {
    seconds, error, zippedBytes, runs,
    warnings: messages.filter((m) => m.level === "warning" || m.level === "error").map((m) => m.text),
    hashedFiles: messages.filter((m) => m.level === "debug" && m.text.startsWith("Unable to compute")).map((m) => m.text),
  };
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  let out;
  if (mode === "hash") out = await hashFiles(args);
  else if (mode === "process") out = await processSarif(args[0], args[1], args[2]);
  else {
    console.error("usage: upload_sarif_harness.js process SARIF CHECKOUT [CATEGORY] | hash FILE...");
    process.exit(2);
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
