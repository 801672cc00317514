/**
 * The file behind a virtual chip's flash (`flash=` in a sim:// URL): checked
 * before anything happens, loaded at power-on and written through, so what
 * the chip programs or erases is in the file at once — a process killed
 * mid-write leaves a partly written file, as a board unplugged mid-write
 * keeps a partly written flash.
 *
 * @module
 */

import { SimError, simUsage } from "./sim_error.ts";

/** An open flash file. */
export class FlashFile {
  /** The path it was opened with. */
  readonly path: string;
  readonly #file: Deno.FsFile;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
  }

  /**
   * Open (creating) `path` for a flash of `size` bytes; returns the file and
   * its current contents (empty for a new file). Throws a {@link SimError}
   * that says what to do when the path cannot hold a flash image.
   */
  static open(path: string, size: number): { file: FlashFile; contents: Uint8Array } {
    if (path.trim() === "") {
      throw simUsage("the flash file path is empty: give one, e.g. flash=/tmp/esp32-flash.bin");
    }
    const fail = (what: string, cause?: unknown) =>
      new SimError("E_SIM_FLASH_FILE", `cannot keep the virtual flash in ${path}: ${what}`, {
        cause,
      });
    let info: Deno.FileInfo | null = null;
    try {
      info = Deno.statSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw fail(String(e), e);
    }
    if (info && !info.isFile) throw fail("it is not a regular file: give a file path");
    if (!info) {
      const slash = path.lastIndexOf("/");
      const dir = slash > 0 ? path.slice(0, slash) : slash === 0 ? "/" : ".";
      let dirInfo: Deno.FileInfo | null = null;
      try {
        dirInfo = Deno.statSync(dir);
      } catch { /* reported below */ }
      if (!dirInfo?.isDirectory) {
        throw fail(`the folder ${dir} does not exist: create it or choose another path`);
      }
    }
    let file: Deno.FsFile;
    try {
      file = Deno.openSync(path, { read: true, write: true, create: true });
    } catch (e) {
      throw fail(`${(e as Error).message}: check its permissions or choose another path`, e);
    }
    const contents = new Uint8Array(Math.min(size, info?.size ?? 0));
    let off = 0;
    while (off < contents.length) {
      const n = file.readSync(contents.subarray(off));
      if (n === null || n === 0) break;
      off += n;
    }
    return { file: new FlashFile(path, file), contents: contents.subarray(0, off) };
  }

  /** Write `bytes` at `offset` (write-through of a program or erase). */
  write(offset: number, bytes: Uint8Array): void {
    if (this.#closed) return;
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let off = 0;
    while (off < bytes.length) off += this.#file.writeSync(bytes.subarray(off));
  }

  /** Flush and close. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.syncSync();
    } catch { /* not every file system syncs */ }
    this.#file.close();
  }
}
