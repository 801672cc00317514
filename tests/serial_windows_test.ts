import assert from "node:assert/strict";
import {
  CLRDTR,
  CLRRTS,
  COMMTIMEOUTS_SIZE,
  DCB_BITS,
  DCB_OFFSETS,
  DCB_SIZE,
  deviceName,
  encodeDcb,
  encodeTimeouts,
  type Kernel32,
  openWindowsSerialPort,
  SETDTR,
  SETRTS,
} from "../lib/transport/serial_windows.ts";
import { TransportError } from "../lib/errors.ts";
import { openSimPort } from "../lib/sim/sim_port.ts";
import { LoaderSession } from "../lib/loader/session.ts";
import { connectStrategies, hardReset } from "../lib/loader/reset.ts";
import { readChipInfo } from "../lib/loader/info.ts";
import { simKernel32 } from "./support/fake_kernel32.ts";

Deno.test("DCB layout: length, baud, binary bit, DTR/RTS control disabled, 8N1 at their offsets", () => {
  const dcb = encodeDcb(new Uint8Array(DCB_SIZE).fill(0xaa), 921600);
  const v = new DataView(dcb.buffer);
  assert.equal(DCB_SIZE, 28);
  assert.deepEqual(DCB_OFFSETS, {
    DCBlength: 0,
    BaudRate: 4,
    bitFields: 8,
    XonLim: 14,
    XoffLim: 16,
    ByteSize: 18,
    Parity: 19,
    StopBits: 20,
  });
  assert.equal(v.getUint32(0, true), 28);
  assert.equal(v.getUint32(4, true), 921600);
  const bits = v.getUint32(8, true);
  assert.equal(bits, 1, "only fBinary set");
  assert.deepEqual([DCB_BITS.fBinary, DCB_BITS.fDtrControl, DCB_BITS.fRtsControl], [0, 4, 12]);
  assert.deepEqual([DCB_BITS.fOutX, DCB_BITS.fInX, DCB_BITS.fAbortOnError], [8, 9, 14]);
  assert.deepEqual([dcb[18], dcb[19], dcb[20]], [8, 0, 0], "ByteSize 8, NOPARITY, ONESTOPBIT");
  assert.deepEqual([dcb[14], dcb[16], dcb[21], dcb[27]], [0xaa, 0xaa, 0xaa, 0xaa], "rest kept");
});

Deno.test("DCB carries asserted lines as DTR_CONTROL_ENABLE / RTS_CONTROL_ENABLE", () => {
  const bits = (lines: { dtr?: boolean; rts?: boolean }) =>
    new DataView(encodeDcb(new Uint8Array(DCB_SIZE), 115200, lines).buffer).getUint32(8, true);
  assert.equal(bits({ dtr: true }), 0x1 | (1 << 4));
  assert.equal(bits({ rts: true }), 0x1 | (1 << 12));
  assert.equal(bits({ dtr: true, rts: true }), 0x1011);
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
  options: {
    openError?: number;
    reads?: (Uint8Array | "fail")[];
    writes?: "fail"[];
    lastError?: number;
    /** EscapeCommFunction fails with this error. */
    escapeError?: number;
    /** What ClearCommError answers once the device is gone. Default 22 (ERROR_BAD_COMMAND). */
    goneError?: number;
    /** ReadFile/WriteFile fail while the device is still there (ClearCommError succeeds). */
    stillThere?: boolean;
  } = {},
) {
  const calls: string[] = [];
  const reads = [...(options.reads ?? [])];
  const writes = [...(options.writes ?? [])];
  let lastError = options.lastError ?? 0;
  let unplugged = false;
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
      const v = new DataView(dcb.buffer);
      calls.push(
        `SetCommState(${v.getUint32(4, true)}, bits 0x${v.getUint32(8, true).toString(16)})`,
      );
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
        // Unplugged. The real call runs on Deno's FFI thread, so its last error
        // never reaches the main thread: leave a misleading value there.
        unplugged = !options.stillThere;
        lastError = 0;
        return Promise.resolve(0);
      }
      const data = next ?? new Uint8Array(0);
      buf.set(data);
      new DataView(read.buffer).setUint32(0, data.length, true);
      return Promise.resolve(1);
    },
    WriteFile(_h, buf, size, written) {
      calls.push(`WriteFile(${size})`);
      if (writes.shift() === "fail") {
        unplugged = !options.stillThere;
        lastError = 0;
        return Promise.resolve(0);
      }
      new DataView(written.buffer).setUint32(0, Math.min(size, 3), true); // partial writes
      void buf;
      return Promise.resolve(1);
    },
    EscapeCommFunction(_h, code) {
      calls.push(`EscapeCommFunction(${code})`);
      if (options.escapeError) {
        lastError = options.escapeError;
        return 0;
      }
      return 1;
    },
    PurgeComm(_h, flags) {
      calls.push(`PurgeComm(0x${flags.toString(16)})`);
      return 1;
    },
    ClearCommError(_h, errors) {
      calls.push("ClearCommError");
      if (unplugged) {
        lastError = options.goneError ?? 22; // ERROR_BAD_COMMAND: what a vanished USB bridge answers
        return 0;
      }
      errors.fill(0);
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
  const port = await openWindowsSerialPort("COM7", {
    baud: 115200,
    kernel32: k,
    info: { vid: 0x303a, pid: 0x1001 },
  });
  assert.deepEqual(port.info, { vid: 0x303a, pid: 0x1001, path: "COM7" });
  await port.setSignals({ dtr: false, rts: true });
  assert.deepEqual(await port.read(100), new Uint8Array([1, 2, 3]));
  assert.equal(await port.read(100), null, "timeout: no bytes");
  await port.read(250);
  await port.write(new Uint8Array(7));
  await port.setSignals({ dtr: true });
  await port.setBaud(921600);
  await port.close();
  await port.close();
  assert.deepEqual(calls, [
    "CreateFileW(\\\\.\\COM7, 0xc0000000)",
    "GetCommState",
    "SetCommState(115200, bits 0x1)",
    `EscapeCommFunction(${CLRDTR})`,
    `EscapeCommFunction(${CLRRTS})`,
    `EscapeCommFunction(${CLRDTR})`, // DTR again after RTS (usbser.sys)
    "PurgeComm(0xa)",
    `EscapeCommFunction(${CLRDTR})`,
    `EscapeCommFunction(${SETRTS})`,
    `EscapeCommFunction(${CLRDTR})`,
    "SetCommTimeouts(100)",
    "ReadFile",
    "ReadFile",
    "SetCommTimeouts(250)",
    "ReadFile",
    "WriteFile(7)",
    "WriteFile(4)",
    "WriteFile(1)",
    `EscapeCommFunction(${SETDTR})`,
    "GetCommState",
    "SetCommState(921600, bits 0x1011)", // the baud change keeps DTR and RTS asserted
    "CloseHandle",
  ]);
  assert.deepEqual([SETRTS, CLRRTS, SETDTR, CLRDTR], [3, 4, 5, 6]);
  await assert.rejects(
    () => port.read(10),
    (e) => e instanceof TransportError && e.code === "E_PORT_CLOSED",
  );
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
  const { k, calls } = fakeKernel32({ reads: ["fail"] });
  const port = await openWindowsSerialPort("COM9", { kernel32: k });
  await assert.rejects(
    () => port.read(100),
    (e) =>
      e instanceof TransportError && e.code === "E_PORT_GONE" &&
      /went away during read \(Windows error 22\): plug the board back in/.test(e.message),
  );
  assert.deepEqual(calls.slice(-2), ["ReadFile", "ClearCommError"], "probed on the main thread");
  await port.close();
});

Deno.test("a driver without modem lines (EscapeCommFunction fails with 50 or 1): the port opens, DTR/RTS reject with E_NO_MODEM_LINES", async () => {
  for (const error of [50, 1]) {
    const { k, calls } = fakeKernel32({ escapeError: error });
    const port = await openWindowsSerialPort("COM1", { kernel32: k });
    assert.deepEqual(calls, [
      "CreateFileW(\\\\.\\COM1, 0xc0000000)",
      "GetCommState",
      "SetCommState(115200, bits 0x1)", // the DCB has already released both lines
      `EscapeCommFunction(${CLRDTR})`,
      "PurgeComm(0xa)",
    ]);
    for (const signals of [{ dtr: true }, { rts: true }, { dtr: false, rts: false }]) {
      await assert.rejects(
        () => port.setSignals(signals),
        (e) =>
          e instanceof TransportError && e.code === "E_NO_MODEM_LINES" &&
          e.message.startsWith(
            `COM1 has no DTR/RTS lines (its driver answers Windows error ${error} to setting`,
          ) && /put the board in download mode by hand/.test(e.message),
      );
    }
    // Data still flows, and a baud change still works (through the DCB).
    await port.setBaud(460800);
    assert.equal(port.baud, 460800);
    await port.close();
  }
});

Deno.test("EscapeCommFunction failing for another reason still fails the open, and the handle is closed", async () => {
  const { k, calls } = fakeKernel32({ escapeError: 31 }); // ERROR_GEN_FAILURE: the bridge is gone
  await assert.rejects(
    () => openWindowsSerialPort("COM6", { kernel32: k }),
    (e) =>
      e instanceof TransportError && e.code === "E_PORT_GONE" &&
      /COM6 went away during setting DTR \(Windows error 31\)/.test(e.message),
  );
  assert.equal(calls.at(-1), "CloseHandle");
});

Deno.test("a vanished device: ReadFile/WriteFile failures with 21, 433, 1117, 1617 … are E_PORT_GONE; a port still there is E_PORT_IO", async () => {
  for (const goneError of [21, 22, 31, 55, 433, 995, 1117, 1167, 1617]) {
    const r = fakeKernel32({ reads: ["fail"], goneError });
    const reader = await openWindowsSerialPort("COM9", { kernel32: r.k });
    await assert.rejects(
      () => reader.read(100),
      (e) =>
        e instanceof TransportError && e.code === "E_PORT_GONE" &&
        e.message ===
          `port COM9 went away during read (Windows error ${goneError}): plug the board back in`,
      `read, error ${goneError}`,
    );
    await reader.close();
    const w = fakeKernel32({ writes: ["fail"], goneError });
    const writer = await openWindowsSerialPort("COM9", { kernel32: w.k });
    await assert.rejects(
      () => writer.write(new Uint8Array([0xc0, 0xc0])),
      (e) =>
        e instanceof TransportError && e.code === "E_PORT_GONE" &&
        new RegExp(`during write \\(Windows error ${goneError}\\)`).test(e.message),
      `write, error ${goneError}`,
    );
    assert.deepEqual(w.calls.slice(-2), ["WriteFile(2)", "ClearCommError"]);
    await writer.close();
  }
  const { k } = fakeKernel32({ reads: ["fail"], stillThere: true });
  const port = await openWindowsSerialPort("COM9", { kernel32: k });
  await assert.rejects(
    () => port.read(100),
    (e) =>
      e instanceof TransportError && e.code === "E_PORT_IO" &&
      /the port is still there, retry/.test(e.message),
  );
  await port.close();
});

Deno.test("a whole session over the Windows backend on a port without modem lines: resets skipped with the reason, the chip still answers", async () => {
  for (const escapeError of [50, 1]) {
    const sim = openSimPort({ chip: "esp32" }); // powered up in download mode, as the report's board was
    const { k } = simKernel32(sim, { escapeError });
    const port = await openWindowsSerialPort("COM1", { kernel32: k });
    const logs: string[] = [];
    try {
      const session = await LoaderSession.connect(port, {
        resetStrategies: connectStrategies("default_reset", port.info, {
          config: {},
          os: "windows",
        }),
        onEvent: (e) => {
          if (e.type === "log") logs.push(e.message);
        },
      });
      assert.equal(session.chip.key, "esp32");
      assert.ok(
        logs.some((m) =>
          m.startsWith(
            `classic(50 ms) reset skipped: COM1 has no DTR/RTS lines (its driver answers Windows error ${escapeError}`,
          )
        ),
        logs.join("\n"),
      );
      assert.equal((await readChipInfo(session)).mac, sim.chip.mac);
      await hardReset(port, { config: {} }); // --after hard-reset: nothing to pulse, not an error
    } finally {
      await port.close();
      await sim.close();
    }
  }
});

Deno.test("a whole session over the Windows backend: the device vanishing mid-session (error 21) is E_PORT_GONE", async () => {
  const sim = openSimPort({ chip: "esp32" });
  const fake = simKernel32(sim);
  const port = await openWindowsSerialPort("COM1", { kernel32: fake.k });
  try {
    const session = await LoaderSession.connect(port, { resetStrategies: [] });
    fake.vanish(21); // ERROR_NOT_READY, as a killed virtual-port server left it
    await assert.rejects(
      () => readChipInfo(session),
      (e) =>
        e instanceof TransportError && e.code === "E_PORT_GONE" &&
        /port COM1 went away during (write|read) \(Windows error 21\)/.test(e.message),
    );
  } finally {
    await port.close();
    await sim.close();
  }
});
