import assert from "node:assert/strict";
import { guidBytes, isInvalidHandle, readUtf16z, utf16z } from "./win32.ts";

Deno.test("GUIDs are laid out as guiddef.h has them: Data1-3 little-endian, Data4 as written", () => {
  // GUID_DEVCLASS_PORTS {4D36E978-E325-11CE-BFC1-08002BE10318}
  assert.deepEqual(
    [...guidBytes("{4D36E978-E325-11CE-BFC1-08002BE10318}")],
    [
      0x78,
      0xe9,
      0x36,
      0x4d,
      0x25,
      0xe3,
      0xce,
      0x11,
      0xbf,
      0xc1,
      0x08,
      0x00,
      0x2b,
      0xe1,
      0x03,
      0x18,
    ],
  );
  assert.deepEqual(
    guidBytes("86e0d1e0-8089-11d0-9ce4-08003e301f73"),
    guidBytes("{86E0D1E0-8089-11D0-9CE4-08003E301F73}"),
  );
  assert.throws(() => guidBytes("4D36E978-E325-11CE-BFC1"), RangeError);
});

Deno.test("UTF-16 strings: NUL-terminated going in; coming out bounded by the length given, cut at a NUL", () => {
  assert.deepEqual([...utf16z("C\u00e9")], [0x43, 0, 0xe9, 0, 0, 0]);
  assert.equal(readUtf16z(utf16z("COM3")), "COM3");
  const unterminated = utf16z("COM12").subarray(0, 10);
  assert.equal(readUtf16z(unterminated, 10), "COM12", "registry strings may lack their NUL");
  assert.equal(readUtf16z(utf16z("COM12"), 6), "COM", "never past the length the call reported");
  assert.equal(readUtf16z(utf16z("COM12"), 7), "COM", "an odd length drops the half character");
  assert.equal(readUtf16z(utf16z("COM3"), 999), "COM3");
  assert.equal(readUtf16z(new Uint8Array(8), 8), "");
});

Deno.test("NULL and INVALID_HANDLE_VALUE are invalid handles; others are not", () => {
  assert.equal(isInvalidHandle(null), true);
  assert.equal(isInvalidHandle(Deno.UnsafePointer.create(0xffffffffffffffffn)), true);
  assert.equal(isInvalidHandle(Deno.UnsafePointer.create(0x1234n)), false);
  assert.equal(isInvalidHandle(Deno.UnsafePointer.create(0xffffffff80000002n)), false);
});
