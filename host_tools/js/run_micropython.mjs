// Run a MicroPython script in the official WebAssembly port (npm), with the firmware tree
// copied into its in-memory filesystem at /firmware. Usage: node run_micropython.mjs REPO SCRIPT
import fs from "fs";
import path from "path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const [repo, script] = process.argv.slice(2);
const mp = await loadMicroPython({
  heapsize: 2 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyTree(src, dst) {
  mp.FS.mkdir(dst);
  for (const name of fs.readdirSync(src)) {
    const from = path.join(src, name);
    const to = dst + "/" + name;
    if (fs.statSync(from).isDirectory()) {
      if (name !== "__pycache__") copyTree(from, to);
    } else if (name.endsWith(".py") || name.endsWith(".mpy") || name.endsWith(".json")) {
      mp.FS.writeFile(to, fs.readFileSync(from));
    }
  }
}

copyTree(path.join(repo, "firmware"), "/firmware");
try {
  mp.runPython("import sys\nsys.path.insert(0, '/firmware')\n" + fs.readFileSync(script, "utf8"));
} catch (err) {
  process.stderr.write(String(err && err.message ? err.message : err) + "\n");
  process.exit(1);
}
