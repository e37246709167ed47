// Version information: the package version, plus the commit, build date and target stamped in by scripts/build.ts.
import pkg from "../package.json" with { type: "json" };

declare const AEGIS_COMMIT: string | undefined;
declare const AEGIS_BUILD_DATE: string | undefined;
declare const AEGIS_TARGET: string | undefined;

export const VERSION: string = pkg.version;

/** The platform the binary was built for (linux-x64, linux-x64-baseline, darwin-arm64, ...); from source, the host's. */
export function buildTarget(): string {
  return typeof AEGIS_TARGET === "string" ? AEGIS_TARGET : `${process.platform}-${process.arch}`;
}

/** The labels of aegis_build_info. */
export function buildInfo(): { version: string; commit: string; bun: string } {
  return { version: VERSION, commit: typeof AEGIS_COMMIT === "string" ? AEGIS_COMMIT : "dev", bun: Bun.version };
}

export function versionText(): string {
  const commit = buildInfo().commit;
  const built = typeof AEGIS_BUILD_DATE === "string" ? AEGIS_BUILD_DATE : "not built";
  return `aegis ${VERSION} (commit ${commit}, built ${built}, bun ${Bun.version}, ${buildTarget()})`;
}
