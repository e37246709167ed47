// The systemd unit for aegis: Type=notify readiness, reload by SIGHUP, and a sandbox rated "OK" by systemd-analyze security.

export interface UnitOptions {
  /** Absolute path of the aegis executable. */
  binary: string;
  /** Absolute path of the config file. */
  config: string;
  /** The unprivileged account the service runs as. */
  user: string;
  /** global.shutdown_grace of the config, so systemd waits for the drain before SIGKILL. */
  shutdownGraceMs: number;
}

export const UNIT_NAME = "aegis.service";
export const DEFAULT_UNIT_DIR = "/etc/systemd/system";
export const DEFAULT_CONFIG = "/etc/aegis/aegis.toml";
export const DEFAULT_USER = "aegis";

/** Seconds systemd waits after SIGTERM beyond the grace period, for the last logs and exit. */
const STOP_MARGIN_S = 10;

/**
 * One ExecStart= argument, quoted when needed. systemd expands "%" specifiers and "$" variables
 * in command lines, so both are doubled to stay literal.
 */
export function execArg(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /[\s"'\\;]/.test(escaped) ? `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"` : escaped;
}

/** The unit file text. Every hardening line says what it prevents; left-out options say why. */
export function renderUnit(o: UnitOptions): string {
  const bin = execArg(o.binary);
  const config = execArg(o.config);
  const stopTimeout = Math.ceil(o.shutdownGraceMs / 1000) + STOP_MARGIN_S;
  return `# ${UNIT_NAME}: written by \`aegis service install\`. Edit with \`systemctl edit aegis\` (a drop-in survives
# reinstalling); \`aegis service uninstall\` removes this file.
[Unit]
Description=aegis Layer 4 (TCP) proxy and load balancer
# Listeners may bind specific addresses, which exist only once the network is configured.
Wants=network-online.target
After=network-online.target

[Service]
# aegis sends READY=1 over $NOTIFY_SOCKET once every listener accepts in every Worker, so
# \`systemctl start aegis\` returns when it really serves (and fails if it cannot listen).
Type=notify
NotifyAccess=main
# A broken config fails here with every problem listed in the journal, before anything stops.
ExecStartPre=${bin} check --config ${config}
ExecStart=${bin} --config ${config}
# Refuse a broken config before signalling; SIGHUP then asks aegis to reload.
ExecReload=${bin} check --config ${config}
ExecReload=/bin/kill -HUP $MAINPID
# Upgrade in place after replacing the binary: \`aegis upgrade\` or
# \`systemctl kill --kill-whom=main -s USR2 aegis\` (only the main process: an old one still draining ignores it).
# The new process binds beside the old one (SO_REUSEPORT); the old one, still the main process and
# so the one NotifyAccess=main listens to, sends MAINPID= of the new one, then drains and exits.
# SIGTERM starts a graceful drain of global.shutdown_grace; systemd waits that long plus a margin.
KillSignal=SIGTERM
TimeoutStopSec=${stopTimeout}s
Restart=on-failure
RestartSec=2s

# Unprivileged: the one capability it keeps is binding ports below 1024.
User=${o.user}
Group=${o.user}
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
# Every connection is a file descriptor: allow a million (client and server side of each session).
LimitNOFILE=1048576

# Sandbox. aegis only reads its config and the network; it writes nothing but its logs (stdout).
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
PrivateMounts=yes
DevicePolicy=closed
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
KeyringMode=private
UMask=0077
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged
SystemCallErrorNumber=EPERM
# Left out on purpose:
# - MemoryDenyWriteExecute=yes: Bun's JavaScript JIT needs writable and executable memory. Under it
#   aegis still starts, but JavaScriptCore silently runs without its JIT, many times slower.
# - PrivateUsers=yes: capabilities would then hold only inside a user namespace, and binding a
#   port below 1024 on the host's network needs CAP_NET_BIND_SERVICE outside it.
# - PrivateNetwork=yes / IPAddressDeny=: a proxy's whole job is the host's network.
# - SystemCallFilter=~@resources: Bun raises its own open-file limit with setrlimit at start.

[Install]
WantedBy=multi-user.target
`;
}
