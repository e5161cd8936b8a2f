// Runs one SQL statement in DuckDB (an in-memory database) and prints the
// rows as a JSON array: the independent reader tests check Parquet output with.
// usage: node internal/duckdb/query.js "SELECT …"
const path = require('path');
const modules = process.env.ETL_DUCKDB_MODULES || path.join(__dirname, '..', '..', '.cache', 'duckdb', 'node_modules');
const { DuckDBInstance } = require(path.join(modules, '@duckdb', 'node-api'));

(async () => {
  const sql = process.argv[2];
  if (!sql) {
    console.error('usage: duckdb-query.js SQL');
    process.exit(2);
  }
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  const reader = await conn.runAndReadAll(sql);
  process.stdout.write(JSON.stringify(reader.getRowObjectsJson()) + '\n');
})().catch((err) => {
  console.error(String(err && err.message ? err.message : err));
  process.exit(1);
});
