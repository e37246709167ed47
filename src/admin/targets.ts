// Finds the upstream and server a URL names: upstreams by name; servers by name ("host:port",
// URL-encoded or not) or by index. Unknown ones answer 404 with the names that would work.
import type { Config } from "../config/types.ts";
import { failure } from "./http.ts";

export type Found = { ok: true; index: number } | { ok: false; response: Response };

export function findUpstream(config: Config, name: string): Found {
  const index = config.upstreams.findIndex((u) => u.name === name);
  if (index >= 0) return { ok: true, index };
  return { ok: false, response: failure(404, `no upstream named ${JSON.stringify(name)}`, { upstreams: config.upstreams.map((u) => u.name) }) };
}

export function findServer(config: Config, upstream: number, key: string): Found {
  const u = config.upstreams[upstream]!;
  let index = u.servers.findIndex((s) => s.name === key);
  if (index < 0 && /^\d+$/.test(key) && Number(key) < u.servers.length) index = Number(key);
  if (index >= 0) return { ok: true, index };
  return {
    ok: false,
    response: failure(404, `upstream ${u.name} has no server ${JSON.stringify(key)}: give its name (URL-encoded) or its index 0..${u.servers.length - 1}`, {
      servers: u.servers.map((s) => s.name),
    }),
  };
}
