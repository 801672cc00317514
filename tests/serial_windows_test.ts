import assert from "node:assert/strict";
import {
  CLRDTR,
  COMMTIMEOUTS_SIZE,
  DCB_SIZE,
  deviceName,
  encodeDcb,
  encodeTimeouts,
  type Kernel32,
  openWindowsSerialPort,
  SETRTS,
} from "../lib/transport/serial_windows.ts";
import { TransportError } from "../lib/errors.ts";

Deno.test("DCB layout: length, baud, binary bit, DTR/RTS control disabled, 8N1 at their offsets", () => {
  const dcb = encodeDcb(new Uint8Array(DCB_SIZE).fill(0xaa), 921600);
  const v = new DataView(dcb.buffer);
  assert.equal(DCB_SIZE, 28);
  assert.equal(v.getUint32(0, true), 28);
  assert.equal(v.getUint32(4, true), 921600);
  const bits = v.getUint32(8, true);
  assert.equal(bits & 1, 1, "fBinary");
  assert.equal((bits >> 1) & 1, 0, "fParity");
  assert.equal((bits >> 2) & 3, 0, "no CTS/DSR flow control");
  assert.equal((bits >> 4) & 3, 0, "fDtrControl = DTR_CONTROL_DISABLE");
  assert.equal((bits >> 8) & 3, 0, "no XON/XOFF");
  assert.equal((bits >> 12) & 3, 0, "fRtsControl = RTS_CONTROL_DISABLE");
  assert.deepEqual([dcb[18], dcb[19], dcb[20]], [8, 0, 0], "ByteSize 8, NOPARITY, ONESTOPBIT");
});

Deno.test("COMMTIMEOUTS layout: MAXDWORD/MAXDWORD/constant returns on the first byte or after the timeout", () => {
  const t = encodeTimeouts(250);
  const v = new DataView(t.buffer);
  assert.equal(COMMTIMEOUTS_SIZE, 20);
  assert.deepEqual([0, 4, 8, 12, 16].map((o) => v.getUint32(o, true)), [
    0xffffffff,
    0xffffffff,
    250,
    0,
    10000,
  ]);
});

Deno.test("device names become \\\\.\\COMn in UTF-16 with a terminating NUL", () => {
  const n = deviceName("COM12");
  assert.equal(new TextDecoder("utf-16le").decode(n), "\\\\.\\COM12\0");
  assert.equal(new TextDecoder("utf-16le").decode(deviceName("\\\\.\\COM3")), "\\\\.\\COM3\0");
});

/** A fake kernel32 that records calls and plays back reads. */
function fakeKernel32(
  options: { openError?: number; reads?: (Uint8Array | "fail")[]; lastError?: number } = {},
) {
  const calls: string[] = [];
  const reads = [...(options.reads ?? [])];
  let lastError = options.lastError ?? 0;
  const handle = Deno.UnsafePointer.create(0x1234n);
  const k: Kernel32 = {
    CreateFileW(name, access) {
      calls.push(
        `CreateFileW(${new TextDecoder("utf-16le").decode(name).replace(/\0$/, "")}, 0x${
          access.toString(16)
        })`,
      );
      if (options.openError) {
        lastError = options.openError;
        return Deno.UnsafePointer.create(0xffffffffffffffffn);
      }
      return handle;
    },
    GetCommState(_h, dcb) {
      calls.push("GetCommState");
      dcb.fill(0);
      return 1;
    },
    SetCommState(_h, dcb) {
      calls.push(`SetCommState(${new DataView(dcb.buffer).getUint32(4, true)})`);
      return 1;
    },
    SetCommTimeouts(_h, t) {
      calls.push(`SetCommTimeouts(${new DataView(t.buffer).getUint32(8, true)})`);
      return 1;
    },
    ReadFile(_h, buf, _size, read) {
      calls.push("ReadFile");
      const next = reads.shift();
      if (next === "fail") {
        lastError = 1167; // ERROR_DEVICE_NOT_CONNECTED
        return Promise.resolve(0);
      }
      const data = next ?? new Uint8Array(0);
      buf.set(data);
      new DataView(read.buffer).setUint32(0, data.length, true);
      return Promise.resolve(1);
    },
    WriteFile(_h, buf, size, written) {
      calls.push(`WriteFile(${size})`);
      new DataView(written.buffer).setUint32(0, Math.min(size, 3), true); // partial writes
      void buf;
      return Promise.resolve(1);
    },
    EscapeCommFunction(_h, code) {
      calls.push(`EscapeCommFunction(${code})`);
      return 1;
    },
    PurgeComm(_h, flags) {
      calls.push(`PurgeComm(0x${flags.toString(16)})`);
      return 1;
    },
    CloseHandle() {
      calls.push("CloseHandle");
      return 1;
    },
    GetLastError: () => lastError,
  };
  return { k, calls };
}

Deno.test("open, signals, read with timeout, partial writes, close: the exact kernel32 call sequence", async () => {
  const { k, calls } = fakeKernel32({ reads: [new Uint8Array([1, 2, 3]), new Uint8Array(0)] });
  const port = await openWindowsSerialPort("COM7", { baud: 115200, kernel32: k });
  await port.setSignals({ dtr: false, rts: true });
  assert.deepEqual(await port.read(100), new Uint8Array([1, 2, 3]));
  assert.equal(await port.read(100), null, "timeout: no bytes");
  await port.read(250);
  await port.write(new Uint8Array(7));
  await port.setBaud(921600);
  await port.close();
  await port.close();
  assert.deepEqual(calls, [
    "CreateFileW(\\\\.\\COM7, 0xc0000000)",
    "GetCommState",
    "SetCommState(115200)",
    "EscapeCommFunction(6)",
    "EscapeCommFunction(4)",
    "PurgeComm(0xa)",
    "EscapeCommFunction(6)",
    `EscapeCommFunction(${SETRTS})`,
    "SetCommTimeouts(100)",
    "ReadFile",
    "ReadFile",
    "SetCommTimeouts(250)",
    "ReadFile",
    "WriteFile(7)",
    "WriteFile(4)",
    "WriteFile(1)",
    "GetCommState",
    "SetCommState(921600)",
    "CloseHandle",
  ]);
  assert.equal(CLRDTR, 6);
});

Deno.test("Windows errors become typed errors: missing port, busy port, unplugged during a read", async () => {
  await assert.rejects(
    () => openWindowsSerialPort("COM9", { kernel32: fakeKernel32({ openError: 2 }).k }),
    (e) => e instanceof TransportError && e.code === "E_PORT_NOT_FOUND",
  );
  await assert.rejects(
    () => openWindowsSerialPort("COM9", { kernel32: fakeKernel32({ openError: 5 }).k }),
    (e) =>
      e instanceof TransportError && e.code === "E_PORT_BUSY" &&
      /another program holds it/.test(e.message),
  );
  const port = await openWindowsSerialPort("COM9", {
    kernel32: fakeKernel32({ reads: ["fail"] }).k,
  });
  await assert.rejects(
    () => port.read(100),
    (e) => e instanceof TransportError && e.code === "E_PORT_GONE",
  );
  await port.close();
});
