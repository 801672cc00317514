/**
 * Serve a virtual chip over RFC 2217 (Telnet COM-PORT-OPTION), the way a
 * serial server serves a real board: SET-BAUDRATE sets the host's line speed
 * (a mismatch with the chip garbles bytes, as on a wire), and SET-CONTROL
 * reaches the board's auto-reset circuit in one of two ways:
 *
 * - `direct` (ser2net, pyserial's rfc2217_server): each line change is applied
 *   when it arrives and acknowledged. The reset then takes the network's
 *   timing: pyserial waits at least 50 ms for each acknowledgement, so
 *   during esptool's ClassicReset DTR and RTS are both asserted for ≥ 50 ms
 *   while EN charges (reset_circuit.ts: the straps are latched ~14 ms after
 *   EN is released) and a real DevKit boots its application — as the
 *   virtual chip then does ("Wrong boot mode detected").
 * - `esp` (esptool's esp_rfc2217_server): the start of a reset sequence is
 *   recognised and the whole sequence is run by the server with local
 *   timing (DTR on → download reset, RTS off → hard reset); the other
 *   SET-CONTROL requests are swallowed and not acknowledged, so clients
 *   connect with `?ign_set_control` (esptool's remote-serial-ports docs).
 *
 * Protocol facts: RFC 854 (Telnet), RFC 2217. Own code: the virtual chip
 * does not import the client's transports.
 *
 * @module
 */

import { VirtualChip, type VirtualChipOptions } from "./virtual_chip.ts";

const IAC = 255;
const SB = 250;
const SE = 240;
const WILL = 251;
const WONT = 252;
const DO = 253;
const DONT = 254;
/** Telnet options we accept: BINARY (RFC 856), SGA (RFC 858), COM-PORT-OPTION (RFC 2217). */
const ACCEPTED = new Set([0, 3, 44]);
const COM_PORT_OPTION = 44;
/** RFC 2217 client-to-server commands; the server answers with code + 100. */
const SET_BAUDRATE = 1;
const SET_CONTROL = 5;
/** SET-CONTROL values. */
const DTR_ON = 8;
const DTR_OFF = 9;
const RTS_ON = 11;
const RTS_OFF = 12;

/** Where to listen, and how line changes reach the board. */
export interface SimRfc2217ListenOptions {
  /** Interface to bind. Default "127.0.0.1". */
  hostname?: string;
  /** TCP port. Default 0 (pick a free one). */
  port?: number;
  /** How SET-CONTROL reaches the auto-reset circuit (see the module doc). Default "direct". */
  resets?: "direct" | "esp";
}

/** esptool's reset timing, which esp_rfc2217_server reuses (esptool reset.py DEFAULT_RESET_DELAY, EN low time). */
const RESET_DELAY_MS = 50;
const EN_LOW_MS = 100;

/** A running RFC 2217 server. */
export interface SimRfc2217Server {
  /** TCP port it listens on. */
  port: number;
  /** The chip. */
  chip: VirtualChip;
  /** Stop serving and close the chip. */
  close(): Promise<void>;
}

/**
 * Serve a virtual chip over RFC 2217 (a new one from `options`, closed with
 * the server, or an existing one, left open). Several clients may connect;
 * each sees the chip's output and drives its lines.
 *
 * @example
 * ```ts
 * import { serveSimRfc2217 } from "./rfc2217_server.ts";
 * const srv = serveSimRfc2217({ chip: "esp32" });
 * console.log(`rfc2217://127.0.0.1:${srv.port}`);
 * await srv.close();
 * ```
 */
export function serveSimRfc2217(
  options: VirtualChipOptions | VirtualChip,
  listen: SimRfc2217ListenOptions = {},
): SimRfc2217Server {
  const owned = !(options instanceof VirtualChip);
  const chip = options instanceof VirtualChip ? options : new VirtualChip(options);
  const espResets = listen.resets === "esp";
  // esp_rfc2217_server's state: a download reset has been done and DTR not yet released.
  let inDownload = false;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (ms: number, fn: () => void) => {
    const id = setTimeout(() => {
      timers.delete(id);
      if (!closed) fn();
    }, ms);
    timers.add(id);
  };
  /** esptool's UnixTightReset, run locally (both lines per step). */
  const downloadReset = () => {
    chip.setSignals({ dtr: false, rts: false });
    chip.setSignals({ dtr: true, rts: true });
    chip.setSignals({ dtr: false, rts: true }); // IO0 high, EN low
    later(EN_LOW_MS, () => {
      chip.setSignals({ dtr: true, rts: false }); // IO0 low, EN released
      later(RESET_DELAY_MS, () => chip.setSignals({ dtr: false, rts: false }));
    });
  };
  /** esptool's HardReset, run locally. */
  const hardReset = () => {
    chip.setSignals({ rts: true });
    later(EN_LOW_MS, () => chip.setSignals({ rts: false }));
  };
  /** esp_rfc2217_server's handling of SET-CONTROL; true when the request was consumed. */
  const espControl = (value: number): boolean => {
    if (value === DTR_OFF) {
      inDownload = false;
      chip.setSignals({ dtr: false });
      return true;
    }
    if (value === RTS_OFF && !inDownload) {
      hardReset();
      return true;
    }
    if (value === DTR_ON && !inDownload) {
      inDownload = true;
      downloadReset();
      return true;
    }
    return value === DTR_ON || value === RTS_ON || value === RTS_OFF;
  };
  const listener = Deno.listen({
    hostname: listen.hostname ?? "127.0.0.1",
    port: listen.port ?? 0,
  });
  let closed = false;
  const conns = new Set<Deno.Conn>();
  const tasks = new Set<Promise<void>>();
  const dropAll = () => {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
  };
  // A disconnect fault: the port vanishes, as a USB bridge pulled out of the serial server.
  const offGone = chip.onGone(dropAll);

  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    // Unplugged by a disconnect fault: a new connection is the board plugged back in.
    if (chip.comesBack === "same") chip.plugIn();
    let writing = Promise.resolve();
    const send = (bytes: number[] | Uint8Array) => {
      const data = Uint8Array.from(bytes);
      writing = writing.then(async () => {
        try {
          let off = 0;
          while (off < data.length) off += await conn.write(data.subarray(off));
        } catch { /* client gone */ }
      });
    };
    const off = chip.onTransmit((bytes) => {
      // Escape IAC in data.
      const out: number[] = [];
      for (const b of bytes) {
        out.push(b);
        if (b === IAC) out.push(IAC);
      }
      send(out);
    });
    // Parser state for the client's stream.
    let state: "data" | "iac" | "opt" | "sb" | "sb-iac" = "data";
    let verb = 0;
    let sb: number[] = [];
    let data: number[] = [];
    let hostBaud = 115200;
    const flushData = () => {
      if (data.length) {
        chip.setHostBaud(hostBaud);
        chip.receive(Uint8Array.from(data));
      }
      data = [];
    };
    const subnegotiation = (bytes: number[]) => {
      if (bytes[0] !== COM_PORT_OPTION) return;
      const cmd = bytes[1];
      let value = bytes.slice(2);
      if (cmd === SET_BAUDRATE && value.length === 4) {
        const baud = ((value[0] << 24) | (value[1] << 16) | (value[2] << 8) | value[3]) >>> 0;
        if (baud) {
          hostBaud = baud;
          chip.setHostBaud(baud);
        }
        // The answer carries the rate in force (a value of 0 asks for it).
        value = [
          hostBaud >>> 24,
          (hostBaud >>> 16) & 0xff,
          (hostBaud >>> 8) & 0xff,
          hostBaud & 0xff,
        ];
      } else if (cmd === SET_CONTROL && espResets) {
        if (espControl(value[0])) return; // consumed: no acknowledgement
      } else if (cmd === SET_CONTROL) {
        if (value[0] === DTR_ON) chip.setSignals({ dtr: true });
        else if (value[0] === DTR_OFF) chip.setSignals({ dtr: false });
        else if (value[0] === RTS_ON) chip.setSignals({ rts: true });
        else if (value[0] === RTS_OFF) chip.setSignals({ rts: false });
      }
      // PURGE_DATA: nothing is buffered on this side; the answer below is all it needs.
      const reply = [IAC, SB, COM_PORT_OPTION, cmd + 100];
      for (const b of value) {
        reply.push(b);
        if (b === IAC) reply.push(IAC);
      }
      send([...reply, IAC, SE]);
    };
    const buf = new Uint8Array(65536);
    try {
      while (!closed) {
        const n = await conn.read(buf);
        if (n === null) break;
        for (const b of buf.subarray(0, n)) {
          switch (state) {
            case "data":
              if (b === IAC) state = "iac";
              else data.push(b);
              break;
            case "iac":
              if (b === IAC) {
                data.push(IAC);
                state = "data";
              } else if (b === SB) {
                flushData();
                sb = [];
                state = "sb";
              } else if (b === WILL || b === WONT || b === DO || b === DONT) {
                verb = b;
                state = "opt";
              } else state = "data";
              break;
            case "opt":
              if (verb === WILL) send([IAC, ACCEPTED.has(b) ? DO : DONT, b]);
              else if (verb === DO) send([IAC, ACCEPTED.has(b) ? WILL : WONT, b]);
              state = "data";
              break;
            case "sb":
              if (b === IAC) state = "sb-iac";
              else sb.push(b);
              break;
            case "sb-iac":
              if (b === IAC) {
                sb.push(IAC);
                state = "sb";
              } else {
                // IAC SE (or anything else) ends the subnegotiation.
                subnegotiation(sb);
                state = "data";
              }
              break;
          }
        }
        flushData();
      }
    } catch { /* connection reset */ }
    off();
    await writing;
    conns.delete(conn);
    try {
      conn.close();
    } catch { /* closed */ }
  };

  const accepting = (async () => {
    try {
      for await (const conn of listener) {
        const t = serve(conn);
        tasks.add(t);
        t.finally(() => tasks.delete(t));
      }
    } catch { /* listener closed */ }
  })();

  return {
    port: (listener.addr as Deno.NetAddr).port,
    chip,
    async close() {
      if (closed) return;
      closed = true;
      offGone();
      try {
        listener.close();
      } catch { /* closed */ }
      dropAll();
      for (const t of timers) clearTimeout(t);
      await accepting;
      await Promise.all(tasks);
      if (owned) await chip.close();
    },
  };
}
