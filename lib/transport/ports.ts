/**
 * Finding serial ports: the USB serial device nodes the OS shows.
 *
 * @module
 */

/**
 * USB serial device nodes under /dev (Linux ttyUSB/ttyACM, macOS cu.usb*).
 *
 * @example
 * ```ts
 * import { listSerialDevices } from "./ports.ts";
 * console.log(await listSerialDevices());
 * ```
 */
export async function listSerialDevices(): Promise<string[]> {
  const out: string[] = [];
  try {
    for await (const e of Deno.readDir("/dev")) {
      if (/^(ttyUSB|ttyACM)\d+$|^cu\.(usb|wchusb|SLAB)/.test(e.name)) out.push(`/dev/${e.name}`);
    }
  } catch {
    // no /dev (Windows): nothing to list this way
  }
  return out.sort();
}
