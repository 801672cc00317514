/**
 * Where people compare espline with esptool, every fact esptool prints is
 * in espline's output too, in esptool's words: both tools talk to the same
 * virtual chip over TCP (`lib/sim/serve_cli.ts`), and each line esptool
 * prints about the chip or the work done must appear in espline's output,
 * timings and compressed sizes aside (espline's deflate is not zlib's).
 *
 * Lines esptool prints about itself or a step in progress are left out
 * (listed in {@link NOT_FACTS}); espline says more than esptool, never less.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runCli } from "../lib/cli/main.ts";
import { esptool, externalTest, freePort, runEsptool } from "./support/external.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** esptool lines that are about esptool or a step in progress, not facts of the chip or the result. */
const NOT_FACTS: RegExp[] = [
  /^esptool v/, // its banner
  /^Serial port /, // esptool names the port before connecting; espline names it in "Connected to … on PORT:"
  /^Note: /, // notes about esptool's own options (no-reset, TCP resets, flash size detection)
  /^Device VID\/PID identification/, // pyserial on a socket
  /^Connecting\.*$/,
  /^\.+$/, // connect attempts
  /^Detecting chip type\.\.\./, // the chip's name is in "Connected to …"
  /^(Uploading|Running) stub flasher\.\.\.$/,
  /^Stub flasher (running\.|is already running\. No upload is necessary\.)$/,
  /^Configuring flash size\.\.\.$/,
  /^Enabling default SPI flash mode\.\.\.$/, // a step of the ROM path (espline attaches the flash too)
  /^Flash will be erased from /, // espline erases only the 64 KiB chunks that change
  /^Compressed \d+ bytes to \d+\.\.\.$/, // the compressed size is in the "Wrote" line
  /^Erasing flash\.\.\.$/,
  /^Writing at 0x[0-9a-f]+ \[/, // its progress bar, piped (espline prints no bar frames when piped)
  /^Took [\d.]+s to erase flash block\.$/,
  /^Verifying written data\.\.\.$/,
  /^Comparing flash contents against new data\.\.\.$/,
  /^Hard resetting via RTS pin\.\.\.$/, // over a raw socket espline says the reset was skipped, and why
];

/** Timings and compressed sizes differ between runs and deflate implementations. */
function normalize(line: string): string {
  return line.trim()
    .replace(/socket:\/\/127\.0\.0\.1:\d+/g, "socket://127.0.0.1:PORT") // one chip per tool
    .replace(/ in [\d.]+ seconds( \([\d.]+ kbit\/s\))?\./, " in N seconds.")
    .replace(/\(\d+ compressed\)/, "(N compressed)");
}

function facts(esptoolOutput: string): string[] {
  return esptoolOutput.split("\n").map((l) => l.trim())
    .filter((l) => l && !NOT_FACTS.some((re) => re.test(l))).map(normalize);
}

/**
 * A virtual chip served over TCP in a child process, as a person would start
 * one; `flash` is the file holding its flash (created erased when given).
 */
async function serveChip(chip: string, mac: string, flash?: string) {
  const port = freePort();
  if (flash) await Deno.writeFile(flash, new Uint8Array(4 << 20).fill(0xff));
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--config",
      `${ROOT}deno.json`,
      `${ROOT}lib/sim/serve_cli.ts`,
      chip,
      "--port",
      String(port),
      "--mac",
      mac,
      ...(flash ? ["--flash", flash] : []),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  // It names the socket:// address it serves once it listens.
  while (!/socket:\/\/127\.0\.0\.1:\d+/.test(said)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the virtual chip did not start: ${said}`);
    said += value;
  }
  return {
    url: `socket://127.0.0.1:${port}`,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

async function espline(args: string[]): Promise<{ code: number; text: string }> {
  let text = "";
  const code = await runCli(args, {
    sinks: { stdout: (t) => (text += t), stderr: (t) => (text += t), isTerminal: false },
  });
  return { code, text };
}

/** Every fact line of esptool's output is a line of espline's (after normalising numbers). */
function assertSaysEverything(esptoolText: string, esplineText: string, what: string) {
  const ours = new Set(esplineText.split("\n").map(normalize));
  const missing = facts(esptoolText).filter((l) => !ours.has(l));
  assert.deepEqual(
    missing,
    [],
    `${what}: esptool's lines missing from espline's output.\n--- esptool\n${esptoolText}\n--- espline\n${esplineText}`,
  );
}

const CHIPS: [string, string][] = [
  ["esp8266", "02:11:22:33:44:55"],
  ["esp32", "02:11:22:33:44:56"],
  ["esp32s3", "02:11:22:33:44:57"],
  ["esp32c3", "02:11:22:33:44:58"],
  ["esp32c6", "02:11:22:33:44:59"],
];

for (const [chip, mac] of CHIPS) {
  externalTest({
    name:
      `chip-id, read-mac and flash-id on a virtual ${chip}: every line esptool prints, espline prints`,
    needs: [esptool()],
    async fn() {
      for (const command of ["chip-id", "read-mac", "flash-id"]) {
        // Each tool meets a chip fresh in its ROM loader: over a raw socket neither can reset
        // it, and the stub the first one leaves running would change what the second sees
        // (espline reports the crystal unknown when it finds a stub already running).
        await using theirChip = await serveChip(chip, mac);
        const theirs = await runEsptool(["--port", theirChip.url, "--before", "no-reset", command]);
        assert.equal(theirs.code, 0, theirs.output);
        await using sim = await serveChip(chip, mac);
        const ours = await espline(["--port", sim.url, "--before", "no-reset", command]);
        assert.equal(ours.code, 0, ours.text);
        assertSaysEverything(theirs.output, ours.text, `${chip} ${command}`);
        // The one deliberate difference: a raw socket cannot reset the board, and espline says so.
        assert.match(
          ours.text,
          /Hard reset skipped: socket:\/\/127\.0\.0\.1:\d+ is a raw TCP socket/,
        );
      }
      if (chip === "esp8266") {
        await using sim = await serveChip(chip, mac);
        const ours = await espline(["--port", sim.url, "--before", "no-reset", "chip-id"]);
        assert.match(ours.text, /^Chip ID: 0x00334455$/m);
      }
    },
  });
}

externalTest({
  name:
    "write-flash on a virtual ESP32-C3: each region's Wrote and Hash lines as esptool prints them",
  needs: [esptool()],
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "espline-esptool-output-" });
    try {
      // One file that deflates well, one that does not (both tools send it raw, or say so).
      await Deno.writeFile(
        `${dir}/app.bin`,
        new Uint8Array(200_000).map((_, i) => (i * 7) & 0xff),
      );
      let x = 0x12345678; // xorshift32: bytes deflate cannot shrink
      const next = () => {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        return (x >>> 0) & 0xff;
      };
      await Deno.writeFile(`${dir}/data.bin`, new Uint8Array(70_000).map(next));
      const files = ["0x10000", `${dir}/app.bin`, "0x60000", `${dir}/data.bin`];
      // Each tool gets a chip of its own with erased flash. Both use the ROM loader
      // (--no-stub), so the comparison does not hang on which stub the chip takes for esptool's.
      {
        await using a = await serveChip("esp32c3", "02:00:00:00:00:61", `${dir}/a.bin`);
        await using b = await serveChip("esp32c3", "02:00:00:00:00:61", `${dir}/b.bin`);
        const common = ["--before", "no-reset", "--no-stub"];
        const theirs = await runEsptool([
          "--port",
          a.url,
          ...common,
          "write-flash",
          "-z",
          ...files,
        ]);
        assert.equal(theirs.code, 0, theirs.output);
        const ours = await espline(["--port", b.url, ...common, "write-flash", ...files]);
        assert.equal(ours.code, 0, ours.text);
        assertSaysEverything(theirs.output, ours.text, "write-flash");
        // Per region as it completes: app.bin's lines come before data.bin's start.
        const text = ours.text;
        assert.ok(
          text.indexOf("Wrote 200000 bytes") < text.indexOf(`Writing '${dir}/data.bin'`),
          text,
        );
        // Again: esptool --skip-flashed and espline (which skips by default) say the same.
        const again = await runEsptool([
          "--port",
          a.url,
          ...common,
          "write-flash",
          "--skip-flashed",
          ...files,
        ]);
        assert.equal(again.code, 0, again.output);
        const oursAgain = await espline(["--port", b.url, ...common, "write-flash", ...files]);
        assertSaysEverything(again.output, oursAgain.text, "write-flash, already written");
        assert.match(oursAgain.text, /already in flash, skipping write\./);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
