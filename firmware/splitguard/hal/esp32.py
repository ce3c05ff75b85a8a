"""ESP32 hardware access: ADC1 sensor pins, the power-cut relay, LED, button and watchdog.

The one module that imports `machine`, and only inside functions: importing it touches no
hardware. It stays thin: raw calibrated µV reads and pin levels. Turning µV into ohms, °C and
amps is the sensor chain's job (splitguard.divider and the sensors module).

Relay wiring (safety): the contactor is normally closed, so a de-energised coil = unit powered.
"Power cut" means energising it. The relay pin is driven to the de-energised level in the same
call that makes it an output, before anything else in the board config is looked at.
"""

from splitguard.divider import MAX_AVERAGE_N, Divider

# ADC2 cannot be read while Wi-Fi is on, so sensors go on ADC1 only. ESP32: ADC1 is GPIO32–39;
# ESP32-S3: GPIO1–10 (ESP-IDF v4.4 ADC docs for each chip).
ADC1_PINS = (
    ("esp32", (32, 33, 34, 35, 36, 37, 38, 39)),
    ("esp32s3", (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)),
)
# GPIO34–39 on the original ESP32 have no output driver: a relay or LED there never switches.
_INPUT_ONLY_PINS = (
    ("esp32", (34, 35, 36, 37, 38, 39)),
    ("esp32s3", ()),
)
# Board attenuation in dB -> name of the machine.ADC constant (MicroPython's ESP32 port).
_ATTN_NAMES = ((0, "ATTN_0DB"), (2.5, "ATTN_2_5DB"), (6, "ATTN_6DB"), (11, "ATTN_11DB"))
# machine.reset_cause() constant name -> the string reported over serial.
_RESET_CAUSES = (
    ("PWRON_RESET", "power_on"),
    ("HARD_RESET", "hard"),
    ("WDT_RESET", "watchdog"),
    ("DEEPSLEEP_RESET", "deepsleep"),
    ("SOFT_RESET", "soft"),
)


def _lookup(table, key):
    for k, v in table:
        if k == key:
            return v
    return None


def _chip_key(chip):
    return str(chip).lower().replace("-", "").replace("_", "")


def adc1_pins(chip):
    """The ADC1 GPIO numbers of `chip` ("esp32" or "esp32s3"; "ESP32-S3" is accepted too)."""
    pins = _lookup(ADC1_PINS, _chip_key(chip))
    if pins is None:
        raise ValueError(
            "unknown chip %r; supported: %s" % (chip, ", ".join(c for c, _ in ADC1_PINS))
        )
    return pins


def _need(board, key):
    if key not in board:
        raise ValueError("board %r has no %r" % (board.get("name", "?"), key))
    return board[key]


def _mean_uv(read_uv, n):
    if not 0 < n <= MAX_AVERAGE_N:
        raise ValueError("n must be 1..%d, not %r" % (MAX_AVERAGE_N, n))
    total = 0
    for _ in range(n):
        total += read_uv()
    return (total + n // 2) // n


class Esp32Hal:
    """The board's pins, built from a board config dict (see boards/)."""

    def __init__(self, board):
        import machine

        self._machine = machine
        self.name = board.get("name", "?")
        chip = _chip_key(board.get("chip", "esp32"))
        adc_pins = adc1_pins(chip)
        input_only = _lookup(_INPUT_ONLY_PINS, chip)

        # Relay before anything else, so a mistake further down the config still leaves the
        # unit powered with the pin actively held at the de-energised level.
        relay_pin = _need(board, "relay_pin")
        if relay_pin in input_only:
            raise ValueError("relay_pin GPIO%d on %s is input-only" % (relay_pin, chip))
        self._relay_energised = 1 if _need(board, "relay_active_high") else 0
        self._relay = machine.Pin(relay_pin, machine.Pin.OUT, value=1 - self._relay_energised)
        self._cut = False

        for key in ("coil_adc_pin", "ambient_adc_pin", "ct_adc_pin"):
            pin = _need(board, key)
            if pin not in adc_pins:
                raise ValueError(
                    "%s GPIO%s is not an ADC1 pin on %s (ADC2 is unusable with Wi-Fi); allowed: %s"
                    % (key, pin, chip, ", ".join(str(p) for p in adc_pins))
                )
        led_pin = board.get("led_pin")
        button_pin = board.get("button_pin")
        if led_pin is not None and led_pin in input_only:
            raise ValueError("led_pin GPIO%d on %s is input-only" % (led_pin, chip))
        used = []
        for key in ("relay_pin", "coil_adc_pin", "ambient_adc_pin", "ct_adc_pin"):
            used.append(board[key])
        for pin in (led_pin, button_pin):
            if pin is not None:
                used.append(pin)
        for i, pin in enumerate(used):
            if pin in used[i + 1 :]:
                raise ValueError("GPIO%d is assigned twice in board %r" % (pin, self.name))

        atten_db = _need(board, "adc_atten_db")
        div = _need(board, "divider")
        supply_uv = int(_need(div, "supply_v") * 1000000 + 0.5)
        fixed_ohm = _need(div, "fixed_ohm")
        side = _need(div, "thermistor_side")
        # One Divider per sensor: each keeps its own last_fault.
        self.coil_divider = Divider.for_attenuation(atten_db, supply_uv, fixed_ohm, side)
        self.ambient_divider = Divider.for_attenuation(atten_db, supply_uv, fixed_ohm, side)
        self.atten_db = atten_db
        attn = getattr(machine.ADC, _lookup(_ATTN_NAMES, atten_db))

        self.coil_adc = machine.ADC(machine.Pin(board["coil_adc_pin"]), atten=attn)
        self.ambient_adc = machine.ADC(machine.Pin(board["ambient_adc_pin"]), atten=attn)
        self.ct_adc = machine.ADC(machine.Pin(board["ct_adc_pin"]), atten=attn)
        # Bound once: callers in the sampling loop use these without allocating a new method.
        self.coil_read_uv = self.coil_adc.read_uv
        self.ambient_read_uv = self.ambient_adc.read_uv
        self.ct_read_uv = self.ct_adc.read_uv

        self._led_on = 1 if board.get("led_active_high", True) else 0
        self._led = None
        if led_pin is not None:
            self._led = machine.Pin(led_pin, machine.Pin.OUT, value=1 - self._led_on)
        self._button_pressed = 1 if board.get("button_active_high", False) else 0
        self._button = None
        if button_pin is not None:
            pull = machine.Pin.PULL_DOWN if self._button_pressed else machine.Pin.PULL_UP
            self._button = machine.Pin(button_pin, machine.Pin.IN, pull)
        self.wdt = None

    def set_power_cut(self, cut):
        """True energises the relay and holds the unit's power off; False lets it be powered."""
        self._cut = bool(cut)
        self._relay.value(self._relay_energised if cut else 1 - self._relay_energised)

    def power_cut(self):
        """True while the relay is holding the unit's power off."""
        return self._cut

    def read_coil_uv(self, n):
        """Plain mean of n calibrated coil-pin reads, µV (int). Measurements go through
        coil_divider.read_ohms(coil_read_uv, n), which keeps rail hits out of the mean."""
        return _mean_uv(self.coil_read_uv, n)

    def read_ambient_uv(self, n):
        """Plain mean of n calibrated ambient-pin reads, µV (int); see read_coil_uv."""
        return _mean_uv(self.ambient_read_uv, n)

    def set_led(self, on):
        """Switch the status LED (no-op on a board without one)."""
        if self._led is not None:
            self._led.value(self._led_on if on else 1 - self._led_on)

    def button_pressed(self):
        """True while the button is held (False on a board without one)."""
        return self._button is not None and self._button.value() == self._button_pressed

    def start_watchdog(self, timeout_ms):
        """Start the hardware watchdog; on the ESP32 it cannot be stopped once started."""
        if not timeout_ms > 0:
            raise ValueError("timeout_ms must be positive, not %r" % (timeout_ms,))
        self.wdt = self._machine.WDT(0, timeout=timeout_ms)

    def feed_watchdog(self):
        """Feed the watchdog if it was started."""
        if self.wdt is not None:
            self.wdt.feed()

    def reset_cause(self):
        """Why the board last reset: power_on, hard, watchdog, deepsleep, soft or unknown."""
        m = self._machine
        cause = m.reset_cause()
        for const_name, text in _RESET_CAUSES:
            if getattr(m, const_name, None) == cause:
                return text
        return "unknown"
