/**
 * kernel32's serial calls in front of a virtual chip, so the Windows backend
 * (lib/transport/serial_windows.ts) runs whole loader sessions on machines
 * without Windows: its driver can lack modem lines, and the device can
 * vanish.
 *
 * @module
 */

import type { Kernel32 } from "../../lib/transport/serial_windows.ts";
import type { SimPort } from "../../lib/sim/sim_port.ts";

/** Options for {@link simKernel32}. */
export interface SimKernel32Options {
  /** EscapeCommFunction fails with this error (50, 1: a driver without modem lines). Default: it works. */
  escapeError?: number;
}

/**
 * kernel32's serial calls in front of a virtual chip's port: ReadFile waits up
 * to ReadTotalTimeoutConstant for the first bytes, as COMMTIMEOUTS
 * MAXDWORD/MAXDWORD/constant do; `vanish(code)` makes the device go away, after
 * which ReadFile/WriteFile fail (their error stays on the FFI worker thread)
 * and the main-thread calls fail with `code`.
 */
export function simKernel32(port: SimPort, options: SimKernel32Options = {}) {
  const calls: string[] = [];
  let lastError = 0;
  let gone = 0;
  let timeoutMs = 0;
  let pending = new Uint8Array(0);
  const failHere = (code: number) => {
    lastError = code;
    return 0;
  };
  const k: Kernel32 = {
    CreateFileW: () => Deno.UnsafePointer.create(0x4242n),
    GetCommState(_h, dcb) {
      dcb.fill(0);
      new DataView(dcb.buffer).setUint32(4, port.baud, true);
      return gone ? failHere(gone) : 1;
    },
    SetCommState(_h, dcb) {
      if (gone) return failHere(gone);
      void port.setBaud(new DataView(dcb.buffer).getUint32(4, true));
      return 1;
    },
    SetCommTimeouts(_h, t) {
      if (gone) return failHere(gone);
      timeoutMs = new DataView(t.buffer).getUint32(8, true);
      return 1;
    },
    async ReadFile(_h, buf, size, read) {
      calls.push("ReadFile");
      if (gone) return 0;
      let chunk: Uint8Array | null = pending;
      if (!chunk.length) chunk = await port.read(timeoutMs).catch(() => null);
      if (gone) return 0;
      chunk ??= new Uint8Array(0);
      const n = Math.min(size, chunk.length);
      buf.set(chunk.subarray(0, n));
      pending = chunk.slice(n);
      new DataView(read.buffer).setUint32(0, n, true);
      return 1;
    },
    async WriteFile(_h, buf, size, written) {
      calls.push(`WriteFile(${size})`);
      if (gone) return 0;
      await port.write(buf.slice(0, size));
      new DataView(written.buffer).setUint32(0, size, true);
      return 1;
    },
    EscapeCommFunction(_h, code) {
      calls.push(`EscapeCommFunction(${code})`);
      if (gone) return failHere(gone);
      if (options.escapeError) return failHere(options.escapeError);
      const line = code === 3 || code === 4 ? "rts" : "dtr";
      void port.setSignals({ [line]: code === 3 || code === 5 });
      return 1;
    },
    PurgeComm() {
      if (gone) return failHere(gone);
      pending = new Uint8Array(0);
      void port.flushInput();
      return 1;
    },
    ClearCommError(_h, errors) {
      calls.push("ClearCommError");
      if (gone) return failHere(gone);
      errors.fill(0);
      return 1;
    },
    CloseHandle() {
      calls.push("CloseHandle");
      return 1;
    },
    GetLastError: () => lastError,
  };
  return {
    k,
    calls,
    /** The device goes away; calls on the main thread then fail with `code`. */
    vanish(code: number) {
      gone = code;
      lastError = 0; // what the main thread last saw has nothing to do with it
    },
  };
}
