// The GeoIP database the tests use: ip-location-db's GeoLite2 country database (a dev dependency), IPv4 and IPv6 in one file.
import { join } from "node:path";

export const GEO_DB = join(import.meta.dir, "../../node_modules/@ip-location-db/geolite2-country-mmdb/geolite2-country.mmdb");
