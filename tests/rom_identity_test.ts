/**
 * The ESP32's eFuse MAC CRC, checked on Espressif's genuine ROM in the
 * emulator: a MAC whose stored CRC does not match is refused as damaged by
 * the API, the CLI and a station (nothing journaled under that MAC, no
 * serial number). Ignored where the emulator is absent, a failure under
 * CI=true.
 */

import assert from "node:assert/strict";
import { emulator, externalTest } from "./support/external.ts";
import { startRom } from "./support/rom.ts";
import { romCli } from "./support/rom_cli.ts";
import { connect, EsplineError, openJournal, runStation } from "../mod.ts";

const MAC = "24:0a:c4:12:34:56";
/** The right CRC-8 of that MAC is 0xF5 (espefuse's calc_crc); store another. */
const WRONG_CRC = 0x50;

externalTest({
  name: "ESP32 ROM: a MAC failing its eFuse CRC is E_MAC_CRC in the API, the CLI and a station",
  needs: [emulator()],
  async fn() {
    await using rom = await startRom("esp32", { mac: MAC, macCrc: WRONG_CRC });
    const options = { before: "no-reset", after: "no-reset", stub: false } as const;

    {
      await using dev = await connect(rom.url, options);
      await assert.rejects(dev.readMac(), (e: unknown) => {
        assert.ok(e instanceof EsplineError);
        assert.equal(e.code, "E_MAC_CRC");
        assert.match(
          e.message,
          /24:0a:c4:12:34:56 fails its eFuse CRC \(stored 0x50, the MAC gives 0xf5\)/,
        );
        assert.match(e.message, /eFuse MAC is damaged/);
        return true;
      });
    }

    const cli = await romCli(rom, ["--no-stub", "--after", "no-reset", "read-mac"]);
    assert.equal(cli.code, 1, cli.out + cli.err);
    assert.doesNotMatch(cli.out, /^MAC: /m, "no MAC is printed as the board's");
    assert.match(cli.err, /eFuse MAC is damaged/);

    await using journal = await openJournal(":memory:");
    let allocated = false;
    const summary = await runStation([rom.url], async ({ device }) => {
      await journal.allocateSerial(await device.readMac());
      allocated = true;
    }, { journal, connect: options });
    assert.equal(summary.outcomes[0].result, "failed");
    assert.equal(summary.outcomes[0].error?.code, "E_MAC_CRC");
    assert.equal(allocated, false, "no serial number for a damaged MAC");
    const [record] = await journal.records();
    assert.equal(record.mac, null, "the damaged MAC is not the record's identity");
    assert.equal(record.errorCode, "E_MAC_CRC");
  },
});

externalTest({
  name: "ESP32 ROM: the right CRC passes, and the MAC is read as esptool prints it",
  needs: [emulator()],
  async fn() {
    await using rom = await startRom("esp32", { mac: MAC });
    await using dev = await connect(rom.url, {
      before: "no-reset",
      after: "no-reset",
      stub: false,
    });
    assert.equal(await dev.readMac(), MAC);
  },
});
