# splitguard boot.py — runs first after every reset, before main.py.
#
# Its one job: put the relay in the unit-powered state before anything else can fail. The
# contactor is wired normally-closed (docs/wiring.md), so a de-energised relay coil means the
# heat pump has power; this drives the relay pin to its de-energised level as early as MicroPython
# allows. A hardware pull resistor on the driver input covers the time before this line runs.
try:
    import json

    import machine

    with open("board.json") as _f:
        _board = json.load(_f)
    machine.Pin(
        _board["relay_pin"],
        machine.Pin.OUT,
        value=0 if _board.get("relay_active_high", True) else 1,
    )
    del _f, _board
except Exception as _exc:  # noqa: BLE001 - boot must never stop on an error here
    # Without a board file the pin is unknown; it stays an input (high impedance), which the
    # driver's pull resistor holds at "de-energised". main.py reports the problem on serial.
    print('{"v":1,"kind":"fault","where":"boot","error":"%s"}' % str(_exc).replace('"', "'"))
