// A Drizzle schema read from the database, as a user gets one who pulls it (drizzle-kit
// pull) or writes it by hand from the tables: every column the connecting role can see
// (information_schema shows a role only the columns it has privileges on), with NOT NULL and
// the default exactly as the database has them, nothing taken from the generated module but
// the keys better-auth addresses tables and columns by (modelNames).
import { sql } from "drizzle-orm";
import {
  bigint, boolean, inet, integer, jsonb, pgTable, text, timestamp, varchar,
} from "drizzle-orm/pg-core";
import { modelNames } from "./generated/beep-iam-better-auth.mjs";

function builder({ column_name: name, data_type: type, udt_name: udt, character_maximum_length: length }) {
  const base = type === "ARRAY" ? udt.replace(/^_/, "") : type;
  const make = {
    text: () => text(name),
    "character varying": () => varchar(name, { length }),
    varchar: () => varchar(name),
    boolean: () => boolean(name),
    bool: () => boolean(name),
    integer: () => integer(name),
    int4: () => integer(name),
    bigint: () => bigint(name, { mode: "number" }),
    "timestamp with time zone": () => timestamp(name, { withTimezone: true, mode: "date" }),
    jsonb: () => jsonb(name),
    inet: () => inet(name),
  }[base];
  if (make === undefined) throw new Error(`column ${name}: no Drizzle type for ${type} ${udt}`);
  const column = make();
  return type === "ARRAY" ? column.array() : column;
}

export async function schemaFromDatabase(pool) {
  const { rows: columns } = await pool.query(
    `SELECT table_name, column_name, data_type, udt_name, character_maximum_length,
            is_nullable, column_default
     FROM information_schema.columns
     WHERE table_schema = current_schema()
     ORDER BY table_name, ordinal_position`,
  );
  const { rows: keys } = await pool.query(
    `SELECT c.relname AS table_name, a.attname AS column_name
     FROM pg_index i
     JOIN pg_class c ON c.oid = i.indrelid
     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (i.indkey)
     WHERE i.indisprimary AND c.relnamespace = current_schema()::regnamespace`,
  );
  const primary = new Set(keys.map((k) => `${k.table_name}.${k.column_name}`));
  const schema = {};
  for (const [modelKey, { modelName, fields }] of Object.entries(modelNames)) {
    const keyOf = Object.fromEntries(Object.entries(fields).map(([key, name]) => [name, key]));
    const definition = {};
    for (const column of columns.filter((c) => c.table_name === modelName)) {
      let built = builder(column);
      if (primary.has(`${modelName}.${column.column_name}`)) built = built.primaryKey();
      else if (column.is_nullable === "NO") built = built.notNull();
      if (column.column_default !== null) built = built.default(sql.raw(column.column_default));
      definition[keyOf[column.column_name] ?? column.column_name] = built;
    }
    if (Object.keys(definition).length) schema[modelKey] = pgTable(modelName, definition);
  }
  return schema;
}
