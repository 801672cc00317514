import assert from "node:assert/strict";
import { findEsptoolStubDir, loadStubImage } from "./stub.ts";
import { EsplineError } from "../errors.ts";

function b64(bytes: number[]): string {
  return btoa(String.fromCharCode(...bytes));
}

Deno.test("the default stub comes from the esptool-js package", async () => {
  const stub = await loadStubImage("esp32c3");
  assert.equal(stub.source, "esptool-js");
  assert.ok(stub.text.bytes.length > 1000);
  assert.ok(stub.data && stub.data.bytes.length > 0);
});

Deno.test("a stub folder given by the user is read in esptool's JSON format", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/esp32.json`,
      JSON.stringify({
        entry: 0x40080400,
        text: b64([1, 2, 3, 4]),
        text_start: 0x40080000,
        data: b64([9, 8]),
        data_start: 0x3ffb0000,
        bss_start: 0x3ffa0000,
      }),
    );
    const stub = await loadStubImage("esp32", { stubDir: `${dir}/` });
    assert.equal(stub.source, `${dir}/esp32.json`);
    assert.equal(stub.entry, 0x40080400);
    assert.deepEqual([...stub.text.bytes], [1, 2, 3, 4]);
    assert.equal(stub.text.address, 0x40080000);
    assert.deepEqual([...stub.data!.bytes], [9, 8]);
    assert.equal(stub.data!.address, 0x3ffb0000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stub folder without the chip's file, or with a broken one, says what to do", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = await loadStubImage("esp32s3", { stubDir: dir }).catch((e) => e);
    assert.ok(missing instanceof EsplineError);
    assert.equal(missing.code, "E_NO_STUB");
    assert.match(missing.message, /no flasher stub for esp32s3 in .*stub_flasher\/2/);
    await Deno.writeTextFile(`${dir}/esp32s3.json`, JSON.stringify({ entry: 1 }));
    const broken = await loadStubImage("esp32s3", { stubDir: dir }).catch((e) => e);
    assert.ok(broken instanceof EsplineError);
    assert.equal(broken.code, "E_BAD_STUB");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stubDir auto finds esptool 5's stub folder in a Python package folder, or says it found none", async () => {
  const home = await Deno.makeTempDir();
  const saved = Deno.env.get("HOME");
  const savedVenv = Deno.env.get("VIRTUAL_ENV");
  try {
    Deno.env.set("HOME", home);
    Deno.env.delete("VIRTUAL_ENV");
    const found = findEsptoolStubDir();
    // Only packages outside HOME could be found now; none may be installed.
    if (found) assert.match(found, /esptool\/targets\/stub_flasher\/2$/);
    const dir = `${home}/.local/lib/python3.11/site-packages/esptool/targets/stub_flasher/2`;
    await Deno.mkdir(dir, { recursive: true });
    assert.equal(findEsptoolStubDir(), dir);
  } finally {
    if (saved !== undefined) Deno.env.set("HOME", saved);
    if (savedVenv !== undefined) Deno.env.set("VIRTUAL_ENV", savedVenv);
    await Deno.remove(home, { recursive: true });
  }
});
