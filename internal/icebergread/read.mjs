// Reads one Iceberg table the way a reader that shares no code with
// iceberg-go would, and prints what it found as JSON:
//   1. the catalog's row (SQLite, with the sqlite3 command): the current
//      metadata location;
//   2. that metadata JSON: the current snapshot, every snapshot's summary,
//      the table's properties, schema and partition spec;
//   3. the current snapshot's manifest list and manifests (Avro, with the
//      npm package avsc), skipping entries whose status is 2 (deleted);
//   4. the live data files with DuckDB's read_parquet: each file's row count
//      and dt values checked against its manifest entry, then the caller's
//      query over them.
// usage: node read.mjs '{"catalog": "catalog.db", "namespace": "etl",
//          "tables": ["end_users"], "s3_root": "/dir", "sql": "SELECT … FROM {files}"}'
// prints {"tables": {"end_users": {…}, …}}
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const cache = path.join(here, '..', '..', '.cache');
const require = createRequire(import.meta.url);
const avro = require(path.join(process.env.ETL_ICEBERG_MODULES || path.join(cache, 'icebergread', 'node_modules'), 'avsc'));
const { DuckDBInstance } = require(path.join(process.env.ETL_DUCKDB_MODULES || path.join(cache, 'duckdb', 'node_modules'), '@duckdb', 'node-api'));

const req = JSON.parse(process.argv[2] || '{}');
if (!req.catalog || !req.tables) {
  console.error('usage: node read.mjs \'{"catalog": "catalog.db", "tables": ["t"], ...}\'');
  process.exit(2);
}
const namespace = req.namespace || 'etl';

// A location as a local path: file:// as is, s3://bucket/key under the
// S3 server's directory (the posix backend keeps objects as files).
const local = (uri) => {
  if (uri.startsWith('file://')) return uri.slice('file://'.length);
  if (uri.startsWith('s3://')) {
    if (!req.s3_root) throw new Error(`${uri}: no s3_root to read it from`);
    return path.join(req.s3_root, uri.slice('s3://'.length));
  }
  return uri;
};

const sqlite = process.env.ETL_SQLITE3 || 'sqlite3';
const quote = (s) => `'${String(s).replace(/'/g, "''")}'`;
// avsc refuses longs past 2^53 (snapshot ids) unless told to read them as
// BigInt.
const longType = avro.types.LongType.__with({
  fromBuffer: (buf) => buf.readBigInt64LE(),
  toBuffer: (n) => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n) => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
});
const readAvro = (p) => new Promise((resolve, reject) => {
  const records = [];
  avro.createFileDecoder(local(p), { parseHook: (s) => avro.Type.forSchema(s, { registry: { long: longType } }) })
    .on('data', (r) => records.push(r))
    .on('end', () => resolve(records))
    .on('error', reject);
});
const day = (n) => (n == null ? null : new Date(Number(n) * 86400000).toISOString().slice(0, 10));
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();

const readTable = async (name) => {
  // 1. The catalog's row. sqlite3 reads the write-ahead log too, where the
  // latest commits may still be.
  const rows = JSON.parse(execFileSync(sqlite, ['-json', '-readonly', req.catalog,
    `SELECT metadata_location, previous_metadata_location FROM iceberg_tables
     WHERE table_namespace = ${quote(namespace)} AND table_name = ${quote(name)}`]).toString() || '[]');
  if (rows.length !== 1) return { exists: false };
  const out = { exists: true, metadata_location: rows[0].metadata_location, previous_metadata_location: rows[0].previous_metadata_location };

  // 2. The metadata JSON. Snapshot ids pass 2^53: every long integer is
  // quoted before JSON.parse can round it.
  const raw = readFileSync(local(out.metadata_location), 'utf8');
  const meta = JSON.parse(raw.replace(/([:[,]\s*)(-?\d{16,})(?=\s*[,\]}])/g, '$1"$2"'));
  const current = meta['current-snapshot-id'] == null || meta['current-snapshot-id'] === '-1' ? null : String(meta['current-snapshot-id']);
  out.format_version = meta['format-version'];
  out.location = meta.location;
  out.properties = meta.properties || {};
  out.current_snapshot_id = current;
  out.snapshots = (meta.snapshots || []).map((s) => ({
    snapshot_id: String(s['snapshot-id']),
    parent_snapshot_id: s['parent-snapshot-id'] == null ? null : String(s['parent-snapshot-id']),
    timestamp_ms: Number(s['timestamp-ms']),
    operation: s.summary && s.summary.operation,
    summary: s.summary,
    manifest_list: s['manifest-list'],
  }));
  out.metadata_log = (meta['metadata-log'] || []).map((m) => m['metadata-file']);
  const schema = (meta.schemas || []).find((s) => s['schema-id'] === meta['current-schema-id']);
  out.schema = schema ? schema.fields.map((f) => ({ name: f.name, type: typeof f.type === 'string' ? f.type : f.type.type, required: f.required })) : [];
  const spec = (meta['partition-specs'] || []).find((s) => s['spec-id'] === meta['default-spec-id']);
  out.partition_spec = spec ? spec.fields : [];

  // 3. The current snapshot's manifests.
  out.files = [];
  out.manifests = [];
  const snap = out.snapshots.find((s) => s.snapshot_id === current);
  if (snap) {
    for (const m of await readAvro(snap.manifest_list)) {
      out.manifests.push({ path: m.manifest_path, content: m.content });
      if (m.content !== 0) continue; // delete files: etl writes none
      for (const e of await readAvro(m.manifest_path)) {
        if (e.status === 2) continue; // deleted by this snapshot: not live
        const df = e.data_file;
        out.files.push({ path: df.file_path, local: local(df.file_path), dt: day(df.partition.dt), records: Number(df.record_count), status: e.status });
      }
    }
  }

  // 4. The live data files, with DuckDB.
  const list = `[${out.files.map((f) => quote(f.local)).join(', ')}]`;
  if (out.files.length > 0) {
    const per = (await conn.runAndReadAll(`SELECT filename, count(*) AS n, min(dt)::VARCHAR AS lo, max(dt)::VARCHAR AS hi
      FROM read_parquet(${list}, filename = true) GROUP BY filename`)).getRowObjectsJson();
    for (const f of out.files) {
      const r = per.find((x) => x.filename === f.local);
      const n = r ? Number(r.n) : 0;
      if (n !== f.records || (n > 0 && (r.lo !== f.dt || r.hi !== f.dt))) {
        console.error(`${f.path}: the manifest says ${f.records} rows of dt=${f.dt}, the file has ${n} (dt ${r && r.lo}..${r && r.hi})`);
        process.exit(1);
      }
    }
  }
  if (req.sql) {
    if (out.files.length === 0) {
      out.rows = [];
    } else {
      const reader = await conn.runAndReadAll(req.sql.replaceAll('{files}', `read_parquet(${list})`));
      out.rows = reader.getRowObjectsJson();
    }
  }
  return out;
};

const result = { tables: {} };
for (const name of req.tables) result.tables[name] = await readTable(name);
process.stdout.write(JSON.stringify(result) + '\n');
