// A validator for the part of JSON Schema 2020-12 that `aegis schema` emits, and a shape check that
// it emits nothing else: small enough to read, strict enough that a wrong schema fails a test.

type Schema = Record<string, unknown>;

/** Keywords aegis emits, with the JSON type each must have. */
const KEYWORDS: Record<string, (v: unknown) => boolean> = {
  $schema: (v) => typeof v === "string",
  $id: (v) => typeof v === "string",
  title: (v) => typeof v === "string",
  description: (v) => typeof v === "string",
  type: (v) => typeof v === "string" && ["object", "array", "string", "integer", "number", "boolean", "null"].includes(v),
  properties: (v) => isObject(v) && Object.values(v).every(isObject),
  required: (v) => Array.isArray(v) && v.every((k) => typeof k === "string") && new Set(v).size === v.length,
  additionalProperties: (v) => typeof v === "boolean" || isObject(v),
  items: isObject,
  anyOf: (v) => Array.isArray(v) && v.length > 0 && v.every(isObject),
  enum: (v) => Array.isArray(v) && v.length > 0,
  const: () => true,
  default: () => true,
  minimum: (v) => typeof v === "number",
  maximum: (v) => typeof v === "number",
  minItems: (v) => Number.isInteger(v) && (v as number) >= 0,
  pattern: (v) => {
    if (typeof v !== "string") return false;
    try {
      new RegExp(v, "u");
      return true;
    } catch {
      return false;
    }
  },
};

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Problems with the schema itself: unknown keywords, mistyped values, required keys not in properties. */
export function schemaShapeProblems(schema: unknown, path = "#"): string[] {
  if (!isObject(schema)) return [`${path}: a schema must be an object`];
  const problems: string[] = [];
  for (const [k, v] of Object.entries(schema)) {
    const check = KEYWORDS[k];
    if (!check) problems.push(`${path}: keyword ${k} is not one this validator knows`);
    else if (!check(v)) problems.push(`${path}: ${k} has a value of the wrong shape`);
  }
  if (Array.isArray(schema.required) && isObject(schema.properties)) {
    for (const k of schema.required) if (!Object.hasOwn(schema.properties, k as string)) problems.push(`${path}: required ${k} is not in properties`);
  }
  if (isObject(schema.properties)) for (const [k, s] of Object.entries(schema.properties)) problems.push(...schemaShapeProblems(s, `${path}/properties/${k}`));
  if (isObject(schema.items)) problems.push(...schemaShapeProblems(schema.items, `${path}/items`));
  if (Array.isArray(schema.anyOf)) schema.anyOf.forEach((s, i) => problems.push(...schemaShapeProblems(s, `${path}/anyOf/${i}`)));
  return problems;
}

function typeOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "number") return Number.isInteger(v) ? "integer" : "number";
  if (typeof v === "bigint") return "integer";
  if (v instanceof Date) return "date";
  return typeof v;
}

/** Every way `value` fails `schema`, each with its JSON pointer; empty when it validates. */
export function validate(schema: Schema, value: unknown, path = ""): string[] {
  const at = path || "/";
  const problems: string[] = [];
  if (typeof schema.type === "string") {
    const t = typeOf(value);
    const ok = t === schema.type || (schema.type === "number" && t === "integer");
    if (!ok) return [`${at}: expected ${schema.type}, got ${t}`];
  }
  if ("const" in schema && value !== schema.const) problems.push(`${at}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value)) problems.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) problems.push(`${at}: ${value} < minimum ${schema.minimum}`);
    if (typeof schema.maximum === "number" && value > schema.maximum) problems.push(`${at}: ${value} > maximum ${schema.maximum}`);
  }
  if (typeof value === "string" && typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
    problems.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === "number" && value.length < schema.minItems) problems.push(`${at}: fewer than ${schema.minItems} items`);
    if (isObject(schema.items)) value.forEach((item, i) => problems.push(...validate(schema.items as Schema, item, `${path}/${i}`)));
  }
  if (isObject(value)) {
    const props = isObject(schema.properties) ? schema.properties : {};
    for (const k of Array.isArray(schema.required) ? schema.required : []) {
      if (!Object.hasOwn(value, k as string)) problems.push(`${at}: missing required ${k}`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (Object.hasOwn(props, k)) problems.push(...validate(props[k] as Schema, v, `${path}/${k}`));
      else if (schema.additionalProperties === false) problems.push(`${at}: unexpected key ${k}`);
    }
  }
  if (Array.isArray(schema.anyOf)) {
    const results = schema.anyOf.map((s) => validate(s as Schema, value, path));
    if (!results.some((r) => r.length === 0)) problems.push(`${at}: matches none of anyOf (${results.map((r) => r[0]).join(" | ")})`);
  }
  return problems;
}
