import assert from "node:assert/strict";
import {
  CHIP_CHOICES,
  type ConnectOptions,
  normalizeConnectOptions,
  parseAfter,
  parseBefore,
  parseChip,
} from "./connect_options.ts";
import { CHIPS } from "../chips/index.ts";
import { UsageError } from "../errors.ts";

Deno.test("the chip choices are the chip families' keys plus auto", () => {
  assert.deepEqual([...CHIP_CHOICES].sort(), ["auto", ...CHIPS.map((c) => c.key)].sort());
});

Deno.test("before/after/chip text in esptool's spellings becomes the union", () => {
  assert.equal(parseBefore("default_reset"), "default-reset");
  assert.equal(parseBefore(" No-Reset "), "no-reset");
  assert.equal(parseAfter("no_reset_stub"), "no-reset-stub");
  assert.equal(parseChip("ESP32-S3"), "esp32s3");
  assert.equal(parseChip("AUTO"), "auto");
  assert.throws(
    () => parseBefore("sometimes"),
    (e) =>
      e instanceof UsageError && e.code === "E_BAD_CHOICE" &&
      /unknown --before "sometimes": use one of default-reset, usb-reset/.test(e.message),
  );
  assert.throws(() => parseChip("esp99"), (e) => e instanceof UsageError);
});

Deno.test("normalizeConnectOptions fills in esptool's defaults", () => {
  assert.deepEqual(normalizeConnectOptions({}), {
    port: "auto",
    chip: "auto",
    baud: 115200,
    before: "default-reset",
    after: "hard-reset",
    stub: true,
    connectAttempts: 7,
    trace: false,
    resetConfig: {},
  });
  const o = normalizeConnectOptions({ port: "sim://esp32", portFilter: "vid=303a", baud: 921600 });
  assert.equal(o.portFilter, "vid=303a");
  assert.equal(o.baud, 921600);
});

Deno.test("a script's wrong value is a typed usage error naming the option, before any port is opened", () => {
  const bad: [unknown, RegExp][] = [
    [{ before: "sometimes" }, /--before "sometimes"/],
    [{ after: "reboot" }, /--after "reboot"/],
    [{ chip: "esp99" }, /unknown chip "esp99"/],
    [{ baud: "fast" }, /invalid baud "fast"/],
    [{ baud: 12 }, /invalid baud 12/],
    [{ connectAttempts: -1 }, /invalid connectAttempts -1/],
    [{ port: "" }, /invalid port ""/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => normalizeConnectOptions(options as ConnectOptions),
      (e) => e instanceof UsageError && message.test(e.message),
      JSON.stringify(options),
    );
  }
});
