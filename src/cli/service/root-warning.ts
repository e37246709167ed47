// The one warning aegis gives when a person starts it as root: the service unit runs it unprivileged.

/**
 * The warning for a run as root outside systemd, or null. systemd sets INVOCATION_ID for every
 * unit it starts (and NOTIFY_SOCKET for Type=notify); a unit that chose User=root has decided.
 */
export function rootWarning(
  uid: number = process.getuid?.() ?? -1,
  env: Record<string, string | undefined> = process.env,
): string | null {
  if (uid !== 0 || env.INVOCATION_ID || env.NOTIFY_SOCKET) return null;
  return "running as root: aegis needs no privileges beyond binding ports below 1024. " +
    "`aegis service install` writes a systemd unit that runs it as an unprivileged user with only CAP_NET_BIND_SERVICE " +
    "(`aegis help service`).";
}
