// The layering of src/ (which folder may import which) and the checker the import-direction test runs.
import { dirname, join, normalize } from "node:path";
import ts from "typescript";

/**
 * Rank of each folder of src/ (and of each file at its top). A folder may import its own files and
 * folders of a strictly lower rank; folders of one rank never import each other. The README's
 * "How aegis is built" says the same in words: change both together.
 */
export const RANKS: Readonly<Record<string, number>> = {
  "geo": 0,
  "net": 0,
  "os": 0,
  "primitives": 0,
  "tls": 0,
  "version.ts": 0,
  "config": 1,
  "shared": 2,
  "telemetry": 3,
  "balancing": 3,
  "route": 3,
  "stick": 3,
  "health": 4,
  "discovery": 4,
  "admission": 4,
  "upstream": 5,
  "data": 6,
  "control": 6,
  "admin": 7,
  "cli": 8,
  "main.ts": 9,
  "main-thread.ts": 9,
  "worker.ts": 9,
  "early-worker.ts": 9,
  "library.ts": 9,
};

/** The process entry and the composition roots: they may import anything, and nothing imports them... */
export const ROOTS: ReadonlySet<string> = new Set(["main.ts", "main-thread.ts", "worker.ts", "early-worker.ts", "library.ts"]);

/**
 * ...except the entries: the CLI's picks the main thread's root or the early Worker's at start, and
 * the library's (the package's import) starts the same main thread root.
 */
const ROOT_IMPORTS: ReadonlySet<string> = new Set(["main.ts -> main-thread.ts", "main.ts -> early-worker.ts", "library.ts -> main-thread.ts"]);

/** How one file refers to another: a static import, a re-export, `import("…")`, or a Worker spawned by path. */
export type EdgeKind = "import" | "export" | "dynamic" | "worker";

/** One reference from a file of src/ to another file; both paths relative to src/ ("config/fields.ts"). */
export interface Edge {
  readonly from: string;
  readonly to: string;
  /** As written in the source. */
  readonly specifier: string;
  readonly kind: EdgeKind;
}

export interface Violation {
  readonly edge: Edge;
  readonly why: string;
}

/** The layer a file belongs to: its top folder under src/, or its own name at the top. */
export function unitOf(path: string): string {
  const slash = path.indexOf("/");
  return slash < 0 ? path : path.slice(0, slash);
}

/**
 * Every relative reference `text` (the file src/`path`) makes, resolved to a path relative to src/:
 * import and export declarations (type-only ones too), import("…") and import types, and
 * `new URL("./x.ts", import.meta.url)`, how a Worker entry is named. Package imports are not edges.
 */
export function edgesOf(path: string, text: string): Edge[] {
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.ESNext, false, ts.ScriptKind.TS);
  const edges: Edge[] = [];
  const add = (specifier: string, kind: EdgeKind) => {
    if (!specifier.startsWith(".")) return;
    edges.push({ from: path, to: normalize(join(dirname(path), specifier)), specifier, kind });
  };
  const literal = (node: ts.Node | undefined) => (node && ts.isStringLiteralLike(node) ? node.text : null);
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
      const s = literal(node.moduleSpecifier);
      if (s !== null) add(s, ts.isImportDeclaration(node) ? "import" : "export");
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const s = literal(node.moduleReference.expression);
      if (s !== null) add(s, "import");
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const s = literal(node.arguments[0]);
      if (s !== null) add(s, "dynamic");
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const s = literal(node.argument.literal);
      if (s !== null) add(s, "import");
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === "URL") {
      const [first, base] = node.arguments ?? [];
      const s = literal(first);
      if (s !== null && base?.getText(file) === "import.meta.url" && /\.[cm]?[jt]s$/.test(s)) add(s, "worker");
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return edges;
}

/** Why `edge` breaks the layering, or null when it keeps it. */
export function violationOf(edge: Edge): string | null {
  if (edge.to.startsWith("..")) return null; // outside src/ (package.json): data, not a layer
  const from = unitOf(edge.from);
  const to = unitOf(edge.to);
  if (!(from in RANKS)) return `${from} is in no rank: add it to RANKS in test/layering.ts and to the README`;
  if (!(to in RANKS)) return `${to} is in no rank: add it to RANKS in test/layering.ts and to the README`;
  if (from === to) return null;
  if (ROOTS.has(to)) {
    if (ROOT_IMPORTS.has(`${from} -> ${to}`)) return null;
    // A Worker entry is started by path from a root, never imported.
    if (edge.kind === "worker" && ROOTS.has(from)) return null;
    return `${to} is a composition root: nothing imports it`;
  }
  if (ROOTS.has(from)) return null;
  const a = RANKS[from]!;
  const b = RANKS[to]!;
  if (b < a) return null;
  return b === a ? `${from} and ${to} share rank ${a}: neither may import the other` : `${from} (rank ${a}) imports upward into ${to} (rank ${b})`;
}

/** Every file of src/ that is in no rank (a new folder must be placed before it is used). */
export function unplaced(paths: readonly string[]): string[] {
  return paths.filter((p) => !(unitOf(p) in RANKS));
}

/** Every edge that breaks the layering. */
export function violations(edges: readonly Edge[]): Violation[] {
  return edges.flatMap((edge) => {
    const why = violationOf(edge);
    return why === null ? [] : [{ edge, why }];
  });
}

/** One line a violation: the file, what it imports as written and resolved, and why that is not allowed. */
export function formatViolation(v: Violation): string {
  return `src/${v.edge.from}: ${v.edge.kind} "${v.edge.specifier}" (src/${v.edge.to}): ${v.why}`;
}

/** Every .ts file under `root`, relative to it, in a stable order. */
export function sourceFiles(root: string): string[] {
  return [...new Bun.Glob("**/*.ts").scanSync({ cwd: root })].sort();
}
