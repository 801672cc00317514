import assert from "node:assert/strict";
import {
  checksum,
  decodeResponse,
  encodeRequest,
  MalformedPacketError,
  Op,
  opName,
  SYNC_PAYLOAD,
  u32le,
} from "./packet.ts";
import { checkStatus, isUnsupported, LOADER_ERRORS, LoaderStatusError } from "./status.ts";

Deno.test("request header is 00 op len16 chk32 little-endian", () => {
  const p = encodeRequest(Op.FLASH_DATA, Uint8Array.of(1, 2, 3), 0x1234);
  assert.deepEqual(Array.from(p), [0, 0x03, 3, 0, 0x34, 0x12, 0, 0, 1, 2, 3]);
});

Deno.test("checksum is XOR seeded with 0xEF", () => {
  assert.equal(checksum(new Uint8Array(0)), 0xef);
  assert.equal(checksum(Uint8Array.of(0xef)), 0);
  assert.equal(checksum(Uint8Array.of(1, 2, 4)), 0xef ^ 7);
});

Deno.test("SYNC payload is 07 07 12 20 + 32 x 55", () => {
  assert.equal(SYNC_PAYLOAD.length, 36);
  assert.deepEqual(Array.from(SYNC_PAYLOAD.subarray(0, 4)), [7, 7, 0x12, 0x20]);
  assert.ok(SYNC_PAYLOAD.subarray(4).every((b) => b === 0x55));
});

Deno.test("decodeResponse reads op, value and sized data", () => {
  const frame = Uint8Array.of(1, 0x0a, 4, 0, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0);
  const r = decodeResponse(frame);
  assert.equal(r.op, 0x0a);
  assert.equal(r.value, 0x12345678);
  assert.equal(r.data.length, 4);
});

Deno.test("decodeResponse rejects short, request-direction and truncated frames", () => {
  assert.throws(() => decodeResponse(Uint8Array.of(1, 2, 3)), MalformedPacketError);
  assert.throws(() => decodeResponse(encodeRequest(Op.SYNC)), /not a response/);
  assert.throws(() => decodeResponse(Uint8Array.of(1, 8, 9, 0, 0, 0, 0, 0, 1)), /claims 9/);
});

Deno.test("u32le packs words", () => {
  assert.deepEqual(Array.from(u32le(1, 0xffffffff)), [1, 0, 0, 0, 255, 255, 255, 255]);
});

Deno.test("opName names known opcodes", () => {
  assert.equal(opName(0x0a), "READ_REG");
  assert.equal(opName(0x99), "0x99");
});

Deno.test("checkStatus returns the payload on success (2- and 4-byte status forms)", () => {
  assert.deepEqual(Array.from(checkStatus(0x13, Uint8Array.of(9, 9, 0, 0), 2, "x")), [9, 9]);
  assert.deepEqual(Array.from(checkStatus(0x13, Uint8Array.of(9, 0, 0, 0, 0), 1, "x")), [9]);
});

Deno.test("every loader error code becomes a typed error with its own code and a hint", () => {
  const seen = new Set<string>();
  for (const [statusText, info] of Object.entries(LOADER_ERRORS)) {
    const status = Number(statusText);
    const rom = Uint8Array.of(status >> 8, status & 0xff, 0, 0);
    let err: unknown;
    try {
      checkStatus(Op.FLASH_DATA, rom, 0, "write flash");
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof LoaderStatusError);
    assert.equal(err.code, info.name);
    assert.equal(err.status, status);
    assert.match(err.message, /^write flash failed: /);
    assert.ok(err.message.includes(info.hint));
    seen.add(info.name);
  }
  assert.equal(seen.size, Object.keys(LOADER_ERRORS).length, "codes are unique");
});

Deno.test("an error status before the expected payload is still reported as the error", () => {
  // READ_FLASH_SLOW expects 64 bytes of payload but the ROM sent only its status.
  assert.throws(
    () => checkStatus(0x0e, Uint8Array.of(1, 0x09), 64, "read flash"),
    /flash read error/,
  );
});

Deno.test("unknown status codes still fail, naming the opcode", () => {
  assert.throws(
    () => checkStatus(0x0a, Uint8Array.of(0x42, 0x42), 0, "read register"),
    /unknown status 0x4242 \(READ_REG\)/,
  );
});

Deno.test("a too-short success answer is an error, not a silent empty payload", () => {
  assert.throws(() => checkStatus(0x13, Uint8Array.of(0, 0), 16, "md5"), /too short/);
});

Deno.test("isUnsupported recognises ROM and stub 'unknown command' answers", () => {
  assert.ok(isUnsupported(new LoaderStatusError(0x14, 0x0105, "x")));
  assert.ok(isUnsupported(new LoaderStatusError(0x14, 0xff00, "x")));
  assert.ok(!isUnsupported(new LoaderStatusError(0x14, 0x0107, "x")));
});
