"""Names shared by the detector, the supervisor, the serial protocol, replay and the tests.

They are plain strings so a JSON line carries them unchanged; a typo in a comparison fails
loudly in tests because every user imports these names instead of spelling them out.
"""

# What the outdoor unit is doing (detector).
OFF = "OFF"
RUNNING = "RUNNING"
FROSTING = "FROSTING"
DEFROSTING = "DEFROSTING"
SENSOR_FAULT = "SENSOR_FAULT"
UNIT_STATES = (OFF, RUNNING, FROSTING, DEFROSTING, SENSOR_FAULT)

# RUNNING is either of these modes, told apart by which side of ambient the outdoor coil sits.
HEAT = "heat"
COOL = "cool"

# What the supervisor is doing about it.
WATCHING = "WATCHING"
POWER_OFF = "POWER_OFF"
RESTORING = "RESTORING"
LOCKOUT = "LOCKOUT"
SUPERVISOR_STATES = (WATCHING, POWER_OFF, RESTORING, LOCKOUT)

# Event names: a contract with docs/protocol.md, replay and the scenario suite.
EV_FROST = "frost"
EV_DEFROST_START = "defrost_start"
EV_DEFROST_END = "defrost_end"
EV_DEFROST_TOO_LONG = "defrost_too_long"
EV_DEFROST_TOO_FREQUENT = "defrost_too_frequent"
EV_POWER_OFF = "power_off"
EV_POWER_ON = "power_on"
EV_RECOVERED = "recovered"
EV_NOT_RECOVERED = "not_recovered"
EV_LOCKOUT = "lockout"
EV_LOCKOUT_CLEARED = "lockout_cleared"
EV_SENSOR_FAULT = "sensor_fault"
EV_SENSOR_OK = "sensor_ok"
EV_RELAY_TEST = "relay_test"  # a person's short relay test: an interruption of the unit's power
EV_TEST_MODE = "test_mode"  # injected readings allowed (on) or no longer (off)
EVENTS = (
    EV_FROST,
    EV_DEFROST_START,
    EV_DEFROST_END,
    EV_DEFROST_TOO_LONG,
    EV_DEFROST_TOO_FREQUENT,
    EV_POWER_OFF,
    EV_POWER_ON,
    EV_RECOVERED,
    EV_NOT_RECOVERED,
    EV_LOCKOUT,
    EV_LOCKOUT_CLEARED,
    EV_SENSOR_FAULT,
    EV_SENSOR_OK,
    EV_RELAY_TEST,
    EV_TEST_MODE,
)

# Why a single sensor reading is not a measurement.
FAULT_OPEN = "open"  # divider at the rail an open thermistor drives it to
FAULT_SHORT = "short"  # divider at the other rail
FAULT_RANGE = "range"  # a resistance no temperature in the curve's range explains
FAULT_CLIPPED = "clipped"  # CT waveform reached an ADC rail; the RMS would under-read
FAULT_CT_BIAS = "bias"  # CT input sits at no plausible mid-rail bias: unplugged or miswired
