/**
 * A real browser for tests: Debian's Chromium, headless, driven through
 * `playwright-core` (npm, pinned in deno.json; it has no dependencies and
 * runs under Deno as it is, where puppeteer-core pulls in a few dozen
 * packages). The package is imported on first launch only, so test files
 * that merely declare a browser test still load where it is absent.
 *
 * @module
 */

import type { Browser } from "playwright-core";
import { chromium } from "./external.ts";

/** Options for {@link launchBrowser}. */
export interface LaunchBrowserOptions {
  /** Browser binary. Default the one {@link chromium} found. */
  executablePath?: string;
}

/**
 * Start headless Chromium. Close it with `await browser.close()` (or
 * `await using`): it is a child process.
 */
export async function launchBrowser(
  options: LaunchBrowserOptions = {},
): Promise<Browser & AsyncDisposable> {
  const executablePath = options.executablePath ?? chromium().path;
  if (!executablePath) throw new Error(chromium().missing ?? "no browser");
  const { chromium: driver } = await import("playwright-core");
  const browser = await driver.launch({
    executablePath,
    headless: true,
    // Root in a container: no sandbox; a small /dev/shm: use /tmp; no GPU here.
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  return Object.assign(browser, {
    [Symbol.asyncDispose]: () => browser.close(),
  });
}
