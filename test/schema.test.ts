// `aegis schema` (JSON Schema 2020-12 from SCHEMA) and the README reference generated from the same table:
// the schema's shape, that it covers every key, that real files validate (the README example, `aegis
// init` output) and wrong ones do not, and that the README block is in sync.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import type { Fields } from "../src/config/fields.ts";
import { configJsonSchema, JSON_SCHEMA_DIALECT, type JsonSchema } from "../src/config/json-schema.ts";
import { loadConfigFile } from "../src/config/load.ts";
import { REFERENCE_BEGIN, REFERENCE_END, renderReference } from "../src/config/reference.ts";
import { BALANCE_ALGORITHMS, SCHEMA } from "../src/config/schema.ts";
import type { InitAnswers } from "../src/cli/init/answers.ts";
import { HEALTH_CHOICES } from "../src/cli/init/health-presets.ts";
import { renderConfig } from "../src/cli/init/render.ts";
import { VERSION } from "../src/version.ts";
import { REPO, SOURCE_COMMAND, tempDir } from "./helpers/aegis.ts";
import { run } from "./helpers/build.ts";
import { schemaShapeProblems, validate } from "./helpers/json-schema.ts";

const schema = configJsonSchema(VERSION);
const README = readFileSync(join(REPO, "README.md"), "utf8");
const problemsOf = (toml: string) => validate(schema, parse(toml));

/** The README's annotated example: the first ```toml block of "## Configuration". */
function readmeExample(): string {
  const section = README.slice(README.indexOf("## Configuration"));
  const m = /```toml\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error("README.md: no ```toml example under ## Configuration");
  return m[1]!;
}

/** Every key path of the schema table: "upstream.health.send", "upstream.servers.weight". */
function keyPaths(fields: Fields, prefix: string): string[] {
  return Object.entries(fields).flatMap(([k, f]) => [`${prefix}${k}`, ...(f.items ? keyPaths(f.items, `${prefix}${k}.`) : [])]);
}

/** `path` with "[]" after each key that is a list: how the reference writes keys of list items. */
function listItemPath(fields: Fields, path: string): string {
  let at: Fields | undefined = fields;
  return path.split(".").map((key) => {
    const f: Fields[string] | undefined = at?.[key];
    at = f?.items;
    return f?.type === "list" ? `${key}[]` : key;
  }).join(".").replace(/\[\]$/, "");
}

/** The schema node at a key path, walking through arrays and anyOf alternatives. */
function nodeAt(path: string): JsonSchema | undefined {
  let node: JsonSchema | undefined = schema;
  for (const key of path.split(".")) {
    const objectOf = (n: JsonSchema): JsonSchema | undefined => {
      if (n.type === "object") return n; // an object may have anyOf too (upstream: servers or discovery)
      if (n.type === "array" && n.items) return objectOf(n.items as JsonSchema);
      if (Array.isArray(n.anyOf)) return (n.anyOf as JsonSchema[]).map(objectOf).find(Boolean);
      return undefined;
    };
    const obj: JsonSchema | undefined = node && objectOf(node);
    node = (obj?.properties as Record<string, JsonSchema> | undefined)?.[key];
  }
  return node;
}

describe("aegis schema", () => {
  test("is a draft 2020-12 schema using only keywords of the right shape", () => {
    expect(schema.$schema).toBe(JSON_SCHEMA_DIALECT);
    expect(JSON_SCHEMA_DIALECT).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(schemaShapeProblems(schema)).toEqual([]);
    expect(schema.required).toEqual(["listener", "upstream"]);
  });

  test("every key of every section is in it, with its description and default", () => {
    const paths = SCHEMA.flatMap((s) => keyPaths(s.fields, `${s.key}.`));
    expect(paths.length).toBeGreaterThan(20);
    for (const section of SCHEMA) {
      for (const path of keyPaths(section.fields, `${section.key}.`)) {
        const node = nodeAt(path);
        expect(node, path).toBeDefined();
        expect(String(node!.description), path).not.toBe("");
      }
      for (const [key, field] of Object.entries(section.fields)) {
        if (field.default !== undefined) expect(nodeAt(`${section.key}.${key}`)!.default, key).toEqual(field.default);
      }
    }
    expect((nodeAt("upstream.balance")!.enum as string[])).toEqual([...BALANCE_ALGORITHMS]);
  });

  test("every key has a type (a new kind of field needs a case in src/config/json-schema.ts)", () => {
    for (const section of SCHEMA) {
      for (const path of keyPaths(section.fields, `${section.key}.`)) {
        const node = nodeAt(path)!;
        expect(node.type !== undefined || node.anyOf !== undefined, `${path} has no type in the JSON Schema`).toBe(true);
      }
    }
  });

  test("the command prints the same schema as JSON", async () => {
    const r = await run([...SOURCE_COMMAND, "schema"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(schema);
  });

  test("the README example validates, and the loader agrees", () => {
    const example = readmeExample();
    expect(problemsOf(example)).toEqual([]);
    const dir = tempDir("aegis-schema-");
    writeFileSync(join(dir, "aegis.toml"), example);
    writeFileSync(join(dir, "admin.token"), "a-token-of-at-least-16-characters\n"); // in case the example names one
    expect(() => loadConfigFile(join(dir, "aegis.toml"))).not.toThrow();
  });

  test("every file `aegis init` can write validates", () => {
    for (const balance of BALANCE_ALGORITHMS) {
      for (const health of HEALTH_CHOICES) {
        const answers: InitAnswers = {
          listen: "0.0.0.0:6380", servers: ["10.0.0.5:6379", "[::1]:6379", "db.internal:6379"], balance, health,
          ...(health === "custom" ? { custom: { send: "ping\r\n", expect: "pong" } } : {}),
          metrics: health === "none" ? null : "127.0.0.1:9100", service: false, output: "aegis.toml",
        };
        const { text } = renderConfig(answers, { version: VERSION, date: "2026-01-01" });
        expect(problemsOf(text), `${balance}/${health}`).toEqual([]);
      }
    }
  });

  test("wrong files do not validate: the validator is not vacuous", () => {
    const ok = `[[listener]]\nbind = "127.0.0.1:8081"\nupstream = "r"\n[[upstream]]\nname = "r"\nservers = ["127.0.0.1:6379"]\n`;
    expect(problemsOf(ok)).toEqual([]);
    const cases: [string, string][] = [
      [ok.replace(`bind = "127.0.0.1:8081"`, `bnd = "127.0.0.1:8081"`), "unexpected key bnd"],
      [ok.replace(`name = "r"\n`, `name = "r"\nbalance = "fastest"\n`), "is not one of"],
      [ok.replace(`name = "r"\n`, `name = "r"\nretries = 1000\n`), "> maximum"],
      [ok.replace(`name = "r"\n`, `name = "r"\nconnect_timeout = "3 seconds"\n`), "matches none of anyOf"],
      [ok.replace(`"127.0.0.1:6379"`, `{ address = "127.0.0.1:6379", weight = "2" }`), "expected integer"],
      [ok.replace(`servers = ["127.0.0.1:6379"]`, "servers = []"), "fewer than 1 items"],
      [ok.replace(`servers = ["127.0.0.1:6379"]\n`, ""), "missing required servers"],
      [ok.replace(`bind = "127.0.0.1:8081"`, `bind = "no-port"`), "does not match"],
      [`[global]\nworkers = 1\n`, "missing required listener"],
      [ok.replace(`upstream = "r"\n`, `upstream = "r"\nallow = "10.0.0.0/8"\n`), "expected array"],
    ];
    for (const [text, problem] of cases) expect(problemsOf(text).join("\n"), problem).toContain(problem);
  });
});

describe("the README config reference", () => {
  test("is the generated table, in sync with the schema (else: bun scripts/readme-reference.ts)", () => {
    const begin = README.indexOf(REFERENCE_BEGIN);
    const end = README.indexOf(REFERENCE_END);
    expect(begin).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(begin);
    const block = README.slice(begin + REFERENCE_BEGIN.length, end).trim();
    if (block !== renderReference()) {
      throw new Error("README.md: the config reference is out of date with src/config/schema.ts: run `bun scripts/readme-reference.ts`");
    }
  });

  test("names every key of the schema", () => {
    const block = README.slice(README.indexOf(REFERENCE_BEGIN), README.indexOf(REFERENCE_END));
    for (const section of SCHEMA) {
      for (const path of keyPaths(section.fields, "")) {
        // List items are written `key[].item` in the reference (servers[].weight, tls.certificates[].cert).
        const shown = listItemPath(section.fields, path);
        expect(block, path).toContain(`\`${shown}\``);
      }
    }
  });

  test("the script's --check agrees", async () => {
    const r = await run([process.execPath, join(REPO, "scripts/readme-reference.ts"), "--check"]);
    expect(r.stdout + r.stderr).toContain("up to date");
    expect(r.code).toBe(0);
  });
});
