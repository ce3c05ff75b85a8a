"""One sample of the outdoor unit: coil and ambient °C, supply amps, and why any is missing."""

from splitguard.compat import NAN


class Reading:
    """Mutable and reused: the sampling loop fills one instance in place instead of allocating.

    A faulted value is NaN and its `*_fault` field names the cause (states.FAULT_*); a healthy
    value has fault None.
    """

    __slots__ = ("coil_c", "ambient_c", "amps", "coil_fault", "ambient_fault", "ct_fault")

    def __init__(
        self,
        coil_c=NAN,
        ambient_c=NAN,
        amps=NAN,
        coil_fault=None,
        ambient_fault=None,
        ct_fault=None,
    ):
        self.set(coil_c, ambient_c, amps, coil_fault, ambient_fault, ct_fault)

    def set(self, coil_c, ambient_c, amps, coil_fault=None, ambient_fault=None, ct_fault=None):
        """Overwrite every field (no allocation); returns self for chaining."""
        self.coil_c = coil_c
        self.ambient_c = ambient_c
        self.amps = amps
        self.coil_fault = coil_fault
        self.ambient_fault = ambient_fault
        self.ct_fault = ct_fault
        return self

    def faulted(self):
        """True when any sensor is faulted."""
        return (
            self.coil_fault is not None
            or self.ambient_fault is not None
            or self.ct_fault is not None
        )
