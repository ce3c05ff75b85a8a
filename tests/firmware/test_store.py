"""Persistent store: what survives a reboot, and that a damaged file never crashes the board.

Files are written for real: under /tmp in both runtimes (the VM mounts a writable scratch
folder there). Numbers in the reboot scenarios come from the same published figures as
test_supervisor.py: 15 min defrost limit (S-D1, S-D10), 30 min power off (S-D30).
"""

import os

from spec import MICROPYTHON
from splitguard import states
from splitguard.clock import TICKS_PERIOD
from splitguard.store import Store, crc32, crc32_py, defaults, encode
from splitguard.supervisor import Supervisor
from test_supervisor import MIN, PERIOD_S, ScriptedDetector
from test_supervisor import Rig as _Rig

DEFROSTING = states.DEFROSTING
RUNNING = states.RUNNING


def _fresh_dir(name):
    # The VM's /tmp is a new empty folder per run; under CPython /tmp is shared, so the process
    # id keeps parallel runs apart.
    pid = os.getpid() if not MICROPYTHON else 0
    path = "/tmp/sg-store-test-%d-%s" % (pid, name)
    try:
        os.mkdir(path)
    except OSError:
        _clean(path, False)
    return path


def _clean(path, remove_dir=True):
    for name in os.listdir(path):
        os.remove(path + "/" + name)
    if remove_dir:
        os.rmdir(path)


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _sample_record():
    rec = defaults()
    rec["life_s"] = 90_000
    rec["cycles"] = [10_000, 50_000, 89_000]
    rec["lockout"] = True
    rec["lockout_reason"] = (
        "defrost too long, but 3 power cycles in the last 24 h reached the limit"
    )
    rec["failed"] = 2
    rec["state"] = states.LOCKOUT
    return rec


def test_crc32_is_the_standard_one():
    # The CRC-32 check value of "123456789" (IEEE 802.3, as zlib and binascii compute it).
    assert crc32(b"123456789") == 0xCBF43926
    assert crc32_py(b"123456789") == 0xCBF43926
    assert crc32_py(b"") == crc32(b"") == 0


def test_round_trip():
    d = _fresh_dir("round_trip")
    try:
        store = Store(d + "/state.json", os)
        rec = _sample_record()
        assert store.save(rec) is True
        got = Store(d + "/state.json", os).load()
        assert got == rec
        assert store.fault is None
    finally:
        _clean(d)


def test_file_is_one_json_line_and_its_crc32():
    d = _fresh_dir("file_is_one_json_line_and_its_crc32")
    try:
        store = Store(d + "/state.json", os)
        store.save(_sample_record())
        lines = _read(d + "/state.json").split(b"\n")
        assert len(lines) == 3 and lines[2] == b""
        assert lines[0].startswith(b"{")
        assert int(lines[1], 16) == crc32(lines[0])
        assert os.listdir(d) == ["state.json"]  # the temp file was renamed away
    finally:
        _clean(d)


def test_every_flipped_bit_gives_defaults_and_a_fault():
    d = _fresh_dir("every_flipped_bit_gives_defaults_and_a_fault")
    try:
        path = d + "/state.json"
        good = encode(_sample_record())
        for i in range(len(good)):
            bad = bytearray(good)
            bad[i] ^= 0x04
            _write(path, bytes(bad))
            store = Store(path, os)
            rec = store.load()
            assert store.fault_kind == "corrupt", i
            assert "corrupt" in store.fault
            assert rec["cycles"] == [] and rec["lockout"] is False
            assert rec["history_lost"] is True
    finally:
        _clean(d)


def test_a_truncated_file_gives_defaults_and_a_fault():
    d = _fresh_dir("a_truncated_file_gives_defaults_and_a_fault")
    try:
        path = d + "/state.json"
        good = encode(_sample_record())
        for n in range(len(good)):
            _write(path, good[:n])
            store = Store(path, os)
            rec = store.load()
            assert store.fault_kind == "corrupt", n
            assert rec["history_lost"] is True
    finally:
        _clean(d)


def test_a_well_formed_record_with_wrong_contents_is_corrupt():
    d = _fresh_dir("a_well_formed_record_with_wrong_contents_is_corrupt")
    try:
        path = d + "/state.json"
        cases = (
            {"life_s": -1},
            {"life_s": "90000"},
            {"cycles": [100_000]},  # a cycle after the life clock's present
            {"lockout": 1},
            {"state": "ASLEEP"},
            {"v": 2},
        )
        for change in cases:
            rec = _sample_record()
            for key in change:
                rec[key] = change[key]
            _write(path, encode(rec))
            store = Store(path, os)
            store.load()
            assert store.fault_kind == "corrupt", change
    finally:
        _clean(d)


def test_a_missing_file_gives_fresh_defaults_and_says_so():
    d = _fresh_dir("a_missing_file_gives_fresh_defaults_and_says_so")
    try:
        store = Store(d + "/state.json", os)
        rec = store.load()
        assert rec == defaults()
        assert store.fault_kind == "missing"
        assert "missing" in store.fault
        assert "history_lost" not in rec
    finally:
        _clean(d)


def test_a_temp_file_left_by_an_interrupted_save_is_ignored_and_removed():
    d = _fresh_dir("a_temp_file_left_by_an_interrupted_save_is_ignored_and_removed")
    try:
        path = d + "/state.json"
        store = Store(path, os)
        rec = _sample_record()
        store.save(rec)
        _write(path + ".tmp", encode(defaults())[:20])  # power lost while writing the temp file
        got = Store(path, os).load()
        assert got == rec
        assert not _exists(path + ".tmp")
    finally:
        _clean(d)


def test_a_complete_temp_file_without_the_record_is_recovered():
    # A filesystem that cannot rename over a file removes the old one first; power lost between.
    d = _fresh_dir("a_complete_temp_file_without_the_record_is_recovered")
    try:
        path = d + "/state.json"
        rec = _sample_record()
        _write(path + ".tmp", encode(rec))
        store = Store(path, os)
        assert store.load() == rec
        assert store.fault is None
        assert os.listdir(d) == ["state.json"]
    finally:
        _clean(d)


class _FullFs:
    """os-like, but every rename fails as on a full or worn-out flash."""

    def rename(self, a, b):
        raise OSError(28)

    def remove(self, path):
        os.remove(path)

    def stat(self, path):
        return os.stat(path)


def test_a_failed_save_is_reported_not_raised():
    d = _fresh_dir("a_failed_save_is_reported_not_raised")
    try:
        store = Store(d + "/state.json", _FullFs())
        assert store.save(_sample_record()) is False
        assert store.fault_kind == "write"
        assert "cannot save" in store.fault
        nowhere = Store(d + "/no-such-folder/state.json", os)
        assert nowhere.save(_sample_record()) is False
        assert nowhere.fault_kind == "write"
    finally:
        _clean(d)


class Rig(_Rig):
    """test_supervisor's rig, on a real Store file."""

    def __init__(self, folder, start_ms=0, cfg=None):
        self.store = Store(folder + "/state.json", os)
        _Rig.__init__(self, cfg, self.store, start_ms)


def _stuck_defrost(rig):
    # Past settling, then a defrost that never ends (limit 15 min, S-D1, S-D10).
    rig.run(RUNNING, 4 * MIN)
    rig.run(DEFROSTING, 16 * MIN)


def test_the_24_h_limit_survives_reboots():
    d = _fresh_dir("the_24_h_limit_survives_reboots")
    try:
        rig = Rig(d, start_ms=0)
        _stuck_defrost(rig)
        assert rig.d.power_cut is True
        # Reboot (watchdog, brown-out): ticks restart at 0 ...
        rig = Rig(d, start_ms=0)
        assert rig.d.cycles_in_window == 1
        rig.run(RUNNING, 10 * MIN)
        _stuck_defrost(rig)
        assert rig.d.power_cut is True
        # ... or anywhere, here just before the 30-bit tick wrap.
        rig = Rig(d, start_ms=TICKS_PERIOD - 5 * MIN * 1000)
        assert rig.d.cycles_in_window == 2
        rig.run(RUNNING, 10 * MIN)
        _stuck_defrost(rig)
        assert rig.d.power_cut is True
        rig = Rig(d, start_ms=777)
        assert rig.d.cycles_in_window == 3
        rig.run(RUNNING, 10 * MIN)
        _stuck_defrost(rig)
        assert rig.d.power_cut is False
        assert rig.d.state == states.LOCKOUT
        assert rig.named(states.EV_POWER_OFF) == []
    finally:
        _clean(d)


def test_lockout_survives_a_reboot():
    d = _fresh_dir("lockout_survives_a_reboot")
    try:
        rig = Rig(d, cfg={"max_cycles_per_24h": 1})
        _stuck_defrost(rig)
        rig.run(RUNNING, 45 * MIN)
        rig.run(DEFROSTING, 16 * MIN)
        assert rig.d.state == states.LOCKOUT
        rig = Rig(d, start_ms=555, cfg={"max_cycles_per_24h": 1})
        assert rig.d.state == states.LOCKOUT
        assert rig.d.power_cut is False
        assert "technician" in rig.d.reason
        rig.run(RUNNING, 10 * MIN)
        rig.clear("button")
        assert rig.d.state == states.WATCHING
        rig = Rig(d, start_ms=0, cfg={"max_cycles_per_24h": 1})
        assert rig.d.state == states.WATCHING  # and the clearing survives too
    finally:
        _clean(d)


def test_time_powered_down_does_not_count_toward_the_24_h_window():
    d = _fresh_dir("time_powered_down_does_not_count_toward_the_24_h_window")
    try:
        rig = Rig(d)
        _stuck_defrost(rig)
        rig.run(RUNNING, 2 * 60 * MIN, period_s=60)
        life = rig.d.life_s
        # The board is unplugged for days; the life clock resumes where it was last saved,
        # at most 10 min behind, so the cycle looks more recent, never older.
        rig = Rig(d, start_ms=42)
        assert life - 10 * MIN <= rig.d.life_s <= life
        assert rig.d.cycles_in_window == 1
    finally:
        _clean(d)


def test_a_corrupt_store_is_reported_and_the_window_is_assumed_full():
    d = _fresh_dir("a_corrupt_store_is_reported_and_the_window_is_assumed_full")
    try:
        path = d + "/state.json"
        _write(path, b"{not json at all")
        sup = Supervisor({}, ScriptedDetector(), Store(path, os), 0)
        assert sup.decision.cycles_in_window == 3
        reading = _Rig().reading
        d1 = sup.step(PERIOD_S * 1000, reading)
        assert "corrupt" in d1.fault  # the first step carries it for the `fault` line
        d2 = sup.step(2 * PERIOD_S * 1000, reading)
        assert d2.fault is None
        rig = Rig(d)  # the repaired file now loads cleanly, still assuming the worst
        assert rig.store.fault is None
        assert rig.d.cycles_in_window == 3
        _stuck_defrost(rig)
        assert rig.d.state == states.LOCKOUT
        assert rig.d.power_cut is False
    finally:
        _clean(d)


def test_a_corrupt_store_that_cannot_be_rewritten_reports_both():
    d = _fresh_dir("corrupt_and_full")
    try:
        path = d + "/state.json"
        _write(path, b"garbage")
        sup = Supervisor({}, ScriptedDetector(), Store(path, _FullFs()), 0)
        fault = sup.step(PERIOD_S * 1000, _Rig().reading).fault
        assert "corrupt" in fault and "cannot save" in fault
        assert sup.decision.power_cut is False
    finally:
        _clean(d)
