/**
 * Serve a virtual chip over a pseudo-terminal: the client opens the slave
 * path (`/dev/pts/N`) like any serial port, so tests exercise the real FFI
 * serial code. The line speed the client sets on the slave is read back from
 * the pty (termios2) and handed to the chip, so a baud mismatch garbles
 * bytes as on a real wire. Ptys carry no modem lines: reset strategies
 * cannot drive this chip (use RFC 2217 or the in-memory port for that).
 *
 * Linux only (openpty from glibc, termios2). Own FFI bindings: the virtual
 * chip does not import the client's transport code.
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";

const SYMBOLS = {
  openpty: { parameters: ["buffer", "buffer", "buffer", "pointer", "pointer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32", nonblocking: true },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
} as const;

/** Linux asm-generic/ioctls.h TCGETS2 (struct termios2, 44 bytes; c_ospeed at offset 40). */
const TCGETS2 = 0x802c542an;
/** fcntl F_SETFL and O_NONBLOCK (asm-generic/fcntl.h). */
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
/** fcntl F_SETFD and FD_CLOEXEC (asm-generic/fcntl.h). */
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const POLLIN = 0x1;

let libc: Deno.DynamicLibrary<typeof SYMBOLS>["symbols"] | null = null;
function lib() {
  libc ??= Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  return libc;
}

/** A virtual chip behind a pty. */
export interface SimPty {
  /** The path a client opens, e.g. `/dev/pts/3`. */
  path: string;
  /** The chip. */
  chip: VirtualChip;
  /** Hang up the pty: a client reading the slave sees the device vanish. */
  hangUp(): void;
  /** Stop serving and close both sides. */
  close(): Promise<void>;
}

/**
 * Create a pty pair and serve a virtual chip on its master side (a new one
 * from `options`, closed with the server, or an existing one, left open).
 *
 * @example
 * ```ts
 * import { serveSimPty } from "./pty.ts";
 * const pty = serveSimPty({ chip: "esp32" });
 * console.log(pty.path); // open it with the serial transport
 * await pty.close();
 * ```
 */
export function serveSimPty(options: VirtualChipOptions | VirtualChip): SimPty {
  if (Deno.build.os !== "linux") throw new Error("serveSimPty needs Linux (openpty, termios2)");
  const m = new Int32Array(1);
  const s = new Int32Array(1);
  const name = new Uint8Array(128);
  if (lib().openpty(m, s, name, null, null) !== 0) throw new Error("openpty failed");
  const master = m[0];
  const slaveKeeper = s[0]; // held open so the pty survives the client closing and reopening
  const path = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
  // Raw mode on the slave so the line discipline passes bytes through untouched.
  const t = new Uint8Array(128);
  lib().tcgetattr(slaveKeeper, t);
  lib().cfmakeraw(t);
  lib().tcsetattr(slaveKeeper, 0, t);
  lib().fcntl(master, F_SETFL, O_NONBLOCK);
  // Close on exec: child processes spawned meanwhile must not keep the pty open.
  lib().fcntl(master, F_SETFD, FD_CLOEXEC);
  lib().fcntl(slaveKeeper, F_SETFD, FD_CLOEXEC);
  const owned = !(options instanceof VirtualChip);
  const chip = options instanceof VirtualChip ? options : new VirtualChip(options);
  let closed = false;
  let hungUp = false;
  let lastBaud = 0;
  const unsubscribe = chip.onTransmit((bytes) => {
    if (closed || hungUp) return;
    let off = 0;
    for (let tries = 0; off < bytes.length && tries < 1000; tries++) {
      const n = Number(lib().write(master, bytes.subarray(off), BigInt(bytes.length - off)));
      if (n > 0) off += n;
    }
  });
  const syncBaud = () => {
    const t2 = new Uint8Array(44);
    if (lib().ioctl(master, TCGETS2, t2) === 0) {
      const baud = new DataView(t2.buffer).getUint32(40, true);
      if (baud && baud !== lastBaud) {
        lastBaud = baud;
        chip.setHostBaud(baud);
      }
    }
  };
  const loop = (async () => {
    const pfd = new Uint8Array(8);
    const view = new DataView(pfd.buffer);
    const buf = new Uint8Array(4096);
    while (!closed) {
      view.setInt32(0, master, true);
      view.setInt16(4, POLLIN, true);
      view.setInt16(6, 0, true);
      const n = await lib().poll(pfd, 1, 20);
      if (closed) break;
      syncBaud();
      if (n > 0 && (view.getInt16(6, true) & POLLIN)) {
        const got = Number(lib().read(master, buf, BigInt(buf.length)));
        if (got > 0) chip.receive(buf.slice(0, got));
      }
    }
  })();
  return {
    path,
    chip,
    hangUp() {
      if (hungUp) return;
      hungUp = true;
      closed = true;
      // Closing the master (and our slave handle) hangs up the line: slave reads fail with EIO.
      loop.then(() => {
        lib().close(master);
        lib().close(slaveKeeper);
      });
    },
    async close() {
      if (!closed) closed = true;
      await loop;
      unsubscribe();
      if (!hungUp) {
        hungUp = true;
        lib().close(master);
        lib().close(slaveKeeper);
      }
      if (owned) await chip.close();
    },
  };
}
