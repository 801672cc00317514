/**
 * Who may see the dashboard. On a loopback address anyone on the PC may
 * (requests must name a loopback host, which stops a web page from reaching
 * it through DNS rebinding); on any other address every request, the page,
 * the event stream and the API alike, must carry the token: as
 * `Authorization: Bearer …`, as the cookie the page sets, or once as
 * `?token=…` in the address a supervisor opens. Tokens are compared in
 * constant time.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import { UsageError } from "../../errors.ts";

/** Name of the cookie that carries the token after the first visit. */
export const TOKEN_COOKIE = "espline_dashboard";

/** Shortest token accepted: guessing 16 random characters over a LAN is hopeless; "1234" is not. */
export const MIN_TOKEN_LENGTH = 16;

/** Whether `hostname` (an address to bind or a Host header's name) is loopback. */
export function isLoopback(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === "::ffff:127.0.0.1";
}

/** Compare two tokens in time that does not depend on where they differ (or on their lengths). */
export function tokensEqual(given: string, expected: string): boolean {
  // Hashing first makes both sides 32 bytes, so the lengths leak nothing either.
  const a = createHash("sha256").update(given).digest();
  const b = createHash("sha256").update(expected).digest();
  return timingSafeEqual(a, b);
}

/** A random token for a dashboard (32 hex digits). */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Refuse a setup that would show the line to the network without a token,
 * or with a token too short to matter.
 *
 * @throws {UsageError} `E_DASHBOARD_TOKEN` with what to do instead.
 */
export function checkBindToken(hostname: string, token: string | undefined): void {
  if (token === undefined || token === "") {
    if (isLoopback(hostname)) return;
    throw new UsageError(
      `the dashboard on ${hostname} would be reachable from the network without a token: ` +
        `give it a token (at least ${MIN_TOKEN_LENGTH} characters, e.g. from generateToken() ` +
        `or \`openssl rand -hex 16\`), or bind it to 127.0.0.1`,
      { code: "E_DASHBOARD_TOKEN" },
    );
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new UsageError(
      `the dashboard token is ${token.length} characters long: use at least ${MIN_TOKEN_LENGTH} ` +
        "(e.g. `openssl rand -hex 16`)",
      { code: "E_DASHBOARD_TOKEN" },
    );
  }
  if (/[\s;,"\\]/.test(token)) {
    throw new UsageError(
      "the dashboard token must not contain spaces, quotes, commas, semicolons or backslashes " +
        "(it travels in a cookie): use letters, digits, - and _",
      { code: "E_DASHBOARD_TOKEN" },
    );
  }
}

/** Where a request carried a token, and the token. */
export interface RequestToken {
  /** `header`, `cookie` or `query`. */
  from: "header" | "cookie" | "query";
  /** The token as given. */
  token: string;
}

/** The token a request carries, if any (header first, then cookie, then `?token=`). */
export function requestToken(request: Request): RequestToken | null {
  const auth = request.headers.get("authorization");
  const bearer = auth ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  if (bearer) return { from: "header", token: bearer[1] };
  const cookies = request.headers.get("cookie") ?? "";
  for (const part of cookies.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === TOKEN_COOKIE) {
      return { from: "cookie", token: part.slice(eq + 1).trim() };
    }
  }
  const query = new URL(request.url).searchParams.get("token");
  return query ? { from: "query", token: query } : null;
}

/** The verdict on one request. */
export type AuthVerdict =
  | { ok: true; via: RequestToken["from"] | "loopback" }
  | { ok: false; status: 401 | 403; reason: string };

/** Decide whether a request may be answered. */
export function authorize(request: Request, token: string | undefined): AuthVerdict {
  if (token) {
    const given = requestToken(request);
    if (given && tokensEqual(given.token, token)) return { ok: true, via: given.from };
    return {
      ok: false,
      status: 401,
      reason: given
        ? "the dashboard token is wrong: open the address the station printed, with its ?token="
        : "this dashboard needs its token: open the address the station printed, with its ?token=",
    };
  }
  // No token: only a loopback bind gets here; the Host must be loopback too.
  const host = request.headers.get("host") ?? "";
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.split(":")[0];
  if (!isLoopback(name)) {
    return {
      ok: false,
      status: 403,
      reason: `this dashboard answers only to localhost or 127.0.0.1, not to "${
        host.slice(0, 100)
      }"`,
    };
  }
  return { ok: true, via: "loopback" };
}
