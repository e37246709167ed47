// Reads the [[listener]] items: schema checks, the upstream reference, duplicate names and binds.
import type { ListenerAdmissionConfig } from "./types.ts";
import type { Values } from "./fields.ts";
import { addressKey, formatAddress, quietAddress } from "./address.ts";
import { readFields, firstSeen, stringAt, isTable } from "./section.ts";
import { didYouMean } from "./suggest.ts";
import { belongsIn } from "./top-level.ts";
import { LISTENER } from "./schema.ts";
import type { UnnamedListener } from "./listener-names.ts";
import { quote } from "./quote.ts";
import type { TlsFiles } from "./tls.ts";
import { proxyProtocolOf } from "./client.ts";

/**
 * One entry per item, undefined where the item had problems (pushed onto `problems`).
 * `upstreams` are the names listeners may refer to; undefined skips that check.
 */
export function readListeners(raw: unknown[], upstreams: string[] | undefined, problems: string[], files: TlsFiles): (UnnamedListener | undefined)[] {
  const names = new Map<string, number>();
  const binds = new Map<string, number>();
  return raw.map((item, i) => {
    const path = `listener[${i}]`;
    const before = problems.length;
    // What did convert, even beside a key that did not: its files and PROXY keys are checked too.
    const v = readFields(item, LISTENER, path, problems, belongsIn);
    const l = v && problems.length === before ? (v as Values<typeof LISTENER>) : undefined;
    // Cross-checks use what was written, so they run even when other keys of the item are bad.
    const target = stringAt(item, "upstream");
    if (target !== undefined && upstreams && !upstreams.includes(target)) {
      problems.push(`${path}.upstream: no [[upstream]] named ${quote(target)}${didYouMean(target, upstreams)}`);
    }
    const name = stringAt(item, "name");
    const first = name === undefined ? undefined : firstSeen(names, name, i);
    if (name !== undefined && first !== undefined) problems.push(`${path}.name: duplicate name ${quote(name)} (also listener[${first}])`);
    const bind = quietAddress(stringAt(item, "bind"));
    // Port 0 asks the kernel for a fresh port each time, so two of them never collide.
    const firstBind = bind && bind.port !== 0 ? firstSeen(binds, addressKey(bind), i) : undefined;
    if (bind && firstBind !== undefined) {
      problems.push(`${path}.bind: "${formatAddress(bind)}" is already bound by listener[${firstBind}]`);
    }
    checkRoutes(item, path, upstreams, problems);
    const proxyProtocol = v?.proxy_protocol !== undefined && v.proxy_protocol_timeout !== undefined
      ? proxyProtocolOf(v as Values<typeof LISTENER>, path, problems) : undefined;
    const tls = v?.tls && files.listener(v.tls, `${path}.tls`);
    if (!l) return undefined;
    if (l.proxy_protocol !== "off" && !proxyProtocol) return undefined;
    if (l.tls && !tls) return undefined;
    return {
      explicitName: l.name, bind: l.bind, upstream: l.upstream, idleTimeoutMs: l.idle_timeout, bufferLimit: l.buffer_limit, ...admissionOf(l),
      ...(tls ? { tls } : {}),
      ...(l.route ? { routes: l.route } : {}),
      ...(l.inspect ? { inspect: l.inspect } : {}),
      ...(proxyProtocol ? { proxyProtocol } : {}),
      ...(l.prefer_region !== undefined ? { preferRegion: l.prefer_region } : {}),
    };
  });
}

/** Each [[listener.route]] as written: it matches on something, and names an upstream that exists. */
function checkRoutes(item: unknown, path: string, upstreams: string[] | undefined, problems: string[]): void {
  const routes = isTable(item) && Array.isArray(item.route) ? item.route : [];
  routes.forEach((route: unknown, j) => {
    if (!isTable(route)) return; // the schema reports it
    const at = `${path}.route[${j}]`;
    if (route.sni === undefined && route.alpn === undefined && route.source === undefined && route.country === undefined) {
      problems.push(`${at}: a route needs sni, alpn, source or country to match on (the listener's own upstream is the default route)`);
    }
    const target = stringAt(route, "upstream");
    if (target !== undefined && upstreams && !upstreams.includes(target)) {
      problems.push(`${at}.upstream: no [[upstream]] named ${quote(target)}${didYouMean(target, upstreams)}`);
    }
  });
}

/** The listener's admission keys, present only when one is set, so a listener without them reads as before. */
function admissionOf(l: Values<typeof LISTENER>): { admission?: ListenerAdmissionConfig } {
  const admission: ListenerAdmissionConfig = {
    allow: l.allow ?? [],
    deny: l.deny ?? [],
    maxConnectionsPerIp: l.max_connections_per_ip,
    connectionRatePerIp: l.connection_rate_per_ip ?? null,
  };
  const used = admission.allow.length > 0 || admission.deny.length > 0 || admission.maxConnectionsPerIp > 0 || admission.connectionRatePerIp;
  return used ? { admission } : {};
}
