// The status page at `/`: one self-contained HTML file (inline CSS and JS) embedded at build time.
import page from "./status/page.html" with { type: "text" };

/** Nothing may come from elsewhere: the policy forbids it, so a stray CDN link fails loudly in tests. */
const POLICY = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Bun hands a text import of .html over as a string; its types describe the HTML-bundle import instead.
const HTML = page as unknown as string;

export function statusPage(): Response {
  return new Response(HTML, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
      "content-security-policy": POLICY,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
    },
  });
}
