/**
 * The virtual chip's flash file is written through: a process killed in
 * the middle of a write leaves the file as a board unplugged at that moment
 * keeps its flash, partly written, and the next virtual chip on that file
 * starts from it.
 */
import assert from "node:assert/strict";
import { connect } from "../mod.ts";

/** First offset where `a` and `b` differ, or -1 (deepEqual's diff of 32 KiB arrays takes minutes). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  return a.findIndex((v, i) => v !== b[i]);
}

const APP_AT = 0x10000;
const APP_SIZE = 0x20000;
/** Kill once this much of the image is written (two of the stub's 16 KiB blocks). */
const KILL_AT = 0x8000;

Deno.test("a process killed mid-write leaves the flash file partly written, and the next chip starts from it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "espline-flash-kill-" });
  try {
    const file = `${dir}/flash.bin`;
    const image = new Uint8Array(APP_SIZE);
    crypto.getRandomValues(image.subarray(0, 0x10000));
    crypto.getRandomValues(image.subarray(0x10000));
    await Deno.writeFile(`${dir}/app.bin`, image);
    const child = `
      import { connect } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
      const image = await Deno.readFile(${JSON.stringify(`${dir}/app.bin`)});
      const device = await connect(${
      JSON.stringify(`sim://esp32c3?firmware=erased&size=1MB&flash=${file}`)
    }, {
        before: "no-reset",
        onEvent: (e) => {
          if (e.type === "progress" && e.stage === "write" && e.done >= ${KILL_AT}) {
            Deno.kill(Deno.pid, "SIGKILL");
          }
        },
      });
      await device.flash([{ address: ${APP_AT}, data: image, name: "app.bin" }]);
      console.log("the write finished: the kill did not happen");
    `;
    await Deno.writeTextFile(`${dir}/child.ts`, child);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--config",
        new URL("../deno.json", import.meta.url).pathname,
        `${dir}/child.ts`,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(
      out.signal,
      "SIGKILL",
      new TextDecoder().decode(out.stdout) +
        new TextDecoder().decode(out.stderr),
    );
    const flash = await Deno.readFile(file);
    assert.equal(flash.length, 0x100000, "the file holds the whole flash");
    const region = flash.subarray(APP_AT, APP_AT + APP_SIZE);
    assert.equal(
      firstDifference(region.subarray(0, KILL_AT), image.subarray(0, KILL_AT)),
      -1,
      "the part written before the kill is in the file",
    );
    const tail = region.subarray(APP_SIZE - 0x4000);
    assert.ok(tail.every((b) => b === 0xff), "the last block was never written");
    // The next chip on the file starts from it: a device reading there sees the partial write.
    await using device = await connect(`sim://esp32c3?size=1MB&flash=${file}`, {
      before: "no-reset",
    });
    const back = await device.read({ address: APP_AT, size: KILL_AT });
    assert.equal(firstDifference(back, image.subarray(0, KILL_AT)), -1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
