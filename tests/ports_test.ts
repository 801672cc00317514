import assert from "node:assert/strict";
import { listPorts, matchesFilter, parsePortFilter } from "../lib/transport/ports.ts";
import { runCli } from "../lib/cli/main.ts";
import { UsageError } from "../lib/errors.ts";

/** Build a sysfs-like tree: class/tty/NAME/device -> devices/…/interface[/NAME], USB facts on the device dir. */
async function fixtureTree(root: string) {
  const usb = async (
    bus: string,
    name: string,
    ids: { vid: string; pid: string; serial?: string; man?: string; prod?: string },
    usbSerialStyle: boolean,
  ) => {
    const devDir = `${root}/devices/pci0000:00/usb1/${bus}`;
    const iface = `${devDir}/${bus}:1.0`;
    const target = usbSerialStyle ? `${iface}/${name}` : iface;
    await Deno.mkdir(target, { recursive: true });
    await Deno.writeTextFile(`${devDir}/idVendor`, ids.vid + "\n");
    await Deno.writeTextFile(`${devDir}/idProduct`, ids.pid + "\n");
    if (ids.serial) await Deno.writeTextFile(`${devDir}/serial`, ids.serial + "\n");
    if (ids.man) await Deno.writeTextFile(`${devDir}/manufacturer`, ids.man + "\n");
    if (ids.prod) await Deno.writeTextFile(`${devDir}/product`, ids.prod + "\n");
    await Deno.mkdir(`${root}/class/tty/${name}`, { recursive: true });
    await Deno.symlink(target, `${root}/class/tty/${name}/device`);
  };
  await usb("1-1", "ttyUSB0", {
    vid: "0403",
    pid: "6001",
    serial: "FT123",
    man: "FTDI",
    prod: "FT232R",
  }, true);
  await usb("1-2", "ttyACM0", {
    vid: "303a",
    pid: "1001",
    serial: "F4:12:FA:00:00:01",
    man: "Espressif",
    prod: "USB JTAG/serial debug unit",
  }, false);
  await usb("1-3", "ttyUSB1", {
    vid: "10c4",
    pid: "ea60",
    serial: "0001",
    man: "Silicon Labs",
    prod: "CP2102N",
  }, true);
  await Deno.mkdir(`${root}/class/tty/tty0`, { recursive: true }); // a console: no device link, not listed
}

Deno.test("listPorts reads USB facts from sysfs and puts Espressif bridges first", async () => {
  const root = await Deno.makeTempDir();
  try {
    await fixtureTree(root);
    const ports = await listPorts({ sysfsRoot: root });
    assert.deepEqual(ports.map((p) => [p.path, p.vid, p.pid, p.serialNumber, p.bridge]), [
      ["/dev/ttyACM0", 0x303a, 0x1001, "F4:12:FA:00:00:01", "Espressif USB-Serial/JTAG"],
      ["/dev/ttyUSB1", 0x10c4, 0xea60, "0001", "CP210x"],
      ["/dev/ttyUSB0", 0x0403, 0x6001, "FT123", "FTDI FT232R"],
    ]);
    const f = parsePortFilter("vid=10c4,pid=EA60");
    assert.deepEqual(ports.filter((p) => matchesFilter(p, f)).map((p) => p.path), ["/dev/ttyUSB1"]);
    assert.deepEqual(
      ports.filter((p) => matchesFilter(p, parsePortFilter("serial=FT123"))).map((p) => p.path),
      ["/dev/ttyUSB0"],
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("port filters: bad keys and ids are usage errors", () => {
  assert.throws(
    () => parsePortFilter("vendor=303a"),
    (e) => e instanceof UsageError && /unknown key "vendor"/.test(e.message),
  );
  assert.throws(() => parsePortFilter("vid=xyz"), /not a hex USB id/);
  assert.throws(() => parsePortFilter("pid="), /needs a value/);
});

Deno.test("list-ports runs on this machine (no USB serial devices here is fine)", async () => {
  let out = "";
  const code = await runCli(["list_ports"], {
    sinks: { stdout: (t) => (out += t), stderr: () => {}, isTerminal: false },
  });
  assert.equal(code, 0);
  assert.match(out, /no serial ports found|Port +VID:PID/);
  out = "";
  await runCli(["--json", "list-ports"], {
    sinks: { stdout: (t) => (out += t), stderr: () => {}, isTerminal: false },
  });
  assert.ok(Array.isArray(JSON.parse(out.trim()).ports));
});

Deno.test("--port auto with no matching port says what to do", async () => {
  let err = "";
  const code = await runCli(["--port-filter", "vid=dead", "read-mac"], {
    sinks: { stdout: () => {}, stderr: (t) => (err += t), isTerminal: false },
  });
  assert.equal(code, 2);
  assert.match(err, /no serial port found matching --port-filter vid=dead: plug the board in/);
});
