"""ESP32 HAL on the fake `machine`: relay safe at boot, ADC1-only pins, 11 dB reads, watchdog."""

import sys

import machine
from spec import raises
from splitguard.hal.esp32 import ADC1_PINS, Esp32Hal, adc1_pins

# The ESP32-DevKitC board from the lead's brief: NTCs low-side on 10 kΩ from 3.3 V.
BOARD = {
    "name": "ESP32-DevKitC",
    "chip": "esp32",
    "adc_atten_db": 11,
    "coil_adc_pin": 34,
    "ambient_adc_pin": 35,
    "ct_adc_pin": 36,
    "divider": {"supply_v": 3.3, "fixed_ohm": 10000, "thermistor_side": "low"},
    "relay_pin": 26,
    "relay_active_high": True,
    "led_pin": 2,
    "led_active_high": True,
    "button_pin": 0,
}


def _board(**changes):
    b = {}
    for k, v in BOARD.items():
        b[k] = v
    for k, v in changes.items():
        b[k] = v
    return b


def _relay(pin_id=26):
    pins = machine.made_pins(pin_id)
    assert len(pins) == 1
    return pins[0]


def test_importing_the_hal_touches_no_hardware():
    saved_machine = sys.modules.pop("machine")
    saved_hal = sys.modules.pop("splitguard.hal.esp32")
    try:
        __import__("splitguard.hal.esp32")
        assert "machine" not in sys.modules
    finally:
        sys.modules["machine"] = saved_machine
        sys.modules["splitguard.hal.esp32"] = saved_hal


def test_relay_is_made_an_output_already_at_the_de_energised_level():
    # De-energised = unit powered (normally-closed contactor), whichever level energises the coil.
    for active_high, de_energised in ((True, 0), (False, 1)):
        machine.forget_made()
        Esp32Hal(_board(relay_active_high=active_high))
        relay = _relay()
        assert relay.mode == machine.Pin.OUT
        assert relay.init_value == de_energised
        assert relay.value() == de_energised
        assert relay.writes == []  # never passed through the energising level


def test_relay_is_de_energised_even_when_a_later_board_setting_is_rejected():
    machine.forget_made()
    raises(ValueError, Esp32Hal, _board(relay_active_high=False, coil_adc_pin=4))
    assert _relay().init_value == 1


def test_power_cut_energises_the_relay_and_release_de_energises_it():
    for active_high, energised in ((True, 1), (False, 0)):
        machine.forget_made()
        hal = Esp32Hal(_board(relay_active_high=active_high))
        relay = _relay()
        assert not hal.power_cut()
        hal.set_power_cut(True)
        assert relay.value() == energised
        assert hal.power_cut()
        hal.set_power_cut(False)
        assert relay.value() == 1 - energised
        assert not hal.power_cut()
        assert relay.writes == [energised, 1 - energised]


def test_adcs_use_the_boards_attenuation_constant():
    hal = Esp32Hal(BOARD)
    for adc, pin in ((hal.coil_adc, 34), (hal.ambient_adc, 35), (hal.ct_adc, 36)):
        assert adc.atten_value == machine.ADC.ATTN_11DB
        assert adc.pin.id == pin
    hal = Esp32Hal(_board(adc_atten_db=6))
    assert hal.coil_adc.atten_value == machine.ADC.ATTN_6DB


def test_dividers_come_from_the_board_and_the_attenuation_window():
    hal = Esp32Hal(BOARD)
    for d in (hal.coil_divider, hal.ambient_divider):
        assert d.supply_uv == 3300000
        assert d.fixed_ohm == 10000
        assert d.side == "low"
        # 11 dB usable window 150–2450 mV (ESP-IDF v4.4 ADC docs, S-CT15).
        assert d.low_rail_uv == 150000
        assert d.high_rail_uv == 2450000
    assert hal.coil_divider is not hal.ambient_divider  # each sensor keeps its own last_fault


def test_unknown_attenuation_is_rejected():
    exc = raises(ValueError, Esp32Hal, _board(adc_atten_db=12))
    assert "2.5" in str(exc)


def test_an_adc2_pin_is_rejected_naming_it_and_the_adc1_pins():
    # GPIO4 is ADC2 channel 0 on the ESP32: unreadable while Wi-Fi runs.
    exc = raises(ValueError, Esp32Hal, _board(coil_adc_pin=4))
    msg = str(exc)
    assert "GPIO4" in msg
    assert "coil_adc_pin" in msg
    assert "32, 33, 34, 35, 36, 37, 38, 39" in msg
    exc = raises(ValueError, Esp32Hal, _board(ct_adc_pin=25))
    assert "GPIO25" in str(exc)


def test_esp32_s3_takes_gpio1_to_10_and_rejects_its_adc2_pins():
    s3 = _board(
        chip="ESP32-S3",
        coil_adc_pin=1,
        ambient_adc_pin=2,
        ct_adc_pin=10,
        relay_pin=38,
        led_pin=48,
        button_pin=0,
    )
    hal = Esp32Hal(s3)
    assert hal.ct_adc.pin.id == 10
    s3["coil_adc_pin"] = 11  # ADC2 channel 0 on the S3
    exc = raises(ValueError, Esp32Hal, s3)
    assert "GPIO11" in str(exc)
    assert adc1_pins("esp32s3") == (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)


def test_adc1_pin_table_lists_both_chips():
    chips = [chip for chip, _ in ADC1_PINS]
    assert chips == ["esp32", "esp32s3"]
    assert adc1_pins("esp32") == (32, 33, 34, 35, 36, 37, 38, 39)


def test_unknown_chip_is_rejected_listing_the_supported_ones():
    exc = raises(ValueError, Esp32Hal, _board(chip="esp32c3"))
    assert "esp32c3" in str(exc)
    assert "esp32s3" in str(exc)


def test_an_input_only_relay_pin_is_rejected_before_it_is_made():
    # GPIO34–39 on the ESP32 have no output driver: a relay there could never cut power.
    machine.forget_made()
    exc = raises(ValueError, Esp32Hal, _board(relay_pin=39))
    assert "GPIO39" in str(exc)
    assert machine.made_pins() == []


def test_a_pin_used_twice_is_rejected():
    exc = raises(ValueError, Esp32Hal, _board(led_pin=26))
    assert "GPIO26" in str(exc)


def test_missing_relay_polarity_is_an_error_not_a_guess():
    b = _board()
    del b["relay_active_high"]
    exc = raises(ValueError, Esp32Hal, b)
    assert "relay_active_high" in str(exc)


def test_watchdog_starts_only_when_asked():
    machine.forget_made()
    hal = Esp32Hal(BOARD)
    assert machine.made_wdts() == []
    hal.feed_watchdog()  # before start: nothing to feed, and no error
    hal.start_watchdog(8000)
    wdts = machine.made_wdts()
    assert len(wdts) == 1
    assert wdts[0].timeout == 8000
    hal.feed_watchdog()
    hal.feed_watchdog()
    assert wdts[0].feeds == 2
    raises(ValueError, hal.start_watchdog, 0)


def test_read_uv_averages_n_calibrated_reads():
    hal = Esp32Hal(BOARD)
    hal.coil_adc.uv_queue = [1640000, 1660000, 1645000, 1655000]
    assert hal.read_coil_uv(4) == 1650000
    assert hal.coil_adc.reads == 4
    hal.ambient_adc.uv_queue = [1000, 2000]  # mean 1500.0 exactly; 1 and 2 -> 1.5 rounds to 2
    assert hal.read_ambient_uv(2) == 1500
    hal.ambient_adc.uv_queue = [1, 2]
    assert hal.read_ambient_uv(2) == 2
    raises(ValueError, hal.read_coil_uv, 0)


def test_divider_reads_through_the_hal_read_callables():
    hal = Esp32Hal(BOARD)
    hal.coil_adc.uv_queue = [1650000] * 7 + [3300000]
    ohms = hal.coil_divider.read_ohms(hal.coil_read_uv, 8)
    assert abs(ohms - 10000.0) < 0.01
    assert hal.coil_adc.reads == 8


def test_ct_read_uv_is_the_ct_adcs_read_bound_once():
    hal = Esp32Hal(BOARD)
    read = hal.ct_read_uv
    assert read is hal.ct_read_uv
    hal.ct_adc.uv = 1234567
    assert read() == 1234567
    assert hal.coil_adc.reads == 0


def test_led_starts_off_and_follows_its_polarity():
    for active_high, on in ((True, 1), (False, 0)):
        machine.forget_made()
        hal = Esp32Hal(_board(led_active_high=active_high))
        led = machine.made_pins(2)[0]
        assert led.init_value == 1 - on
        hal.set_led(True)
        assert led.value() == on
        hal.set_led(False)
        assert led.value() == 1 - on


def test_button_is_active_low_with_pull_up_by_default():
    machine.forget_made()
    hal = Esp32Hal(BOARD)
    button = machine.made_pins(0)[0]
    assert button.mode == machine.Pin.IN
    assert button.pull == machine.Pin.PULL_UP
    button.value(1)
    assert not hal.button_pressed()
    button.value(0)
    assert hal.button_pressed()


def test_board_without_led_or_button_still_works():
    b = _board()
    del b["led_pin"]
    del b["button_pin"]
    hal = Esp32Hal(b)
    hal.set_led(True)
    assert not hal.button_pressed()


def test_reset_cause_is_reported_as_a_word():
    hal = Esp32Hal(BOARD)
    try:
        for cause, word in (
            (machine.PWRON_RESET, "power_on"),
            (machine.WDT_RESET, "watchdog"),
            (machine.HARD_RESET, "hard"),
            (machine.SOFT_RESET, "soft"),
            (machine.DEEPSLEEP_RESET, "deepsleep"),
            (99, "unknown"),
        ):
            machine.set_reset_cause(cause)
            assert hal.reset_cause() == word
    finally:
        machine.set_reset_cause(machine.PWRON_RESET)


def test_every_shipped_board_file_builds_a_hal():
    import json

    boards_dir = __file__.rsplit("/", 3)[0] + "/boards/"
    for name in ("esp32_devkitc.json", "esp32_s3_devkitc_1.json"):
        with open(boards_dir + name) as f:
            board = json.load(f)
        machine.forget_made()
        hal = Esp32Hal(board)
        assert _relay(board["relay_pin"]).init_value == (0 if board["relay_active_high"] else 1)
        assert hal.coil_adc.pin.id == board["coil_adc_pin"]
