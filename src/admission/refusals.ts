// Refusals decided at accept, by code: the counter cell each is counted in and the reason logged.
import { L } from "../shared/layout.ts";
import { IP_OVER_LIMIT, IP_OVER_RATE, IP_TABLE_FULL } from "./ip-table.ts";

/** The client's address is denied, or not allowed, by the listener's ACL. */
export const REFUSED_ACL = -5;

/** Counter cell (in L) of a refusal code from ListenerGate.admit. */
export function refusalCell(code: number): number {
  switch (code) {
    case REFUSED_ACL: return L.rejectedAcl;
    case IP_OVER_LIMIT: return L.rejectedPerIpLimit;
    case IP_OVER_RATE: return L.rejectedPerIpRate;
    default: return L.rejectedPerIpTableFull;
  }
}

/** The `reason` of the access log line and metric label, same order as refusalCell. */
export function refusalReason(code: number): string {
  switch (code) {
    case REFUSED_ACL: return "acl";
    case IP_OVER_LIMIT: return "per_ip_limit";
    case IP_OVER_RATE: return "per_ip_rate";
    default: return "per_ip_table_full";
  }
}
