// The virtual board's CPU: the official MicroPython WebAssembly port (npm), driven like an ESP32.
//
// Started by host_tools/vboard/host.py (CPython), which owns the pseudo-terminal and the plant.
// Everything here is synchronous: the VM runs boot.py, main.py and the REPL; the JS side is the
// chip around it (serial line, clock, watchdog, reset, power), called from hw.py.
//
// Channels (see docs/virtual-board.md):
//   fd 0  in:  bytes typed on the serial line (non-blocking; set so by host.py)
//   fd 1  out: frames  [type:1][length:4 LE][payload]  T = serial bytes to the line,
//              Q = request (JSON, answered on fd 3), E = event (JSON, no answer)
//   fd 3  in:  answers to Q frames  [length:4 LE][JSON]
//   fd 2  out: diagnostics
import fs from "fs";
import path from "path";
import { fileURLToPath } from "url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const cfg = JSON.parse(process.argv[2] || "{}");
const SPEED = cfg.speed > 0 ? cfg.speed : 1;
const HEAP = (cfg.heap_kb || 256) * 1024;
const REPLY_FD = cfg.reply_fd || 3;
const ROLES = cfg.roles || {};
const RELAY_PINS = new Set(
  Object.entries(ROLES)
    .filter(([, r]) => r === "relay")
    .map(([p]) => Number(p)),
);
const BUTTON_PINS = new Set(
  Object.entries(ROLES)
    .filter(([, r]) => r === "button")
    .map(([p]) => Number(p)),
);
const BOOT_US = 500000; // ROM + bootloader + MicroPython start-up before boot.py (assumption)
const ROM_TEXT = {
  power: "ets Jul 29 2019 12:21:46\r\n\r\nrst:0x1 (POWERON_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
  hard: "ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
  wdt: "ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n",
};
// machine.reset_cause() after each kind of start (MicroPython esp32 constants).
const CAUSE = { power: 1, ext: 2, wdt: 3, hard: 5 };
const HW_SOURCE = fs.readFileSync(path.join(HERE, "hw.py"));

// --- output ---------------------------------------------------------------------------------

let txBytes = [];
let lastOut = 0;
let mute = false;

function frame(type, payload) {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32LE(payload.length, 1);
  writeAll(1, Buffer.concat([head, payload]));
}

function writeAll(fd, buf) {
  let off = 0;
  while (off < buf.length) {
    try {
      off += fs.writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if (e.code !== "EAGAIN") throw e;
      Atomics.wait(SLEEPER, 0, 0, 1);
    }
  }
}

function flushTx() {
  if (txBytes.length) {
    const b = Buffer.from(txBytes);
    txBytes = [];
    frame("T", b);
  }
}

function emit(str) {
  if (!mute) for (const b of Buffer.from(str, "utf8")) txBytes.push(b);
  if (txBytes.length > 4096) flushTx();
}

function vmOut(c) {
  // print() and the REPL: the esp32 port's stdout is "cooked" (\n goes out as \r\n).
  if (mute) return;
  if (c === 10 && lastOut !== 13) txBytes.push(13);
  txBytes.push(c);
  lastOut = c;
  if (txBytes.length > 4096) flushTx();
}

function event(obj) {
  frame("E", Buffer.from(JSON.stringify(obj)));
}

function request(obj) {
  flushTx();
  frame("Q", Buffer.from(JSON.stringify(obj)));
  const head = readExact(REPLY_FD, 4);
  return JSON.parse(readExact(REPLY_FD, head.readUInt32LE(0)).toString("utf8"));
}

function readExact(fd, n) {
  const buf = Buffer.alloc(n);
  let off = 0;
  while (off < n) {
    const got = fs.readSync(fd, buf, off, n - off, null);
    if (got === 0) process.exit(0); // the host went away
    off += got;
  }
  return buf;
}

// --- input ----------------------------------------------------------------------------------

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const inBuf = Buffer.alloc(4096);
let rx = [];
let rxHead = 0;
let intrChar = 3;
let executing = false;
let interrupt = false;
let lastInput = 0;
let currentMP = null;
let scheduled = false; // a KeyboardInterrupt was scheduled in the current run

function pollInput() {
  for (;;) {
    let n;
    try {
      n = fs.readSync(0, inBuf, 0, inBuf.length, null);
    } catch (e) {
      if (e.code === "EAGAIN") return;
      throw e;
    }
    if (n === 0) process.exit(0);
    lastInput = performance.now();
    for (let i = 0; i < n; i++) {
      const b = inBuf[i];
      // As the UART's receive interrupt does: Ctrl-C schedules a KeyboardInterrupt in the
      // running code (raised at its next bytecode) and is not queued.
      if (executing && b === intrChar) {
        interrupt = true;
        if (currentMP) {
          currentMP._module._mp_sched_keyboard_interrupt();
          scheduled = true;
        }
      } else rx.push(b);
    }
    if (n < inBuf.length) return;
  }
}

function rxCount() {
  return rx.length - rxHead;
}

function rxTake(n) {
  const end = Math.min(rx.length, rxHead + n);
  const s = String.fromCharCode(...rx.slice(rxHead, end));
  rxHead = end;
  if (rxHead > 4096) {
    rx = rx.slice(rxHead);
    rxHead = 0;
  }
  return s;
}

function rxShift() {
  const b = rx[rxHead++];
  if (rxHead > 4096) {
    rx = rx.slice(rxHead);
    rxHead = 0;
  }
  return b;
}

// --- simulated time -------------------------------------------------------------------------

let simUs = 0; // µs since the virtual board was started, across resets
let bootUs = 0; // simUs at the last hard reset (ticks count from there)
let realAnchor = performance.now();
let simAnchor = 0;
let fast = false; // --speed applies while boot.py / main.py run; the REPL runs at 1x

function setFast(on) {
  if (on !== fast) {
    fast = on;
    realAnchor = performance.now();
    simAnchor = simUs;
  }
}

function speed() {
  return fast ? SPEED : 1;
}

function pace() {
  // Wait while the simulated clock is ahead of the wall clock; false if interrupted.
  const target = realAnchor + (simUs - simAnchor) / 1000 / speed();
  let now = performance.now();
  if (now - target > 250) {
    // Fell behind (the VM is slower than --speed): carry on from here, no catch-up burst.
    realAnchor = now;
    simAnchor = simUs;
    return true;
  }
  if (target - now > 0.5) flushTx();
  while (target - now > 0.5) {
    Atomics.wait(SLEEPER, 0, 0, Math.min(target - now, 10));
    pollInput();
    if (interrupt) return false;
    now = performance.now();
  }
  return true;
}

// --- the chip around the VM: watchdog, reset, power, plant ----------------------------------

let wdtTimeoutMs = 0;
let wdtFedUs = 0;
let pins = new Map();
let analogText = "0,0,0,0,20000";
let analogNew = true;
let plantSecond = -1;
let powered = true;
let pending = null; // why this VM must stop: "hard", "wdt", "power", "soft"
let resetCause = CAUSE.power;
let startedFirmware = false;
let slept = 0;

function service() {
  // Called whenever simulated time moved: watchdog, plant, host commands. Non-zero: stop.
  if (wdtTimeoutMs && simUs - wdtFedUs > wdtTimeoutMs * 1000 && !pending) pending = "wdt";
  const second = Math.floor(simUs / 1e6);
  if (second !== plantSecond) {
    plantSecond = second;
    const r = request({ op: "plant", t_us: simUs });
    if (r.analog !== analogText) {
      analogText = r.analog;
      analogNew = true;
    }
    if (!r.up && powered) {
      powered = false;
      if (!pending || pending === "soft") pending = "power";
    }
    for (const cmd of r.cmd || []) hostCommand(cmd);
  }
  return pending;
}

function hostCommand(cmd) {
  if (cmd.op === "button") pins.set("in" + cmd.pin, cmd.level);
  else if (cmd.op === "reset" && !pending) pending = "ext";
  else if (cmd.op === "stop") {
    flushTx();
    if (cfg.fs_dir && currentMP) saveDir(currentMP.FS, "/flash", cfg.fs_dir);
    process.exit(0);
  }
}

function pendingCode() {
  if (pending === "power") return 2;
  if (pending === "hard" || pending === "wdt" || pending === "ext") return 3;
  return 0;
}

function sleepCall(cpuUs, sleepUs) {
  // hw.py's one door to time: CPU time spent, then a sleep of sleepUs (maybe 0).
  simUs += cpuUs;
  slept = 0;
  pollInput();
  if (txBytes.length) flushTx();
  let code = 0;
  if (service()) code = pendingCode();
  else if (interrupt) {
    interrupt = false;
    code = 1;
  } else {
    let left = sleepUs;
    for (;;) {
      const step = Math.min(left, 100000);
      simUs += step;
      slept += step;
      left -= step;
      if (service()) {
        code = pendingCode();
        break;
      }
      if (!pace() || interrupt) {
        interrupt = false;
        code = 1;
        break;
      }
      if (left <= 0) break;
    }
    if (code === 0) slept = sleepUs;
  }
  if (analogNew) code |= 4;
  return code;
}

function ticksUs() {
  return (simUs - bootUs) % 2 ** 30;
}

const host = {
  sleep: sleepCall,
  slept: () => slept,
  analog: () => {
    analogNew = false;
    return analogText;
  },
  ticks_us: () => ticksUs(),
  ticks_ms: () => Math.floor((simUs - bootUs) / 1000) % 2 ** 30,
  uptime_s: () => Math.floor((simUs - bootUs) / 1e6),
  supply_uv: () => cfg.supply_uv || 3300000,
  tx: (s) => emit(s),
  rx_count: () => {
    pollInput();
    return rxCount();
  },
  rx_take: (n) => {
    pollInput();
    return rxTake(n);
  },
  kbd_intr: (c) => {
    intrChar = c;
  },
  pin_set: (pin, v) => {
    if (pins.get(pin) !== v) {
      pins.set(pin, v);
      if (RELAY_PINS.has(pin)) event({ op: "pin", pin, v, t_us: simUs });
    }
  },
  pin_get: (pin) => {
    if (BUTTON_PINS.has(pin)) {
      const level = pins.get("in" + pin);
      return level === undefined ? 1 : level; // pull-up: released reads 1
    }
    return pins.get(pin) || 0;
  },
  wdt_start: (ms) => {
    wdtTimeoutMs = ms;
    wdtFedUs = simUs;
  },
  wdt_feed: () => {
    wdtFedUs = simUs;
  },
  request_reset: () => {
    if (!pending) pending = "hard";
  },
  reset_cause: () => resetCause,
};

// --- one VM instance: boot.py, main.py, REPL -------------------------------------------------

async function newVM(oldFS) {
  const mp = await loadMicroPython({
    heapsize: HEAP,
    linebuffer: false,
    stdout: (b) => vmOut(b[0]),
    stderr: (b) => vmOut(b[0]),
  });
  const FS = mp.FS;
  FS.mkdir("/flash");
  FS.mkdir("/rom");
  FS.writeFile("/rom/_vbhw.py", HW_SOURCE);
  if (oldFS) copyTree(oldFS, FS, "/flash");
  else if (cfg.fs_dir) loadDir(cfg.fs_dir, FS, "/flash");
  mp.registerJsModule("_vbhost", host);
  mp.runPython(
    [
      "import sys, os",
      "sys.path.insert(0, '/rom')",
      "import _vbhw",
      "sys.path.pop(0)",
      "_vbhw.install(" + JSON.stringify(ROLES) + ")",
      "_vbhw.mount_flash()",
      "del sys, os, _vbhw",
    ].join("\n"),
  );
  return mp;
}

function copyTree(src, dst, dir) {
  for (const name of src.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const p = dir + "/" + name;
    if (src.isDir(src.stat(p).mode)) {
      dst.mkdir(p);
      copyTree(src, dst, p);
    } else {
      dst.writeFile(p, src.readFile(p));
    }
  }
}

function loadDir(hostDir, dst, dir) {
  if (!fs.existsSync(hostDir)) return;
  for (const name of fs.readdirSync(hostDir)) {
    const from = path.join(hostDir, name);
    const p = dir + "/" + name;
    if (fs.statSync(from).isDirectory()) {
      dst.mkdir(p);
      loadDir(from, dst, p);
    } else dst.writeFile(p, fs.readFileSync(from));
  }
}

function saveDir(src, dir, hostDir) {
  fs.rmSync(hostDir, { recursive: true, force: true });
  fs.mkdirSync(hostDir, { recursive: true });
  for (const name of src.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const p = dir + "/" + name;
    const to = path.join(hostDir, name);
    if (src.isDir(src.stat(p).mode)) saveDir(src, p, to);
    else fs.writeFileSync(to, src.readFile(p));
  }
}

function traceback(err, wrapped) {
  // A PythonError's text; for a file, without the frame of our own exec() wrapper.
  let text = String(err.message || err);
  if (wrapped) text = text.replace(/ {2}File "<stdin>", line 1, in <module>\n/, "");
  return text.replace(/\r?\n/g, "\r\n");
}

function clearPending(mp) {
  // What pyexec does after each run: a KeyboardInterrupt scheduled too late is dropped.
  if (!scheduled) return;
  scheduled = false;
  try {
    mp.runPython("for _i in range(3):\n pass\ndel _i");
  } catch {
    // it fired here instead: nothing else to do
  }
}

function run(mp, code, wrapped) {
  // Run code as the board runs a file or a raw-REPL command; returns the error text or "".
  executing = true;
  interrupt = false;
  scheduled = false;
  try {
    mp.runPython(code);
    return "";
  } catch (err) {
    if (err && err.name === "PythonError") {
      if (err.type === "SystemExit" && !pending) pending = "soft";
      return traceback(err, wrapped);
    }
    throw err;
  } finally {
    executing = false;
    interrupt = false;
    clearPending(mp);
  }
}

function runFile(mp, name) {
  let exists = true;
  try {
    mp.FS.stat("/flash/" + name);
  } catch {
    exists = false;
  }
  if (!exists) return;
  const err = run(mp, "exec(compile(open('" + name + "').read(), '" + name + "', 'exec'))", true);
  if (err && !pending) emit(err);
}

const BANNER =
  "MicroPython v1.27.0 on 2025-12-10; splitguard virtual board with ESP32\r\n" +
  'Type "help()" for more information.\r\n';

function friendlyStart(mp) {
  mute = true;
  mp.replInit();
  mute = false;
  emit(BANNER + ">>> ");
}

function nextByte() {
  // Block until a byte arrives; simulated time keeps running meanwhile. null: must stop.
  for (;;) {
    if (rxCount()) return rxShift();
    flushTx();
    const idle = performance.now() - lastInput > 200;
    Atomics.wait(SLEEPER, 0, 0, idle ? 5 : 1);
    const due = realAnchor + (simUs - simAnchor) / 1000 / speed();
    const now = performance.now();
    if (now > due) simUs += Math.round((now - due) * 1000 * speed());
    pollInput();
    if (service()) return null;
  }
}

function repl(mp) {
  // The REPL until the VM must stop; returns why ("soft", "hard", "wdt", "ext", "power").
  let line = [];
  if (rawMode) emit("raw REPL; CTRL-B to exit\r\n>");
  else friendlyStart(mp);
  for (;;) {
    const b = nextByte();
    if (b === null) return pending;
    if (rawMode) {
      if (b === 0x01) {
        if (line.length === 2 && line[0] === 0x05 && line[1] === 0x41) {
          emit("R\x00"); // raw-paste request understood, not supported: plain raw mode
        } else emit("raw REPL; CTRL-B to exit\r\n>");
        line = [];
      } else if (b === 0x02) {
        rawMode = false;
        line = [];
        emit("\r\n");
        friendlyStart(mp);
      } else if (b === 0x03) {
        line = [];
      } else if (b === 0x04) {
        emit("OK");
        if (line.length === 0) {
          emit("\r\n");
          rawMode = true;
          return "soft";
        }
        const code = Buffer.from(line).toString("utf8");
        line = [];
        const err = run(mp, code);
        if (pending) return pending;
        emit("\x04" + err + "\x04>");
      } else {
        line.push(b);
      }
    } else {
      if (b === 0x01) {
        rawMode = true;
        line = [];
        emit("\r\nraw REPL; CTRL-B to exit\r\n>");
        continue;
      }
      executing = true;
      scheduled = false;
      let r = 0;
      try {
        r = mp.replProcessChar(b);
      } finally {
        executing = false;
        interrupt = false;
        clearPending(mp);
      }
      if (pending) return pending;
      if (r !== 0) {
        rawMode = false;
        return "soft";
      }
    }
  }
}

let rawMode = false;

async function main() {
  let why = "power";
  let fsOld = null;
  for (;;) {
    if (why === "power") await powerOff();
    const soft = why === "soft";
    pending = null;
    if (!soft) {
      resetCause = CAUSE[why] || CAUSE.hard;
      wdtTimeoutMs = 0;
      for (const p of RELAY_PINS) host.pin_set(p, 0); // GPIOs float at reset: relay released
      pins = new Map([...pins].filter(([k]) => String(k).startsWith("in")));
      rawMode = false;
      emit(ROM_TEXT[why] || ROM_TEXT.hard);
      bootUs = simUs;
      simUs += BOOT_US;
      flushTx();
    } else {
      emit("MPY: soft reboot\r\n");
    }
    const mp = await newVM(fsOld);
    currentMP = mp;
    analogNew = true;
    setFast(true);
    runFile(mp, "boot.py");
    if (!pending && !rawMode) {
      if (!startedFirmware && mp.FS.analyzePath("/flash/main.py").exists) {
        // The scenario clock starts now: fetch the plant at once so the first sample sees it.
        startedFirmware = true;
        event({ op: "firmware", t_us: simUs });
        plantSecond = -1;
        service();
        mp.runPython("__import__('_vbhw')._load_analog()");
      }
      runFile(mp, "main.py");
    }
    setFast(false);
    why = pending || repl(mp);
    fsOld = mp.FS;
    if (cfg.fs_dir) saveDir(fsOld, "/flash", cfg.fs_dir);
    if (why === "power") rawMode = false;
  }
}

async function powerOff() {
  // No supply: nothing runs, the line is dead, time goes on until the plant says power is back.
  if (powered) return;
  event({ op: "board", up: false, t_us: simUs });
  while (!powered) {
    simUs += 100000;
    pace();
    rx = [];
    rxHead = 0;
    const second = Math.floor(simUs / 1e6);
    if (second !== plantSecond) {
      plantSecond = second;
      const r = request({ op: "plant", t_us: simUs });
      analogText = r.analog;
      powered = r.up;
      for (const cmd of r.cmd || []) if (cmd.op === "stop") process.exit(0);
    }
  }
  event({ op: "board", up: true, t_us: simUs });
}

main().catch((err) => {
  flushTx();
  process.stderr.write("virtual board crashed: " + (err && err.stack ? err.stack : err) + "\n");
  process.exit(1);
});
