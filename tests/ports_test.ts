import assert from "node:assert/strict";
import {
  formatUsbId,
  listPortPaths,
  listPorts,
  lookupPortInfo,
  matchesFilter,
  parseIoreg,
  parsePortFilter,
  selectAutoPort,
} from "../lib/transport/ports.ts";
import { parseInstanceId } from "../lib/transport/ports_windows.ts";
import { waitForDevice } from "../lib/station/wait.ts";
import { fakeWindowsDevices, SAMPLE_DEVICES, SAMPLE_SERIALCOMM } from "./support/fake_setupapi.ts";
import { formatPortTable, noPortsMessage } from "../lib/cli/cmd_ports.ts";
import { runCli } from "../lib/cli/main.ts";
import { UsageError } from "../lib/errors.ts";

interface UsbIds {
  vid: string;
  pid: string;
  serial?: string;
  man?: string;
  prod?: string;
}

/**
 * Build a sysfs-like tree as Linux lays it out: class/tty/NAME/device links to
 * the USB interface (cdc-acm) or to the usb-serial port below it (ftdi_sio,
 * cp210x, ch341), and the USB facts sit on the device directory above.
 */
async function fixtureTree(root: string, which: string[] = ["ftdi", "jtag", "cp210x", "uarts"]) {
  await Deno.mkdir(`${root}/bus/usb`, { recursive: true });
  await Deno.mkdir(`${root}/bus/usb-serial`, { recursive: true });
  await Deno.mkdir(`${root}/bus/platform`, { recursive: true });
  await Deno.mkdir(`${root}/bus/amba`, { recursive: true });
  const usb = async (bus: string, name: string, ids: UsbIds, usbSerialStyle: boolean) => {
    const devDir = `${root}/devices/pci0000:00/usb1/${bus}`;
    const iface = `${devDir}/${bus}:1.0`;
    const target = usbSerialStyle ? `${iface}/${name}` : iface;
    await Deno.mkdir(target, { recursive: true });
    await Deno.symlink(`${root}/bus/usb`, `${iface}/subsystem`);
    if (usbSerialStyle) await Deno.symlink(`${root}/bus/usb-serial`, `${target}/subsystem`);
    await Deno.writeTextFile(`${devDir}/idVendor`, ids.vid + "\n");
    await Deno.writeTextFile(`${devDir}/idProduct`, ids.pid + "\n");
    if (ids.serial) await Deno.writeTextFile(`${devDir}/serial`, ids.serial + "\n");
    if (ids.man) await Deno.writeTextFile(`${devDir}/manufacturer`, ids.man + "\n");
    if (ids.prod) await Deno.writeTextFile(`${devDir}/product`, ids.prod + "\n");
    await Deno.mkdir(`${root}/class/tty/${name}`, { recursive: true });
    await Deno.symlink(target, `${root}/class/tty/${name}/device`);
  };
  const uart = async (name: string, devPath: string, subsystem: string) => {
    await Deno.mkdir(`${root}/devices/${devPath}`, { recursive: true });
    await Deno.symlink(`${root}/bus/${subsystem}`, `${root}/devices/${devPath}/subsystem`);
    await Deno.mkdir(`${root}/class/tty/${name}`, { recursive: true });
    await Deno.symlink(`${root}/devices/${devPath}`, `${root}/class/tty/${name}/device`);
  };
  if (which.includes("ftdi")) {
    await usb("1-1", "ttyUSB0", {
      vid: "0403",
      pid: "6001",
      serial: "FT123",
      man: "FTDI",
      prod: "FT232R USB UART",
    }, true);
  }
  if (which.includes("jtag")) {
    await usb("1-2", "ttyACM0", {
      vid: "303a",
      pid: "1001",
      serial: "F4:12:FA:00:00:01",
      man: "Espressif",
      prod: "USB JTAG/serial debug unit",
    }, false);
  }
  if (which.includes("cp210x")) {
    await usb("1-3", "ttyUSB1", {
      vid: "10c4",
      pid: "ea60",
      serial: "0001",
      man: "Silicon Labs",
      prod: "CP2102N USB to UART Bridge Controller",
    }, true);
  }
  if (which.includes("ch340")) {
    await usb("1-4", "ttyUSB2", { vid: "1a86", pid: "7523" }, true); // CH340 has no strings
  }
  if (which.includes("uarts")) {
    await uart("ttyS0", "platform/serial8250", "platform"); // legacy placeholder: not listed
    await uart("ttyAMA0", "platform/soc/fe201000.serial", "amba"); // a Raspberry Pi's UART
    // Linux 6.5+: serial-base port and controller devices between the tty and the UART.
    await Deno.mkdir(`${root}/bus/serial-base`, { recursive: true });
    await Deno.mkdir(`${root}/bus/pnp`, { recursive: true });
    await uart("ttyS1", "platform/serial8250/serial8250:0/serial8250:0.1", "serial-base");
    await Deno.symlink(
      `${root}/bus/serial-base`,
      `${root}/devices/platform/serial8250/serial8250:0/subsystem`,
    );
    // (serial8250 itself is on "platform": made for ttyS0 above)
    await uart("ttyS4", "pnp0/00:04/00:04:0/00:04:0.0", "serial-base"); // a real COM port
    await Deno.symlink(`${root}/bus/serial-base`, `${root}/devices/pnp0/00:04/00:04:0/subsystem`);
    await Deno.symlink(`${root}/bus/pnp`, `${root}/devices/pnp0/00:04/subsystem`);
    await Deno.mkdir(`${root}/class/tty/tty0`, { recursive: true }); // a console: no device link
  }
}

async function withTree<T>(which: string[] | undefined, fn: (root: string) => Promise<T>) {
  const root = await Deno.makeTempDir();
  try {
    await fixtureTree(root, which);
    return await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("listPorts reads USB facts from sysfs, Espressif bridges first, on-board UARTs last", async () => {
  await withTree(undefined, async (root) => {
    const ports = await listPorts({ sysfsRoot: root });
    assert.deepEqual(
      ports.map((p) => [p.path, p.vid, p.pid, p.serialNumber, p.bridge, p.description]),
      [
        [
          "/dev/ttyACM0",
          0x303a,
          0x1001,
          "F4:12:FA:00:00:01",
          "Espressif USB-Serial/JTAG",
          "USB JTAG/serial debug unit",
        ],
        [
          "/dev/ttyUSB1",
          0x10c4,
          0xea60,
          "0001",
          "CP210x",
          "CP2102N USB to UART Bridge Controller",
        ],
        ["/dev/ttyUSB0", 0x0403, 0x6001, "FT123", "FTDI FT232R", "FT232R USB UART"],
        ["/dev/ttyAMA0", undefined, undefined, undefined, undefined, "serial port (amba)"],
        ["/dev/ttyS4", undefined, undefined, undefined, undefined, "serial port (pnp)"],
      ],
    );
    assert.equal(ports[0].manufacturer, "Espressif");
    const f = parsePortFilter("vid=10c4,pid=EA60");
    assert.deepEqual(ports.filter((p) => matchesFilter(p, f)).map((p) => p.path), ["/dev/ttyUSB1"]);
    assert.deepEqual(
      ports.filter((p) => matchesFilter(p, parsePortFilter("serial=FT123"))).map((p) => p.path),
      ["/dev/ttyUSB0"],
    );
  });
});

Deno.test("a bridge without USB strings is described by its kind", async () => {
  await withTree(["ch340"], async (root) => {
    const [p] = await listPorts({ sysfsRoot: root, devRoot: "/devx" });
    assert.deepEqual(p, {
      path: "/devx/ttyUSB2",
      vid: 0x1a86,
      pid: 0x7523,
      bridge: "CH340",
      description: "CH340",
    });
  });
});

Deno.test("--port auto: one candidate is picked, several or none are usage errors that list them", async () => {
  await withTree(undefined, async (root) => {
    const one = await selectAutoPort({ sysfsRoot: root, portFilter: "vid=303a" });
    assert.equal(one.path, "/dev/ttyACM0");
    assert.equal(one.pid, 0x1001);
    await assert.rejects(
      () => selectAutoPort({ sysfsRoot: root }),
      (e) =>
        e instanceof UsageError && e.code === "E_SEVERAL_PORTS" &&
        e.message.includes("/dev/ttyACM0 (303a:1001 USB JTAG/serial debug unit)") &&
        e.message.includes("/dev/ttyUSB0 (0403:6001 FT232R USB UART)") &&
        /choose one with --port/.test(e.message),
    );
    await assert.rejects(
      () => selectAutoPort({ sysfsRoot: root, portFilter: "serial=nope" }),
      (e) =>
        e instanceof UsageError && e.code === "E_NO_PORT" &&
        /matching --port-filter serial=nope: plug the board in/.test(e.message),
    );
    await assert.rejects(
      () => selectAutoPort({ sysfsRoot: root, portFilter: "name=AMA" }),
      (e) =>
        e instanceof UsageError && e.code === "E_NO_PORT" &&
        /on-board ports \(not chosen automatically\): \/dev\/ttyAMA0 \(serial port \(amba\)\)/
          .test(e.message),
      "an on-board UART is named but not picked",
    );
  });
});

Deno.test("a port given by name gets its USB facts (the reset choice depends on them)", async () => {
  await withTree(["jtag"], async (root) => {
    const info = await lookupPortInfo("/dev/ttyACM0", { sysfsRoot: root });
    assert.equal(info.vid, 0x303a);
    assert.equal(info.pid, 0x1001);
    assert.equal(info.serialNumber, "F4:12:FA:00:00:01");
    assert.deepEqual(await lookupPortInfo("/dev/ttyUSB7", { sysfsRoot: root }), {});
    // A stable /dev/serial/by-id link resolves to the node it names.
    const dev = await Deno.realPath(await Deno.makeTempDir({ dir: root }));
    await Deno.writeTextFile(`${dev}/ttyACM0`, "");
    await Deno.mkdir(`${dev}/serial/by-id`, { recursive: true });
    const link = `${dev}/serial/by-id/usb-Espressif_USB_JTAG_serial_debug_unit-if00`;
    await Deno.symlink(`${dev}/ttyACM0`, link);
    assert.equal((await lookupPortInfo(link, { sysfsRoot: root, devRoot: dev })).pid, 0x1001);
  });
});

Deno.test("port filters: bad keys and ids are usage errors", () => {
  assert.deepEqual(parsePortFilter("VID=0x303A, serial=a=b"), { vid: 0x303a, serial: "a=b" });
  assert.throws(
    () => parsePortFilter("vendor=303a"),
    (e) => e instanceof UsageError && /unknown key "vendor"/.test(e.message),
  );
  assert.throws(() => parsePortFilter("vid=xyz"), /not a hex USB id/);
  assert.throws(() => parsePortFilter("vid=12345"), /not a hex USB id/);
  assert.throws(() => parsePortFilter("pid="), /needs a value/);
  assert.throws(() => parsePortFilter(" , "), /is empty/);
});

Deno.test("macOS: ioreg output gives each callout device its USB device's facts", () => {
  const text = [
    "+-o USB JTAG/serial debug unit@01100000  <class IOUSBHostDevice, id 0x100000a1b, registered, matched, active, busy 0 (14 ms), retain 28>",
    "  | {",
    '  |   "sessionID" = 3287934872',
    '  |   "USB Product Name" = "USB JTAG/serial debug unit"',
    '  |   "idProduct" = 4097',
    '  |   "USB Vendor Name" = "Espressif"',
    '  |   "idVendor" = 12346',
    '  |   "USB Serial Number" = "F4:12:FA:00:00:01"',
    "  | }",
    "  | ",
    "  +-o IOUSBHostInterface@0  <class IOUSBHostInterface, id 0x100000a1e, registered, matched, active, busy 0 (2 ms), retain 7>",
    "  | | {",
    '  | |   "idProduct" = 1',
    '  | |   "idVendor" = 2',
    "  | | }",
    "  | +-o AppleUSBACMControl  <class AppleUSBACMControl, id 0x100000a21, registered, matched, active, busy 0 (0 ms), retain 6>",
    "  +-o IOUSBHostInterface@1  <class IOUSBHostInterface, id 0x100000a1f, registered, matched, active, busy 0 (2 ms), retain 7>",
    "    +-o AppleUSBACMData  <class AppleUSBACMData, id 0x100000a24, registered, matched, active, busy 0 (0 ms), retain 7>",
    "      +-o IOModemSerialStreamSync  <class IOModemSerialStreamSync, id 0x100000a26, registered, matched, active, busy 0 (0 ms), retain 5>",
    "        +-o IOSerialBSDClient  <class IOSerialBSDClient, id 0x100000a28, registered, matched, active, busy 0 (0 ms), retain 5>",
    "            {",
    '              "IOTTYBaseName" = "usbmodem"',
    '              "IOCalloutDevice" = "/dev/cu.usbmodem1101"',
    '              "IODialinDevice" = "/dev/tty.usbmodem1101"',
    "            }",
    "            ",
    "+-o USB Keyboard@01300000  <class IOUSBHostDevice, id 0x100000b00, registered, matched, active, busy 0 (5 ms), retain 20>",
    "    {",
    '      "idProduct" = 591',
    '      "idVendor" = 1452',
    "    }",
    "+-o CP2102N USB to UART Bridge Controller@01200000  <class IOUSBHostDevice, id 0x100000c00, registered, matched, active, busy 0 (9 ms), retain 22>",
    "  | {",
    '  |   "idProduct" = 60000',
    '  |   "idVendor" = 4292',
    '  |   "USB Serial Number" = "0001"',
    '  |   "USB Vendor Name" = "Silicon Labs"',
    '  |   "USB Product Name" = "CP2102N USB to UART Bridge Controller"',
    "  | }",
    "  +-o IOUSBHostInterface@0  <class IOUSBHostInterface, id 0x100000c01, registered, matched, active, busy 0 (1 ms), retain 7>",
    "    +-o AppleUSBSLCOM  <class AppleUSBSLCOM, id 0x100000c02, registered, matched, active, busy 0 (0 ms), retain 6>",
    "      +-o IOSerialBSDClient  <class IOSerialBSDClient, id 0x100000c03, registered, matched, active, busy 0 (0 ms), retain 5>",
    "          {",
    '            "IOCalloutDevice" = "/dev/cu.usbserial-0001"',
    "          }",
  ].join("\n");
  const ports = parseIoreg(text);
  assert.deepEqual(ports.map((p) => [p.path, p.vid, p.pid, p.serialNumber, p.description]), [
    ["/dev/cu.usbmodem1101", 0x303a, 0x1001, "F4:12:FA:00:00:01", "USB JTAG/serial debug unit"],
    [
      "/dev/cu.usbserial-0001",
      0x10c4,
      0xea60,
      "0001",
      "CP2102N USB to UART Bridge Controller",
    ],
  ]);
  assert.equal(ports[1].manufacturer, "Silicon Labs");
  assert.deepEqual(parseIoreg(""), []);
});

Deno.test("Windows: SetupAPI gives each COM port its USB ids, serial number, product and maker; bridges first", async () => {
  const win = fakeWindowsDevices(SAMPLE_DEVICES, { serialComm: SAMPLE_SERIALCOMM });
  const ports = await listPorts({ os: "windows", windowsApi: win });
  assert.deepEqual(win.problems, []);
  assert.deepEqual(win.leaks(), [], "every device info set destroyed, every key closed");
  assert.deepEqual(
    ports.map((p) => [p.path, formatUsbId(p), p.serialNumber, p.bridge, p.description]),
    [
      [
        "COM10",
        "303a:1001",
        "F4:12:FA:00:00:01", // from the composite parent's instance id
        "Espressif USB-Serial/JTAG",
        "USB JTAG/serial debug unit", // what the device reports, as on Linux and macOS
      ],
      [
        "COM3",
        "10c4:ea60",
        "9C3A7E5F21D4EB11A3F2A6C1E0B47D21",
        "CP210x",
        "CP2102N USB to UART Bridge Controller",
      ],
      ["COM7", "1a86:55d3", "5434012345", "CH343", "USB Single Serial"],
      ["COM4", "0403:6001", "A50285BI", "FTDI FT232R", "USB Serial Port"], // no channel letter
      [
        "COM15",
        "2c7c:0125",
        undefined, // a generated parent id is no serial number
        undefined,
        `LTE Module ${"(modem interface, AT commands) ".repeat(10).trim()}`,
      ],
      ["CNCA0", "", undefined, undefined, "serial port (\\Device\\com0com10)"], // only in SERIALCOMM
      ["COM1", "", undefined, undefined, "Communications Port"],
      ["COM5", "", undefined, undefined, "Standard Serial over Bluetooth link"],
    ],
  );
  assert.deepEqual(
    ports.map((p) => p.manufacturer),
    [
      "Microsoft",
      "Silicon Labs",
      "wch.cn",
      "FTDI",
      "Quectel",
      undefined,
      "(Standard port types)",
      "Microsoft",
    ],
  );
  assert.ok(!ports.some((p) => p.path.startsWith("LPT")), "printer ports are not serial ports");
});

Deno.test("Windows: the exact SetupAPI and registry calls, structure sizes and UTF-16 arguments", async () => {
  const win = fakeWindowsDevices([SAMPLE_DEVICES[1]], {
    serialComm: [["\\Device\\USBSER000", "COM10"]],
  });
  await listPorts({ os: "windows", windowsApi: win });
  assert.deepEqual(win.problems, []);
  assert.deepEqual(win.calls, [
    // GUID_DEVCLASS_PORTS, DIGCF_PRESENT
    "SetupDiGetClassDevsW({4D36E978-E325-11CE-BFC1-08002BE10318}, 0x2)",
    "SetupDiEnumDeviceInfo(0, cbSize 32 in 32 bytes)", // sizeof(SP_DEVINFO_DATA) on 64-bit Windows
    // DICS_FLAG_GLOBAL, profile 0, DIREG_DEV, KEY_QUERY_VALUE
    "SetupDiOpenDevRegKey(scope 1, profile 0, type 1, sam 0x1)",
    "RegQueryValueExW(PortName, 512 bytes in 512)",
    "RegCloseKey",
    "SetupDiGetDeviceInstanceIdW(256 chars in 512 bytes)",
    "SetupDiGetDevicePropertyW({4340A6C5-93FA-4706-972C-7B648008A5A7} 8, 512 bytes in 512)", // DEVPKEY_Device_Parent
    "SetupDiGetDeviceRegistryPropertyW(0xc, 512 bytes in 512)", // SPDRP_FRIENDLYNAME
    "SetupDiGetDeviceRegistryPropertyW(0xb, 512 bytes in 512)", // SPDRP_MFG
    // DEVPKEY_Device_BusReportedDeviceDesc
    "SetupDiGetDevicePropertyW({540B947E-8B40-45BC-A8A2-6A0B894CBDA2} 4, 512 bytes in 512)",
    "SetupDiEnumDeviceInfo(1, cbSize 32 in 32 bytes)",
    "SetupDiDestroyDeviceInfoList",
    // GUID_DEVCLASS_MODEM
    "SetupDiGetClassDevsW({4D36E96D-E325-11CE-BFC1-08002BE10318}, 0x2)",
    "SetupDiEnumDeviceInfo(0, cbSize 32 in 32 bytes)",
    "SetupDiDestroyDeviceInfoList",
    // HKEY_LOCAL_MACHINE as the sign-extended 64-bit handle, KEY_QUERY_VALUE
    "RegOpenKeyExW(0xffffffff80000002, HARDWARE\\DEVICEMAP\\SERIALCOMM, 0, 0x1)",
    "RegEnumValueW(0, 16384 chars in 32768 bytes, 512 bytes in 512)",
    "RegEnumValueW(1, 16384 chars in 32768 bytes, 512 bytes in 512)",
    "RegCloseKey",
  ]);
});

Deno.test("Windows: a long property is read again with the size SetupAPI asks for", async () => {
  const win = fakeWindowsDevices([SAMPLE_DEVICES[7]], { serialComm: null });
  const [modem] = await listPorts({ os: "windows", windowsApi: win });
  assert.deepEqual(win.problems, []);
  const long = SAMPLE_DEVICES[7].busReportedDesc!;
  assert.ok((long.length + 1) * 2 > 512, "longer than the first buffer");
  assert.equal(modem.product, long);
  const reads = win.calls.filter((c) => c.includes("540B947E"));
  assert.deepEqual(reads, [
    "SetupDiGetDevicePropertyW({540B947E-8B40-45BC-A8A2-6A0B894CBDA2} 4, 512 bytes in 512)",
    `SetupDiGetDevicePropertyW({540B947E-8B40-45BC-A8A2-6A0B894CBDA2} 4, ${
      (modem.product!.length + 1) * 2
    } bytes in ${(modem.product!.length + 1) * 2})`,
  ]);
});

Deno.test("Windows: when SetupAPI fails, the registry's SERIALCOMM still names the ports (no USB facts, never auto-picked)", async () => {
  const win = fakeWindowsDevices(SAMPLE_DEVICES, {
    serialComm: SAMPLE_SERIALCOMM,
    setupApiFails: true,
  });
  const ports = await listPorts({ os: "windows", windowsApi: win });
  assert.deepEqual(win.problems, []);
  assert.deepEqual(win.leaks(), []);
  assert.deepEqual(ports.map((p) => [p.path, p.vid, p.description]), [
    ["CNCA0", undefined, "serial port (\\Device\\com0com10)"],
    ["COM1", undefined, "serial port (\\Device\\Serial0)"],
    ["COM3", undefined, "serial port (\\Device\\Silabser0)"],
    ["COM4", undefined, "serial port (\\Device\\VCP0)"],
    ["COM5", undefined, "serial port (\\Device\\BthModem0)"],
    ["COM7", undefined, "serial port (\\Device\\CH343SER0)"],
    ["COM10", undefined, "serial port (\\Device\\USBSER000)"],
    ["COM15", undefined, "serial port (\\Device\\QCUSB_COM15_3)"],
  ]);
  await assert.rejects(
    () => selectAutoPort({ os: "windows", windowsApi: win }),
    (e) =>
      e instanceof UsageError && e.code === "E_NO_PORT" && /COM10 \(serial port/.test(e.message),
  );
  // Neither source: nothing listed, no error.
  const none = fakeWindowsDevices([], { serialComm: null, setupApiFails: true });
  assert.deepEqual(await listPorts({ os: "windows", windowsApi: none }), []);
});

Deno.test("Windows: --port auto and port lookup on SetupAPI's data", async () => {
  const windowsApi = fakeWindowsDevices(SAMPLE_DEVICES, { serialComm: SAMPLE_SERIALCOMM });
  await assert.rejects(
    () => selectAutoPort({ os: "windows", windowsApi }),
    (e) =>
      e instanceof UsageError && e.code === "E_SEVERAL_PORTS" &&
      e.message.startsWith(
        "several serial ports found: COM10 (303a:1001 USB JTAG/serial debug unit), COM3 (10c4:ea60",
      ) && !/COM5|COM1 /.test(e.message),
  );
  assert.equal(
    (await selectAutoPort({ os: "windows", windowsApi, portFilter: "vid=303a" })).path,
    "COM10",
  );
  assert.equal(
    (await selectAutoPort({ os: "windows", windowsApi, portFilter: "pid=55d3" })).path,
    "COM7",
  );
  assert.equal(
    (await selectAutoPort({ os: "windows", windowsApi, portFilter: "serial=A50285BI" })).path,
    "COM4",
  );
  // Without the USB bridges, the Bluetooth link and COM1 are named but not picked.
  const onlyLocal = fakeWindowsDevices(
    SAMPLE_DEVICES.filter((d) =>
      !d.instanceId.startsWith("USB") && !d.instanceId.startsWith("FTDI")
    ),
    { serialComm: null },
  );
  await assert.rejects(
    () => selectAutoPort({ os: "windows", windowsApi: onlyLocal }),
    (e) =>
      e instanceof UsageError && e.code === "E_NO_PORT" &&
      /not chosen automatically\): COM1 \(Communications Port\), COM5 \(Standard Serial over Bluetooth link\)/
        .test(e.message),
  );
  // A port given by name (any case) gets its USB facts: 303a:1001 then gets the USB-JTAG reset.
  assert.deepEqual(await lookupPortInfo("com10", { os: "windows", windowsApi }), {
    vid: 0x303a,
    pid: 0x1001,
    serialNumber: "F4:12:FA:00:00:01",
    manufacturer: "Microsoft",
    product: "USB JTAG/serial debug unit",
    bridge: "Espressif USB-Serial/JTAG",
  });
});

Deno.test("Windows: device instance ids", () => {
  assert.deepEqual(parseInstanceId("USB\\VID_10C4&PID_EA60\\0001"), {
    vid: 0x10c4,
    pid: 0xea60,
    serialNumber: "0001",
  });
  assert.deepEqual(parseInstanceId("USB\\VID_303A&PID_1001&MI_00\\7&2A3B4C5D&0&0000"), {
    vid: 0x303a,
    pid: 0x1001,
    composite: true,
  });
  assert.deepEqual(parseInstanceId("USB\\VID_1A86&PID_7523\\5&1A2B3C4D&0&3"), {
    vid: 0x1a86,
    pid: 0x7523,
  }, "a CH340 reports no serial number: Windows made the id up");
  assert.deepEqual(parseInstanceId("FTDIBUS\\VID_0403+PID_6010+FT4ABCDEB\\0000"), {
    vid: 0x0403,
    pid: 0x6010,
    channelSerial: "FT4ABCDEB",
  });
  assert.deepEqual(
    parseInstanceId(
      "BTHENUM\\{00001101-0000-1000-8000-00805F9B34FB}_VID&000105D6_PID&000A\\8&2E2D6C9&0&001122334455_C00000000",
    ),
    {},
  );
  assert.deepEqual(parseInstanceId("ACPI\\PNP0501\\0"), {});
  assert.deepEqual(parseInstanceId(""), {});
});

Deno.test({
  name: "asked for Windows ports where there is no Windows, the listing is empty, not an error",
  ignore: Deno.build.os === "windows",
  async fn() {
    assert.deepEqual(await listPorts({ os: "windows" }), []);
    assert.deepEqual(await listPortPaths({ os: "windows" }), []);
  },
});

Deno.test({
  name: "Linux and macOS never load a Windows DLL: importing, listing and opening leave them alone",
  ignore: Deno.build.os === "windows",
  async fn() {
    const url = (p: string) => JSON.stringify(new URL(p, import.meta.url).href);
    // A fresh process, so the spy is in place before any module is evaluated.
    const script = `
      const seen = [];
      const dlopen = Deno.dlopen;
      Deno.dlopen = (path, symbols) => { seen.push(path); return dlopen(path, symbols); };
      const ports = await import(${url("../lib/transport/ports.ts")});
      const open = await import(${url("../lib/transport/open.ts")});
      await import(${url("../mod.ts")});
      await ports.listPorts();
      await ports.listPortPaths();
      await (await import(${url("../lib/station/wait.ts")})).listSerialDevices();
      await ports.lookupPortInfo("/dev/ttyUSB9");
      await (await open.openTransport("sim://esp32")).close();
      console.log(JSON.stringify(seen));
    `;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--quiet", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    const seen: string[] = JSON.parse(
      new TextDecoder().decode(r.stdout).trim().split("\n").at(-1)!,
    );
    assert.deepEqual(seen.filter((p) => /\.dll$/i.test(p)), []);
  },
});

Deno.test("waitForDevice on Windows: a COM port appearing in SetupAPI's list, then going", async () => {
  const devices = SAMPLE_DEVICES.filter((d) => d.portName === "COM1");
  const windowsApi = fakeWindowsDevices(devices, { serialComm: null });
  const list = () => listPortPaths({ os: "windows", windowsApi });
  assert.deepEqual(await list(), ["COM1"]);
  const appeared = waitForDevice({ list, pollMs: 5 });
  setTimeout(() => devices.push(SAMPLE_DEVICES[1]), 20);
  assert.equal(await appeared, "COM10", "the new port, not the one already there");
  const gone = waitForDevice({ list, gone: "COM10", pollMs: 5 });
  setTimeout(() => devices.pop(), 20);
  assert.equal(await gone, "COM10");
  assert.deepEqual(windowsApi.problems, []);
  assert.deepEqual(windowsApi.leaks(), []);
});

Deno.test("list-ports table: aligned columns, bridge and maker shown; a clear line when empty", async () => {
  await withTree(undefined, async (root) => {
    const table = formatPortTable(await listPorts({ sysfsRoot: root }));
    const lines = table.split("\n");
    assert.equal(lines.length, 6);
    assert.match(lines[0], /^Port +VID:PID +Serial +Description$/);
    assert.match(
      lines[1],
      /^\/dev\/ttyACM0 +303a:1001 +F4:12:FA:00:00:01 +USB JTAG\/serial debug unit \[Espressif USB-Serial\/JTAG\] \(Espressif\)$/,
    );
    assert.match(lines[4], /^\/dev\/ttyAMA0 +- +- +serial port \(amba\)$/);
    assert.equal(lines[1].indexOf("303a"), lines[4].indexOf("-"), "columns line up");
  });
  assert.equal(formatPortTable([]), noPortsMessage());
});

Deno.test("no ports: the hint says where to look on Linux, macOS and Windows", () => {
  assert.match(noPortsMessage("linux"), /`dmesg` shows whether a driver took it/);
  assert.match(noPortsMessage("darwin"), /System Information > USB.*\/dev\/cu\.usbserial-\*/);
  assert.match(
    noPortsMessage("windows"),
    /Device Manager > Ports \(COM & LPT\).*USB-serial driver/,
  );
  for (const os of ["linux", "darwin", "windows"] as const) {
    assert.match(noPortsMessage(os), /or use --port socket:\/\/HOST:PORT, rfc2217:/);
  }
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
  const ports = JSON.parse(out.trim()).ports;
  assert.ok(Array.isArray(ports));
  for (const p of ports) assert.equal(typeof p.description, "string");
});

Deno.test("--port auto with no matching port says what to do", async () => {
  let err = "";
  const code = await runCli(["--port-filter", "vid=dead", "read-mac"], {
    sinks: { stdout: () => {}, stderr: (t) => (err += t), isTerminal: false },
  });
  assert.equal(code, 2);
  assert.match(err, /no USB serial port found matching --port-filter vid=dead: plug the board in/);
});

Deno.test("waitForDevice with a --port-filter: only a board with matching USB ids counts", async () => {
  const devices = SAMPLE_DEVICES.filter((d) => d.portName === "COM1" || d.portName === "COM3");
  const windowsApi = fakeWindowsDevices(devices, { serialComm: null });
  // The FTDI board comes first; the Espressif one only after two polls have seen the FTDI.
  let polls = 0;
  const listed = async () => {
    const ports = await listPorts({ os: "windows", windowsApi });
    polls++;
    if (polls === 2) devices.push(SAMPLE_DEVICES[5]); // FTDI: not the one asked for
    if (polls === 4) devices.push(SAMPLE_DEVICES[1]); // Espressif USB-Serial/JTAG
    return ports;
  };
  const waiting = waitForDevice({ portFilter: "vid=303a,pid=1001", listPorts: listed, pollMs: 1 });
  assert.equal(await waiting, "COM10");
  assert.ok(polls >= 5, "the FTDI port was listed by earlier polls and passed over");
  await assert.rejects(
    () => waitForDevice({ portFilter: "vendor=303a", listPorts: listed }),
    (e) => e instanceof UsageError && /unknown key "vendor"/.test(e.message),
  );
  assert.deepEqual(windowsApi.problems, []);
});
