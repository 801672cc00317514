import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { formatImageInfo, ImageFormatError, parseImage } from "../lib/image/image.ts";
import { mergeBin } from "../lib/image/merge.ts";
import {
  findPartition,
  parsePartitionCsv,
  parsePartitionTable,
  PartitionTableError,
  partitionTableToBinary,
  partitionTableToCsv,
} from "../lib/image/partition.ts";
import { loadManifest } from "../lib/image/manifest.ts";
import { preflight } from "../lib/image/preflight.ts";
import { chipByKey } from "../lib/chips/index.ts";
import { UsageError } from "../lib/errors.ts";
import { makeImage } from "../lib/image/make_image.ts";
import { externalTest, fixtures, readFixture } from "./support/external.ts";

const hex = (n: number, w = 8) => `0x${n.toString(16).padStart(w, "0")}`;
const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");

/** What esptool v5.1.0 `image-info` printed for each fixture (hard-coded from that run). */
const ESPTOOL: Record<string, {
  type: string;
  entry: string;
  flash: string[];
  segments: string[][];
  checksum: string[];
  hash: string[] | null;
  app: string[] | null;
}> = {
  "bootloader_esp32.bin": {
    "type": "ESP32",
    "entry": "0x4009816c",
    "flash": [
      "2MB",
      "40m",
      "DIO",
    ],
    "segments": [
      [
        "0x00000",
        "0x3ffc0000",
        "0x00000018",
        "BYTE_ACCESSIBLE, DRAM",
      ],
      [
        "0x00b3c",
        "0x3ffc0000",
        "0x00000020",
        "BYTE_ACCESSIBLE, DRAM",
      ],
      [
        "0x01068",
        "0x40078000",
        "0x00000b64",
        "CACHE_APP",
      ],
      [
        "0x002e4",
        "0x40098000",
        "0x00001bd4",
        "IRAM",
      ],
    ],
    "checksum": [
      "0x83",
      "valid",
    ],
    "hash": null,
    "app": null,
  },
  "bootloader_esp32c3.bin": {
    "type": "ESP32-C3",
    "entry": "0x403c0000",
    "flash": [
      "2MB",
      "40m",
      "DIO",
    ],
    "segments": [
      [
        "0x00014",
        "0x3fcd6100",
        "0x00000018",
        "DRAM, BYTE_ACCESSIBLE",
      ],
      [
        "0x01864",
        "0x3fcd6114",
        "0x00000034",
        "DRAM, BYTE_ACCESSIBLE",
      ],
      [
        "0x00de4",
        "0x403c0000",
        "0x000018a0",
        "IRAM",
      ],
      [
        "0x01e8c",
        "0x403c2000",
        "0x0000268c",
        "IRAM",
      ],
    ],
    "checksum": [
      "0x77",
      "valid",
    ],
    "hash": [
      "4faeab1bd3fd6a7d4adfa0fd38f41bfc67a8c3c0a9d6d882b65580da2e5e6347",
      "valid",
    ],
    "app": null,
  },
  "bootloader_esp8266.bin": {
    "type": "ESP8266",
    "entry": "0x40100294",
    "flash": [
      "512KB",
      "40m",
      "QIO",
    ],
    "segments": [
      [
        "0x00574",
        "0x40100000",
        "0x00000008",
        "IRAM",
      ],
      [
        "0x00308",
        "0x3ffe8000",
        "0x00000584",
        "DRAM",
      ],
      [
        "0x0021c",
        "0x3ffe8308",
        "0x00000894",
        "DRAM",
      ],
    ],
    "checksum": [
      "0xc0",
      "valid",
    ],
    "hash": null,
    "app": null,
  },
  "esp8266_deepsleep.bin": {
    "type": "ESP8266",
    "entry": "0x4010f29c",
    "flash": [
      "4MB",
      "40m",
      "DIO",
    ],
    "segments": [
      [
        "0x00568",
        "0x4010f000",
        "0x00000008",
        "",
      ],
    ],
    "checksum": [
      "0x2d",
      "valid",
    ],
    "hash": null,
    "app": null,
  },
  "esp_idf_blink_esp32s2.bin": {
    "type": "ESP32-S2",
    "entry": "0x40022f84",
    "flash": [
      "2MB",
      "80m",
      "DIO",
    ],
    "segments": [
      [
        "0x08c18",
        "0x3f000020",
        "0x00000018",
        "DROM",
      ],
      [
        "0x0204c",
        "0x3ffbde90",
        "0x00008c38",
        "BYTE_ACCESSIBLE, MEM_INTERNAL, DRAM",
      ],
      [
        "0x05384",
        "0x40022000",
        "0x0000ac8c",
        "MEM_INTERNAL, IRAM",
      ],
      [
        "0x15ce8",
        "0x40080020",
        "0x00010018",
        "IROM",
      ],
      [
        "0x06b0c",
        "0x40027384",
        "0x00025d08",
        "MEM_INTERNAL, IRAM",
      ],
      [
        "0x00010",
        "0x50000000",
        "0x0002c81c",
        "RTC_DATA",
      ],
    ],
    "checksum": [
      "0x18",
      "valid",
    ],
    "hash": [
      "10f48f4a71a48cc4c917d70d13bf717b1bc7f3187b3d564b00192f7e381531b7",
      "valid",
    ],
    "app": [
      "blink",
      "qa-test-v5.0-20220830-4-g4532e6",
      "Sep 13 2022 19:46:07",
      "v5.0-beta1-427-g4532e6e0b2-dirt",
    ],
  },
  "helloworld-esp32.bin": {
    "type": "ESP32",
    "entry": "0x4008c008",
    "flash": [
      "1MB",
      "40m",
      "QIO",
    ],
    "segments": [
      [
        "0x00010",
        "0x3ffc0000",
        "0x00000018",
        "BYTE_ACCESSIBLE, DRAM",
      ],
      [
        "0x00018",
        "0x4008c000",
        "0x00000030",
        "IRAM",
      ],
    ],
    "checksum": [
      "0x14",
      "valid",
    ],
    "hash": [
      "8ff3e6430a3ea49ec072aff7b73fe7b881ff47b8f619936385938d4bfb3a9ba9",
      "valid",
    ],
    "app": null,
  },
  "helloworld-esp32c3.bin": {
    "type": "ESP32-C3",
    "entry": "0x403dfd00",
    "flash": [
      "1MB",
      "40m",
      "QIO",
    ],
    "segments": [
      [
        "0x00010",
        "0x3fcdfd00",
        "0x00000018",
        "DRAM, BYTE_ACCESSIBLE",
      ],
      [
        "0x00018",
        "0x403dfd00",
        "0x00000030",
        "IRAM",
      ],
    ],
    "checksum": [
      "0x06",
      "valid",
    ],
    "hash": [
      "8af6ed42836c5a76a78771d6edf61170987f52cc95b54d4542fb487e694c08ad",
      "valid",
    ],
    "app": null,
  },
  "helloworld-esp32s3.bin": {
    "type": "ESP32-S3",
    "entry": "0x40380008",
    "flash": [
      "1MB",
      "40m",
      "QIO",
    ],
    "segments": [
      [
        "0x00010",
        "0x3fca0000",
        "0x00000018",
        "BYTE_ACCESSIBLE, MEM_INTERNAL, DRAM",
      ],
      [
        "0x00018",
        "0x40380000",
        "0x00000030",
        "MEM_INTERNAL, IRAM",
      ],
    ],
    "checksum": [
      "0xde",
      "valid",
    ],
    "hash": [
      "a5f786f08b146b1ea320cd0306a03d9daf0350c276ec20a10e03bbe8cafa668d",
      "valid",
    ],
    "app": null,
  },
  "esp32s3_header.bin": {
    "type": "ESP32-S3",
    "entry": "0xdeadbeef",
    "flash": [
      "2MB",
      "40m",
      "DIO",
    ],
    "segments": [
      [
        "0x00000",
        "0xdeadbeef",
        "0x00000018",
        "",
      ],
    ],
    "checksum": [
      "0xef",
      "valid",
    ],
    "hash": null,
    "app": null,
  },
};

for (const [name, want] of Object.entries(ESPTOOL)) {
  externalTest({
    name: `image-info ${name}: the same facts esptool reports`,
    needs: [fixtures()],
    async fn() {
      const data = await readFixture(name);
      const info = parseImage(data);
      assert.equal(info.chipName, want.type);
      assert.equal(hex(info.entry), want.entry);
      assert.deepEqual([info.flashSize, info.flashFreq, info.flashMode], want.flash);
      assert.deepEqual(
        info.segments.map((
          s,
        ) => [hex(s.length, 5), hex(s.address), hex(s.fileOffset), s.regions.join(", ")]),
        want.segments,
      );
      assert.deepEqual([
        `0x${info.checksum.stored.toString(16).padStart(2, "0")}`,
        info.checksum.valid ? "valid" : "invalid",
      ], want.checksum);
      assert.deepEqual(
        info.sha256 ? [info.sha256.stored, info.sha256.valid ? "valid" : "invalid"] : null,
        want.hash,
      );
      assert.deepEqual(
        info.app
          ? [info.app.projectName, info.app.version, info.app.compileTime, info.app.idfVersion]
          : null,
        want.app,
      );
      assert.match(formatImageInfo(info), new RegExp(`Detected image type: ${want.type}`));
    },
  });
}

Deno.test("image-info: bytes that are no image give a typed error", () => {
  assert.throws(() => parseImage(new Uint8Array(100)), ImageFormatError);
});

externalTest({
  name: "image-info: a cut-off image is an error, a bad checksum is reported invalid",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32.bin");
    assert.throws(() => parseImage(boot.slice(0, 500)), /runs past the end/);
    const bad = boot.slice();
    bad[0x30] ^= 0xff;
    assert.equal(parseImage(bad).checksum.valid, false);
  },
});

// SHA-256 of esptool v5.1.0 merge-bin output for the same inputs (commands in the note).
const MERGE_EXPECTED = {
  raw: "a4d516a9f59537375ca4ae94ebbfd7dc69e1ba7cc5627284ef8c182f0e2f9087", // --flash-mode dio --flash-size 4MB
  pad: "f04bd2c9ef2e9aabbb868f62897a1326bc3353d01356adaebee687060c389589", // --pad-to-size 1MB
  offset: "57b436acf2cea815efbf03bc242ebbf829b1476f2c8c603281b45885cffdccf5", // --target-offset 0x1000
  hex: "ddae8711f99dd75d0318dc63cf32ffb6b06ff7c4c6fd7a30d8dbe520d6b77a28", // --format hex --flash-mode dio
  uf2: "0776c6f854de796dc25f82d17be8eb294fc32a7a67804339e4d43d0397dadfd7", // --format uf2 --flash-mode dio
  c3uf2: "be466acdd2bb7dc868df896f1dc40ed0c9cfc86055657a4d1317814358f3fbb0", // --chip esp32c3 --format uf2
};

externalTest({
  name: "merge-bin output is byte-identical to esptool's: raw, padded, offset, Intel HEX, UF2",
  needs: [fixtures()],
  async fn() {
    const boot = await readFixture("bootloader_esp32.bin");
    const parts = await readFixture("partitions_singleapp.bin");
    const app = await readFixture("helloworld-esp32.bin");
    const bootC3 = await readFixture("bootloader_esp32c3.bin");
    const r = [{ address: 0x1000, data: boot }, { address: 0x8000, data: parts }, {
      address: 0x10000,
      data: app,
    }];
    const esp32 = chipByKey("esp32");
    assert.equal(
      sha(mergeBin(r, { chip: esp32, flashParams: { mode: "dio", size: "4MB" } })),
      MERGE_EXPECTED.raw,
    );
    assert.equal(sha(mergeBin(r, { chip: esp32, padToSize: 1 << 20 })), MERGE_EXPECTED.pad);
    assert.equal(sha(mergeBin(r, { chip: esp32, targetOffset: 0x1000 })), MERGE_EXPECTED.offset);
    assert.equal(
      sha(mergeBin(r, { chip: esp32, format: "hex", flashParams: { mode: "dio" } })),
      MERGE_EXPECTED.hex,
    );
    assert.equal(
      sha(mergeBin(r, { chip: esp32, format: "uf2", flashParams: { mode: "dio" } })),
      MERGE_EXPECTED.uf2,
    );
    const c3 = [{ address: 0, data: bootC3 }, { address: 0x8000, data: parts }];
    assert.equal(
      sha(mergeBin(c3, { chip: chipByKey("esp32c3"), format: "uf2" })),
      MERGE_EXPECTED.c3uf2,
    );
    assert.throws(
      () => mergeBin([{ address: 0, data: app }, { address: 0x40, data: app }], { chip: esp32 }),
      UsageError,
    );
  },
});

externalTest({
  name:
    "partition table: binary -> CSV -> binary round-trips; the fixture's entries come back identical",
  needs: [fixtures()],
  async fn() {
    const bin = await readFixture("partitions_singleapp.bin");
    const table = parsePartitionTable(bin);
    assert.deepEqual(table.map((p) => [p.name, p.offset, p.size]), [
      ["factory", 0x10000, 0x100000],
      ["rfdata", 0x110000, 0x40000],
      ["wifidata", 0x150000, 0x40000],
    ]);
    const csv = partitionTableToCsv(table);
    const again = partitionTableToBinary(parsePartitionCsv(csv));
    assert.deepEqual(again.subarray(0, bin.length), bin, "same entries as ESP-IDF's binary");
    assert.deepEqual(
      [again[bin.length], again[bin.length + 1]],
      [0xeb, 0xeb],
      "followed by the MD5 entry",
    );
    assert.equal(partitionTableToCsv(parsePartitionTable(again)), csv);
  },
});

Deno.test("partition CSV: auto offsets, sizes, flags; mistakes are usage errors", () => {
  const t = parsePartitionCsv(
    "# Name, Type, SubType, Offset, Size, Flags\nnvs, data, nvs, , 24K,\notadata, data, ota, , 8K,\n" +
      "phy_init, data, phy, , 4K,\nota_0, app, ota_0, , 1M,\nota_1, app, ota_1, , 1M, readonly\n",
  );
  assert.deepEqual(t.map((p) => [p.name, p.offset]), [["nvs", 0x9000], ["otadata", 0xf000], [
    "phy_init",
    0x11000,
  ], [
    "ota_0",
    0x20000,
  ], ["ota_1", 0x120000]]);
  assert.equal(t[4].flags, 2);
  assert.equal(findPartition(t, "ota_1").subtype, 0x11);
  assert.throws(() => findPartition(t, "ota_9"), /the table has nvs, otadata/);
  assert.throws(() => parsePartitionCsv("a, app, bogus, 0x10000, 1M"), /unknown subtype "bogus"/);
  assert.throws(
    () => parsePartitionCsv("a, app, factory, 0x10000, 1M\nb, data, nvs, 0x10000, 4K"),
    /overlap/,
  );
  const damaged = partitionTableToBinary(t);
  damaged[5] ^= 1;
  assert.throws(() => parsePartitionTable(damaged), PartitionTableError);
});

Deno.test("manifests: ESP-IDF flasher_args.json, PlatformIO and Arduino build folders", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/idf/bootloader`, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/idf/flasher_args.json`,
      JSON.stringify({
        flash_settings: { flash_mode: "dio", flash_size: "4MB", flash_freq: "80m" },
        flash_files: {
          "0x10000": "app.bin",
          "0x0": "bootloader/bootloader.bin",
          "0x8000": "pt.bin",
        },
        extra_esptool_args: { chip: "esp32c3" },
      }),
    );
    const m = await loadManifest(`${dir}/idf`);
    assert.deepEqual(m.regions.map((r) => [r.address, r.path.slice(dir.length)]), [
      [0, "/idf/bootloader/bootloader.bin"],
      [0x8000, "/idf/pt.bin"],
      [0x10000, "/idf/app.bin"],
    ]);
    assert.deepEqual([m.flashMode, m.flashSize, m.flashFreq, m.chip], [
      "dio",
      "4MB",
      "80m",
      "esp32c3",
    ]);
    // A bootloader built for the ESP32 (its header names the chip, which decides the offset).
    const boot = makeImage({
      chip: chipByKey("esp32"),
      segments: [{ address: 0x3ffe0100, data: new Uint8Array(256).fill(1) }],
    });
    {
      await Deno.mkdir(`${dir}/pio`);
      await Deno.writeFile(`${dir}/pio/bootloader.bin`, boot);
      await Deno.writeFile(`${dir}/pio/partitions.bin`, new Uint8Array(32));
      await Deno.writeFile(`${dir}/pio/firmware.bin`, new Uint8Array(32));
      const pio = await loadManifest(`${dir}/pio`);
      assert.deepEqual(
        pio.regions.map((r) => r.address),
        [0x1000, 0x8000, 0x10000],
        "ESP32 bootloader goes to 0x1000",
      );
      await Deno.mkdir(`${dir}/ino`);
      await Deno.writeFile(`${dir}/ino/blink.ino.bin`, new Uint8Array(32));
      await Deno.writeFile(`${dir}/ino/boot_app0.bin`, new Uint8Array(32));
      assert.deepEqual((await loadManifest(`${dir}/ino`)).regions.map((r) => r.address), [
        0xe000,
        0x10000,
      ]);
    }
    await assert.rejects(() => loadManifest(`${dir}/nothing`), /manifest not found/);
    await Deno.writeTextFile(`${dir}/bad.json`, "{");
    await assert.rejects(() => loadManifest(`${dir}/bad.json`), UsageError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

externalTest({
  name: "pre-flight: wrong chip, wrong bootloader offset, too-new minimum revision, past the end",
  needs: [fixtures()],
  async fn() {
    const bootEsp32 = await readFixture("bootloader_esp32.bin");
    const bootC3 = await readFixture("bootloader_esp32c3.bin");
    const c3 = chipByKey("esp32c3");
    const target = { chip: c3, revision: { major: 0, minor: 4 }, flashSize: 4 << 20 };
    assert.deepEqual(preflight([{ address: 0, data: bootC3 }], target), []);
    assert.deepEqual(preflight([{ address: 0x1000, data: bootEsp32 }], target).map((i) => i.code), [
      "E_IMAGE_CHIP",
    ]);
    assert.deepEqual(preflight([{ address: 0x1000, data: bootC3 }], target).map((i) => i.code), [
      "E_BOOTLOADER_OFFSET",
    ]);
    const newer = bootC3.slice();
    newer[15] = 101; // min_chip_rev_full = v1.1
    assert.deepEqual(preflight([{ address: 0, data: newer }], target).map((i) => i.code), [
      "E_IMAGE_MIN_REV",
    ]);
    assert.match(
      preflight([{ address: 0, data: newer }], target)[0].message,
      /needs chip revision v1.1 or later; this ESP32-C3 is v0.4/,
    );
    assert.deepEqual(
      preflight([{ address: 0x3ff000, data: new Uint8Array(0x2000) }], target).map((i) => i.code),
      ["E_PAST_END"],
    );
    const p4 = {
      chip: chipByKey("esp32p4"),
      revision: { major: 1, minor: 0 },
      flashSize: 16 << 20,
    };
    assert.deepEqual(preflight([{ address: 0x1000, data: bootC3 }], p4).map((i) => i.code), [
      "E_IMAGE_CHIP",
    ]);
  },
});
