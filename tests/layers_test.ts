/**
 * The layer rules of the architecture note, checked on the import graph
 * (`deno info --json`): dependencies point down, the entry points for
 * scripts carry nothing of the CLI, and the virtual chip is loaded only when
 * a sim:// port is opened.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

interface Graph {
  modules: {
    specifier: string;
    dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
  }[];
}

/** Project files (paths from the root) reachable from `entry` through static imports. */
async function staticImports(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  const graph: Graph = JSON.parse(new TextDecoder().decode(out.stdout));
  const bySpecifier = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const todo = [new URL(entry, ROOT).href];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of bySpecifier.get(s)?.dependencies ?? []) {
      if (!d.isDynamic && d.code?.specifier) todo.push(d.code.specifier);
    }
  }
  return new Set(
    [...seen].filter((s) => s.startsWith(ROOT.href)).map((s) => s.slice(ROOT.href.length)),
  );
}

Deno.test("mod.ts and low_level.ts carry nothing of the CLI, and do not load the virtual chip", async () => {
  for (const entry of ["mod.ts", "low_level.ts"]) {
    const files = [...await staticImports(entry)];
    assert.deepEqual(files.filter((f) => f.startsWith("lib/cli/")), [], entry);
    assert.deepEqual(files.filter((f) => f.startsWith("lib/sim/")), [], entry);
  }
});

Deno.test("a CLI run on a real port does not load the virtual chip or its stub images", async () => {
  const files = [...await staticImports("cli.ts")];
  assert.deepEqual(files.filter((f) => f.startsWith("lib/sim/")), []);
  assert.ok(files.includes("lib/device/device.ts"), "the CLI is a client of lib/device");
});

Deno.test("dependencies point down: image tools, devices and stations import nothing above them", async () => {
  const rules: [string, string[]][] = [
    ["lib/image/", ["lib/flash/", "lib/loader/", "lib/device/", "lib/station/", "lib/cli/"]],
    ["lib/device/", ["lib/station/", "lib/cli/"]],
    ["lib/station/", ["lib/cli/"]],
    ["scripts/", ["lib/cli/"]],
  ];
  for (const [layer, above] of rules) {
    for await (const e of Deno.readDir(new URL(layer, ROOT))) {
      if (!e.name.endsWith(".ts") || /_test(_util)?\.ts$/.test(e.name)) continue;
      const file = `${layer}${e.name}`;
      const reached = [...await staticImports(file)];
      const bad = reached.filter((f) => above.some((a) => f.startsWith(a)));
      assert.deepEqual(bad, [], `${file} reaches ${bad.join(", ")}`);
    }
  }
});
