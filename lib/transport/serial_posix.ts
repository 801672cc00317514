/**
 * Serial ports on Linux and macOS through Deno FFI to libc: open with
 * O_NONBLOCK|O_NOCTTY, raw 8N1 termios, any baud rate (termios2/BOTHER on
 * Linux, IOSSIOSPEED on macOS), DTR/RTS through ioctl, exclusive access
 * (TIOCEXCL plus flock), reads through poll with timeouts.
 *
 * Written by hand because no Deno serial library is reachable and
 * npm:serialport does not work under Deno. Numbers come from the Linux and
 * macOS headers named next to each constant. The macOS paths are written
 * from the headers and untested (no macOS machine here).
 *
 * Reads never leave a pending read behind: `poll` (marked nonblocking, so it
 * runs on a worker thread) only waits for readiness; the `read` that takes
 * the bytes runs on the main thread after poll returns, inside the call that
 * asked for them.
 *
 * @module
 */

import { TransportError, UsageError } from "../errors.ts";
import { programName } from "../program_name.ts";
import type { PortInfo, SerialSignals, Transport } from "./transport.ts";

const IS_MAC = Deno.build.os === "darwin";

/** fcntl.h flags. Linux asm-generic/fcntl.h; macOS sys/fcntl.h. */
const O_RDWR = 0x2;
const O_NOCTTY = IS_MAC ? 0x20000 : 0o400;
const O_NONBLOCK = IS_MAC ? 0x4 : 0o4000;
/** Close on exec, so child processes never inherit the port and its lock (Linux 0o2000000, macOS 0x1000000). */
const O_CLOEXEC = IS_MAC ? 0x1000000 : 0o2000000;
/** sys/file.h flock operations. */
const LOCK_EX = 2;
const LOCK_NB = 4;
/** poll.h events. */
const POLLIN = 0x1;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLHUP = 0x10;
const POLLNVAL = 0x20;
/** errno values (asm-generic/errno-base.h, errno.h; same numbers on macOS for these). */
const EAGAIN = IS_MAC ? 35 : 11;
const EINTR = 4;
const EIO = 5;
const ENXIO = 6;
const ENOENT = 2;
const EACCES = 13;
const EBUSY = 16;
const ENOTTY = 25;
const EWOULDBLOCK_LOCK = IS_MAC ? 35 : 11;
/** ioctl requests. Linux asm-generic/ioctls.h; macOS sys/ttycom.h. */
const TIOCEXCL = IS_MAC ? 0x2000740dn : 0x540cn;
const TIOCMBIS = IS_MAC ? 0x8004746cn : 0x5416n;
const TIOCMBIC = IS_MAC ? 0x8004746bn : 0x5417n;
/** Linux asm-generic/ioctls.h TCGETS2 / TCSETS2 (struct termios2 is 44 bytes). */
const TCGETS2 = 0x802c542an;
const TCSETS2 = 0x402c542bn;
/** macOS IOKit/serial/ioss.h IOSSIOSPEED (_IOW('T', 2, speed_t)). */
const IOSSIOSPEED = 0x80085402n;
/** termios.h modem bits. */
const TIOCM_DTR = 0x002;
const TIOCM_RTS = 0x004;
/** termios c_cflag bits. Linux asm-generic/termbits.h; macOS sys/termios.h. */
const CLOCAL = IS_MAC ? 0x8000 : 0o4000;
const CREAD = IS_MAC ? 0x800 : 0o200;
const CRTSCTS = IS_MAC ? 0x30000 : 0o20000000000;
/** Linux termbits.h: CBAUD mask and BOTHER (arbitrary baud in c_ispeed/c_ospeed). */
const CBAUD = 0o10017;
const BOTHER = 0o10000;
/** tcflush queue selector (TCIFLUSH) and tcsetattr action (TCSANOW). */
const TCIFLUSH = IS_MAC ? 1 : 0;
const TCSANOW = 0;
/** struct termios layout: tcflag_t is 4 bytes on Linux, 8 on macOS; c_cc offset and VMIN/VTIME indices. */
const TFLAG = IS_MAC ? 8 : 4;
const CFLAG_OFFSET = 2 * TFLAG;
const CC_OFFSET = IS_MAC ? 32 : 17;
const VTIME = IS_MAC ? 17 : 5;
const VMIN = IS_MAC ? 16 : 6;
/** Bytes reserved for struct termios (60 on glibc, 72 on macOS). */
const TERMIOS_SIZE = 128;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  poll: { parameters: ["buffer", "u32", "i32"], result: "i32", nonblocking: true },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  tcflush: { parameters: ["i32", "i32"], result: "i32" },
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  [IS_MAC ? "__error" : "__errno_location"]: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: Libc | null = null;

function lib(): Libc {
  if (!libc) {
    const path = IS_MAC ? "libSystem.B.dylib" : "libc.so.6";
    libc = Deno.dlopen(path, SYMBOLS).symbols;
  }
  return libc;
}

function errno(): number {
  const l = lib() as unknown as Record<string, () => Deno.PointerValue>;
  const p = l[IS_MAC ? "__error" : "__errno_location"]();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

function cstr(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** glibc's dev_t encoding (sys/sysmacros.h gnu_dev_major/gnu_dev_minor). */
function devMajorMinor(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

/**
 * The process holding the exclusive lock (flock) on `path`, from
 * /proc/locks: lines `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE …` with
 * major/minor in hex and the inode in decimal (Linux fs/locks.c). This
 * names the program that opened the port, not another one that merely has
 * it open too (a pty server keeps the slave side open, for instance).
 */
function lockHolder(path: string): number | null {
  let st: Deno.FileInfo;
  let locks: string;
  try {
    st = Deno.statSync(path);
    locks = Deno.readTextFileSync("/proc/locks");
  } catch {
    return null;
  }
  if (st.dev === null || st.ino === null) return null;
  const [major, minor] = devMajorMinor(st.dev);
  for (const line of locks.split("\n")) {
    const f = line.trim().split(/\s+/);
    // f: ["1:", "FLOCK", "ADVISORY", "WRITE", "4711", "00:19:6", "0", "EOF"]; blocked waiters have "->" first.
    if (f[1] !== "FLOCK") continue;
    const id = /^([0-9a-f]+):([0-9a-f]+):(\d+)$/.exec(f[5] ?? "");
    if (!id) continue;
    if (
      parseInt(id[1], 16) === major && parseInt(id[2], 16) === minor && Number(id[3]) === st.ino
    ) {
      const pid = Number(f[4]);
      if (pid > 0 && pid !== Deno.pid) return pid;
    }
  }
  return null;
}

/**
 * Which process holds `path` open: the one holding its lock (/proc/locks),
 * else the first other process with it open (/proc/PID/fd); null when
 * neither tells (not Linux, no permission).
 */
export function findHolder(path: string): number | null {
  const locked = lockHolder(path);
  if (locked !== null) return locked;
  let real: string;
  try {
    real = Deno.realPathSync(path);
  } catch {
    return null;
  }
  try {
    for (const proc of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(proc.name) || Number(proc.name) === Deno.pid) continue;
      try {
        for (const fd of Deno.readDirSync(`/proc/${proc.name}/fd`)) {
          try {
            if (Deno.readLinkSync(`/proc/${proc.name}/fd/${fd.name}`) === real) {
              return Number(proc.name);
            }
          } catch { /* fd closed meanwhile */ }
        }
      } catch { /* no permission or process gone */ }
    }
  } catch { /* no /proc */ }
  return null;
}

/** A short description of a process for messages: its command line, cut to 80 characters. */
export function describeProcess(pid: number): string | null {
  try {
    const raw = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
    const text = raw.split("\0").filter((s) => s.length > 0).join(" ").trim();
    if (text) return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch { /* not Linux, or gone */ }
  try {
    return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() || null;
  } catch {
    return null;
  }
}

/** Options for {@link openSerialPort}. */
export interface SerialOpenOptions {
  /** Line speed. Default 115200. */
  baud?: number;
  /** Take exclusive access (TIOCEXCL + flock). Default true. */
  exclusive?: boolean;
  /** USB facts to report in `info` (from port discovery). */
  info?: Partial<PortInfo>;
}

/**
 * A serial port on Linux or macOS.
 *
 * @example
 * ```ts
 * import { openSerialPort } from "./serial_posix.ts";
 * const port = openSerialPort("/dev/ttyUSB0", { baud: 115200 });
 * await port.write(new TextEncoder().encode("AT\r\n"));
 * console.log(await port.read(500));
 * await port.close();
 * ```
 */
export class PosixSerialPort implements Transport {
  /** Device path. */
  readonly path: string;
  /** USB facts where known. */
  readonly info: PortInfo;
  #fd: number;
  #baud: number;
  #closed = false;
  #polling: Promise<number> | null = null;
  #signals: { dtr: boolean; rts: boolean } = { dtr: false, rts: false };

  /** Use {@link openSerialPort}. */
  constructor(path: string, fd: number, baud: number, info: PortInfo) {
    this.path = path;
    this.#fd = fd;
    this.#baud = baud;
    this.info = info;
  }

  /** Current baud rate. */
  get baud(): number {
    return this.#baud;
  }

  /** The file descriptor (for tests and diagnostics). */
  get fd(): number {
    return this.#fd;
  }

  #gone(detail: string): TransportError {
    return new TransportError(
      "E_PORT_GONE",
      `port ${this.path} went away (${detail}): the board was unplugged or reset its USB; plug it back in and retry`,
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw new TransportError("E_PORT_CLOSED", `port ${this.path} is closed`);
  }

  async #poll(events: number, timeoutMs: number): Promise<number> {
    const pfd = new Uint8Array(8);
    const view = new DataView(pfd.buffer);
    view.setInt32(0, this.#fd, true);
    view.setInt16(4, events, true);
    this.#polling = lib().poll(pfd, 1, Math.max(0, Math.min(timeoutMs, 2 ** 31 - 1)));
    const n = await this.#polling;
    this.#polling = null;
    if (n < 0) {
      const e = errno();
      if (e === EINTR) return 0;
      throw this.#gone(`poll failed, errno ${e}`);
    }
    return n === 0 ? 0 : view.getInt16(6, true);
  }

  /** Read the next chunk, or null after `timeoutMs` without data. */
  async read(timeoutMs: number): Promise<Uint8Array | null> {
    this.#checkOpen();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Poll in short slices so close() never waits long for a worker thread.
      const slice = Math.max(0, Math.min(deadline - Date.now(), 100));
      const rev = await this.#poll(POLLIN, slice);
      if (this.#closed) {
        throw new TransportError("E_PORT_CLOSED", `port ${this.path} was closed during a read`);
      }
      if (rev & POLLNVAL) throw this.#gone("descriptor invalid");
      if (rev & (POLLIN | POLLERR | POLLHUP)) {
        const buf = new Uint8Array(4096);
        const n = Number(lib().read(this.#fd, buf, BigInt(buf.length)));
        if (n > 0) return buf.subarray(0, n);
        if (n === 0) throw this.#gone("end of file");
        const e = errno();
        if (e === EAGAIN || e === EINTR) {
          if (!(rev & (POLLERR | POLLHUP))) continue;
        }
        throw this.#gone(e === EIO ? "I/O error" : e === ENXIO ? "no such device" : `errno ${e}`);
      }
      if (Date.now() >= deadline) return null;
    }
  }

  /** Write all of `data`. */
  async write(data: Uint8Array): Promise<void> {
    this.#checkOpen();
    let off = 0;
    const deadline = Date.now() + 10_000 + (data.length * 10 * 1000) / this.#baud;
    while (off < data.length) {
      const chunk = data.subarray(off);
      const n = Number(lib().write(this.#fd, chunk, BigInt(chunk.length)));
      if (n > 0) {
        off += n;
        continue;
      }
      const e = errno();
      if (n < 0 && e !== EAGAIN && e !== EINTR) {
        throw this.#gone(e === EIO ? "I/O error" : `write errno ${e}`);
      }
      if (Date.now() > deadline) {
        throw new TransportError(
          "E_WRITE_TIMEOUT",
          `writing to ${this.path} stalled (flow control or a stuck driver)`,
        );
      }
      const rev = await this.#poll(POLLOUT, 100);
      if (rev & (POLLERR | POLLHUP | POLLNVAL)) throw this.#gone("hang-up while writing");
    }
  }

  /** Change the line speed; any rate the driver accepts (termios2 BOTHER / IOSSIOSPEED). */
  setBaud(baud: number): Promise<void> {
    this.#checkOpen();
    setBaudRate(this.#fd, baud, this.path);
    this.#baud = baud;
    return Promise.resolve();
  }

  /** Drive DTR/RTS; ports without modem lines (ptys) reject with E_NO_MODEM_LINES. */
  setSignals(signals: SerialSignals): Promise<void> {
    this.#checkOpen();
    for (const [name, bit] of [["dtr", TIOCM_DTR], ["rts", TIOCM_RTS]] as const) {
      const want = signals[name];
      if (want === undefined) continue;
      const arg = new Uint8Array(new Int32Array([bit]).buffer);
      if (lib().ioctl(this.#fd, want ? TIOCMBIS : TIOCMBIC, arg) !== 0) {
        const e = errno();
        if (e === ENOTTY || e === 22 /* EINVAL */) {
          return Promise.reject(
            new TransportError(
              "E_NO_MODEM_LINES",
              `${this.path} has no DTR/RTS lines (a pty or a bridge without them)`,
            ),
          );
        }
        return Promise.reject(this.#gone(`setting ${name.toUpperCase()} failed, errno ${e}`));
      }
      this.#signals[name] = want;
    }
    return Promise.resolve();
  }

  /** Discard received bytes not read yet. */
  flushInput(): Promise<void> {
    this.#checkOpen();
    lib().tcflush(this.#fd, TCIFLUSH);
    return Promise.resolve();
  }

  /** Close the port (waits for a poll in flight). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#polling) await this.#polling.catch(() => 0);
    lib().close(this.#fd);
  }
}

function setBaudRate(fd: number, baud: number, path: string): void {
  if (!Number.isInteger(baud) || baud <= 0) throw new UsageError(`invalid baud rate ${baud}`);
  if (IS_MAC) {
    const arg = new Uint8Array(new BigUint64Array([BigInt(baud)]).buffer);
    if (lib().ioctl(fd, IOSSIOSPEED, arg) !== 0) {
      throw new TransportError(
        "E_BAUD_UNSUPPORTED",
        `${path} does not accept ${baud} baud (errno ${errno()})`,
      );
    }
    return;
  }
  // struct termios2 (asm-generic/termbits.h): c_iflag, c_oflag, c_cflag, c_lflag, c_line, c_cc[19], c_ispeed, c_ospeed.
  const t2 = new Uint8Array(44);
  const v = new DataView(t2.buffer);
  if (lib().ioctl(fd, TCGETS2, t2) !== 0) {
    throw new TransportError(
      "E_BAUD_UNSUPPORTED",
      `cannot read the line settings of ${path} (errno ${errno()})`,
    );
  }
  v.setUint32(8, (v.getUint32(8, true) & ~CBAUD) | BOTHER, true);
  v.setUint32(36, baud, true);
  v.setUint32(40, baud, true);
  if (lib().ioctl(fd, TCSETS2, t2) !== 0) {
    throw new TransportError(
      "E_BAUD_UNSUPPORTED",
      `${path} does not accept ${baud} baud (errno ${errno()})`,
    );
  }
}

/**
 * Open a serial device: raw 8N1, no flow control, exclusive by default.
 *
 * @throws {TransportError} `E_PORT_NOT_FOUND`, `E_PORT_PERMISSION`, `E_PORT_BUSY` with what to do.
 */
export function openSerialPort(path: string, options: SerialOpenOptions = {}): PosixSerialPort {
  const fd = lib().open(cstr(path), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0);
  if (fd < 0) {
    const e = errno();
    if (e === ENOENT || e === ENXIO) {
      throw new TransportError(
        "E_PORT_NOT_FOUND",
        `no such port ${path}: is the board plugged in? \`${programName()} list-ports\` shows what is there`,
      );
    }
    if (e === EACCES) {
      throw new TransportError(
        "E_PORT_PERMISSION",
        `permission denied opening ${path}: add yourself to the dialout (Linux) or uucp group and log in again`,
      );
    }
    if (e === EBUSY) throw busy(path);
    throw new TransportError("E_PORT_OPEN", `cannot open ${path} (errno ${e})`);
  }
  try {
    if (options.exclusive ?? true) {
      if (lib().flock(fd, LOCK_EX | LOCK_NB) !== 0) {
        const e = errno();
        if (e === EWOULDBLOCK_LOCK) throw busy(path);
      }
      // TIOCEXCL makes further open() calls fail with EBUSY (ptys and ttys alike).
      lib().ioctl(fd, TIOCEXCL, new Uint8Array(4));
    }
    const t = new Uint8Array(TERMIOS_SIZE);
    if (lib().tcgetattr(fd, t) !== 0) {
      throw new TransportError(
        "E_NOT_A_TTY",
        `${path} is not a serial port (tcgetattr failed, errno ${errno()})`,
      );
    }
    lib().cfmakeraw(t);
    const v = new DataView(t.buffer);
    if (TFLAG === 4) {
      v.setUint32(
        CFLAG_OFFSET,
        (v.getUint32(CFLAG_OFFSET, true) | CLOCAL | CREAD) & ~CRTSCTS,
        true,
      );
    } else {
      const c = v.getBigUint64(CFLAG_OFFSET, true);
      v.setBigUint64(CFLAG_OFFSET, (c | BigInt(CLOCAL | CREAD)) & ~BigInt(CRTSCTS), true);
    }
    t[CC_OFFSET + VMIN] = 0;
    t[CC_OFFSET + VTIME] = 0;
    if (lib().tcsetattr(fd, TCSANOW, t) !== 0) {
      throw new TransportError(
        "E_PORT_OPEN",
        `cannot configure ${path} (tcsetattr errno ${errno()})`,
      );
    }
    const baud = options.baud ?? 115200;
    setBaudRate(fd, baud, path);
    lib().tcflush(fd, TCIFLUSH);
    return new PosixSerialPort(path, fd, baud, { path, ...options.info });
  } catch (e) {
    lib().close(fd);
    throw e;
  }
}

function busy(path: string): TransportError {
  const pid = findHolder(path);
  const what = pid ? describeProcess(pid) : null;
  return new TransportError(
    "E_PORT_BUSY",
    `port ${path} is busy: another process holds it${
      pid ? ` (pid ${pid}${what ? `: ${what}` : ""})` : ""
    }; close that program (a serial monitor?) and retry`,
    { details: { pid, process: what } },
  );
}
