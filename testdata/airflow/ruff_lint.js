// Lints Python files with ruff's Airflow rules (AIR, preview on), through
// ruff's WebAssembly build: offline, no Python tooling needed. Prints one
// JSON object: {ruff: version, findings: [{file, row, column, code, message}]}.
// usage: node testdata/airflow/ruff_lint.js FILE...
const fs = require('fs');
const path = require('path');
const modules = path.join(__dirname, '..', '..', '.cache', 'ruff', 'node_modules');
const { Workspace, PositionEncoding } = require(path.join(modules, '@astral-sh', 'ruff-wasm-nodejs'));

const ws = new Workspace({ 'target-version': 'py39', lint: { select: ['AIR'], preview: true } }, PositionEncoding.Utf8);
const findings = [];
for (const file of process.argv.slice(2)) {
  for (const d of ws.check(fs.readFileSync(file, 'utf8'))) {
    findings.push({ file, row: d.start_location.row, column: d.start_location.column, code: d.code, message: d.message });
  }
}
process.stdout.write(JSON.stringify({ ruff: Workspace.version(), findings }) + '\n');
