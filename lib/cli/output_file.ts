/**
 * Output files for CLI commands (`journal export -o`, and any command that
 * writes a file): the path is checked before any work is done, the data goes
 * to a temp file beside the target and is renamed into place when complete,
 * so a failure leaves nothing behind and never a half-written file under the
 * target's name. Devices (`/dev/stdout`, `/dev/null`) are written directly.
 *
 * @module
 */

import { UsageError } from "../errors.ts";

/** An output file being written; see {@link openOutputFile}. */
export interface OutputFile {
  /** The target path. */
  readonly path: string;
  /** Write the whole content (may be called once). */
  write(data: Uint8Array | string): Promise<void>;
  /** Put the written content in place under the target name. */
  commit(): Promise<void>;
  /** Remove whatever was written. Idempotent; a no-op after commit. */
  discard(): Promise<void>;
  /** `await using` support: {@link OutputFile.discard}. */
  [Symbol.asyncDispose](): Promise<void>;
}

function why(e: unknown): string {
  return e instanceof Error
    ? e.message.replace(/ \(os error \d+\)/, "").replace(/: [a-z]+ '[^']*'$/, "")
    : String(e);
}

async function writeAll(f: Deno.FsFile, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  for (let off = 0; off < bytes.length;) off += await f.write(bytes.subarray(off));
}

function parentOf(path: string): string {
  const i = path.replace(/\/+$/, "").lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** A fresh hidden name beside `path`, in its folder `dir`. */
function tempBeside(path: string, dir: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1);
  return `${dir}/.${base}.${crypto.randomUUID().slice(0, 8)}.partial`;
}

/**
 * Check a file that will be appended to later (`monitor --log`), before any
 * work: not a folder, its folder exists, and it can be opened for appending
 * (an existing file) or created there (a new one). Nothing is created or
 * changed.
 *
 * @throws {UsageError} (`E_OUTPUT_PATH`) saying what is wrong with the path.
 * @example
 * ```ts ignore
 * await checkAppendPath("boot.log");
 * ```
 */
export async function checkAppendPath(path: string): Promise<void> {
  let existing: Deno.FileInfo | null = null;
  try {
    existing = await Deno.stat(path);
  } catch {
    // Not there (or not reachable): openOutputFile says why, or proves a file can be made.
  }
  if (existing?.isFile) {
    if (existing.mode !== null && (existing.mode & 0o222) === 0) {
      throw new UsageError(`cannot write ${path}: it is read-only`, { code: "E_OUTPUT_PATH" });
    }
    try {
      (await Deno.open(path, { append: true })).close();
    } catch (e) {
      throw new UsageError(`cannot write ${path}: ${why(e)}`, { code: "E_OUTPUT_PATH" });
    }
    return;
  }
  await (await openOutputFile(path)).discard();
}

/**
 * Check that `path` can be written and open a temp file beside it. Throws
 * {@link UsageError} (`E_OUTPUT_PATH`) when the path is a folder, its folder
 * does not exist, or nothing can be created there.
 *
 * @example
 * ```ts ignore
 * await using out = await openOutputFile("journal.csv");
 * await out.write("id,mac\r\n");
 * await out.commit();
 * ```
 */
export async function openOutputFile(path: string): Promise<OutputFile> {
  const fail = (what: string) =>
    new UsageError(`cannot write ${path}: ${what}`, { code: "E_OUTPUT_PATH" });
  if (path === "" || path.endsWith("/")) throw fail("give a file name, not a folder");
  let existing: Deno.FileInfo | null = null;
  try {
    existing = await Deno.stat(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw fail(why(e));
  }
  if (existing?.isDirectory) throw fail("it is a folder; give a file name inside it");
  const dir = parentOf(path);
  if (!existing) {
    try {
      if (!(await Deno.stat(dir)).isDirectory) throw fail(`${dir} is not a folder`);
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw fail(`folder ${dir} does not exist; create it or choose another path`);
    }
  }
  if (existing && !existing.isFile) {
    // A device or pipe: written in place, nothing to rename.
    let f: Deno.FsFile;
    try {
      f = await Deno.open(path, { write: true });
    } catch (e) {
      throw fail(why(e));
    }
    let closed = false;
    const close = () => {
      if (!closed) {
        closed = true;
        f.close();
      }
      return Promise.resolve();
    };
    return {
      path,
      async write(data) {
        try {
          await writeAll(f, data);
        } catch (e) {
          throw fail(why(e));
        }
      },
      commit: close,
      discard: close,
      [Symbol.asyncDispose]: close,
    };
  }
  const temp = tempBeside(path, dir);
  let f: Deno.FsFile;
  try {
    f = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
  } catch (e) {
    throw fail(`cannot create a file in ${dir} (${why(e)})`);
  }
  let state: "open" | "committed" | "discarded" = "open";
  const discard = async () => {
    if (state !== "open") return;
    state = "discarded";
    try {
      f.close();
    } catch { /* already closed */ }
    await Deno.remove(temp).catch(() => {});
  };
  return {
    path,
    async write(data) {
      try {
        await writeAll(f, data);
      } catch (e) {
        await discard();
        throw fail(why(e));
      }
    },
    async commit() {
      if (state !== "open") return;
      try {
        await f.sync();
        f.close();
        state = "committed";
        await Deno.rename(temp, path);
      } catch (e) {
        state = "open";
        await discard();
        throw fail(why(e));
      }
    },
    discard,
    [Symbol.asyncDispose]: discard,
  };
}
