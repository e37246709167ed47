// A Worker's view of where clients are: the GeoIP databases of [global] geoip and the regions of [global.regions].
import type { GlobalConfig } from "../config/types.ts";
import { openGeoIp, type GeoIp } from "../geo/geoip.ts";

export class ClientGeo {
  readonly #db: GeoIp | null;
  readonly #regionOf = new Map<string, string>();

  /** Opens the databases (already checked by the config loader; a file replaced since then throws here, failing the reload). */
  constructor(readonly global: GlobalConfig) {
    this.#db = global.geoip ? openGeoIp(global.geoip.files) : null;
    for (const [region, countries] of Object.entries(global.regions)) for (const c of countries) this.#regionOf.set(c, region);
  }

  /** Same databases and regions: the reader can be kept. */
  serves(global: GlobalConfig): boolean {
    return (global.geoip?.fingerprint ?? null) === (this.global.geoip?.fingerprint ?? null)
      && JSON.stringify(global.regions) === JSON.stringify(this.global.regions);
  }

  country(ip: string): string | null {
    return this.#db?.country(ip) ?? null;
  }

  regionOf(country: string): string | null {
    return this.#regionOf.get(country) ?? null;
  }
}
