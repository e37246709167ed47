// The "who is the client" questions of `aegis init`: a PROXY header from a balancer in front, one sent to the servers, sticky clients.
import * as p from "@clack/prompts";
import { parseCidr } from "../../net/cidr.ts";
import { parseDuration } from "../../config/duration.ts";
import { answer, type WizardIO } from "./prompt.ts";

export interface ClientAnswer {
  /** A PROXY header comes first, from these balancers (CIDRs as typed). */
  proxyProtocol?: { accept: "v1" | "v2" | "any"; from: string[] };
  sendProxy?: "v1" | "v2";
  /** Sticky clients for this long after their last session ("30m"). */
  stickTtl?: string;
}

/** Why a comma-separated list of CIDRs is not one, or null. */
export function cidrListProblem(text: string): string | null {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) return "give at least one address or CIDR, e.g. 10.0.0.0/8";
  for (const item of items) {
    const cidr = parseCidr(item);
    if (typeof cidr === "string") return `${JSON.stringify(item)} ${cidr}`;
  }
  return null;
}

export const splitList = (text: string): string[] => text.split(",").map((s) => s.trim()).filter(Boolean);

/** Why a stick ttl is not one (a duration of at least 1 s), or null. */
export function ttlProblem(text: string): string | null {
  try {
    return parseDuration(text, "ttl") < 1000 ? "at least 1s" : null;
  } catch {
    return `${JSON.stringify(text)} is not a duration such as "30m" or "1h"`;
  }
}

/** One gate question (default no), then the three settings; the flags' answers prefill them. */
export async function askClient(io: WizardIO, initial: ClientAnswer): Promise<ClientAnswer> {
  const any = initial.proxyProtocol !== undefined || initial.sendProxy !== undefined || initial.stickTtl !== undefined;
  const open = await answer(p.confirm({
    ...io,
    message: "Set up who the client is? (a balancer in front sending the PROXY protocol, telling the servers the client's address, sticky clients)",
    initialValue: any,
  }));
  if (!open) return {};
  const out: ClientAnswer = {};
  const version = await answer(p.select<"off" | "v1" | "v2" | "any">({
    ...io,
    message: "Does a balancer in front (HAProxy send-proxy, an AWS NLB, nginx proxy_protocol) send a PROXY header first?",
    options: [
      { value: "off", label: "no            clients connect to aegis directly" },
      { value: "v2", label: "yes, v2       binary (HAProxy send-proxy-v2, AWS NLB)" },
      { value: "v1", label: "yes, v1       text (HAProxy send-proxy, nginx proxy_protocol)" },
      { value: "any", label: "yes, either" },
    ],
    initialValue: initial.proxyProtocol?.accept ?? "off",
  }));
  if (version !== "off") {
    const from = await answer(p.text({
      ...io,
      message: "Which addresses may send it? (the balancers in front, comma-separated; anyone else could claim any client)",
      placeholder: "10.0.0.0/8",
      ...(initial.proxyProtocol ? { initialValue: initial.proxyProtocol.from.join(", ") } : {}),
      validate: (v) => cidrListProblem(v ?? "") ?? undefined,
    }));
    out.proxyProtocol = { accept: version, from: splitList(from) };
  }
  const send = await answer(p.select<"off" | "v1" | "v2">({
    ...io,
    message: "Tell the servers the client's address with a PROXY header? (the servers must expect one: HAProxy accept-proxy, nginx proxy_protocol, PostgreSQL behind pgbouncer...)",
    options: [{ value: "off", label: "no" }, { value: "v2", label: "yes, v2" }, { value: "v1", label: "yes, v1" }],
    initialValue: initial.sendProxy ?? "off",
  }));
  if (send !== "off") out.sendProxy = send;
  const stick = await answer(p.confirm({ ...io, message: "Keep each client on the same server (sticky, by client address)?", initialValue: initial.stickTtl !== undefined }));
  if (stick) {
    out.stickTtl = await answer(p.text({
      ...io,
      message: "For how long after its last session does a client keep its server?",
      // A default, so typed in (Enter takes it), not a grey placeholder, which is for examples.
      initialValue: initial.stickTtl ?? "30m",
      validate: (v) => (v ? ttlProblem(v) ?? undefined : undefined),
    })) || (initial.stickTtl ?? "30m");
  }
  return out;
}

/** The summary's rows for these answers. */
export function clientRows(c: ClientAnswer | undefined): [string, string][] {
  if (!c || (!c.proxyProtocol && !c.sendProxy && !c.stickTtl)) return [];
  return [
    ...(c.proxyProtocol ? [["PROXY in", `${c.proxyProtocol.accept} from ${c.proxyProtocol.from.join(", ")}`] as [string, string]] : []),
    ...(c.sendProxy ? [["PROXY out", `${c.sendProxy} to the servers`] as [string, string]] : []),
    ...(c.stickTtl ? [["Sticky", `by client address, for ${c.stickTtl}`] as [string, string]] : []),
  ];
}
