"""Which numbers each Channel Access value type can carry: the one rule shared by the DBR
encoder (``caprobe.ca.dbr``) and the operator-facing parser (``caprobe.format.parse_value``),
so text that parses is text that can be sent. Plain Python (no numpy), cheap to import.

Keys are the native (DBF) type numbers: SHORT 1, FLOAT 2, ENUM 3, CHAR 4, LONG 5.

CHAR is one byte whose sign CA does not say. DBR_CHAR is unsigned on the wire (``epicsUInt8``
in EPICS 7): rsrv puts it as DBR_UCHAR into the field, so a DBF_UCHAR field keeps 0..255 and a
signed DBF_CHAR field gets the same bit pattern as -128..127 (255 is -1). caget prints every
CHAR as a signed C ``char``, so an operator reads -1 for both, and caput accepts -1 for a
DBF_UCHAR field (epicsParseUInt8 takes -128..255) as well as for a DBF_CHAR one. Both
spellings of a byte are therefore accepted, -128..255, and sent as the byte (-1 as 0xFF);
what caget then shows is that byte, signed.
"""

from __future__ import annotations

SHORT, FLOAT, ENUM, CHAR, LONG = 1, 2, 3, 4, 5

#: Integer range of each integer value type; values outside are refused, never wrapped.
INT_RANGE: dict[int, tuple[int, int]] = {
    SHORT: (-(2**15), 2**15 - 1),
    ENUM: (0, 2**16 - 1),
    CHAR: (-(2**7), 2**8 - 1),
    LONG: (-(2**31), 2**31 - 1),
}
#: Largest finite float32 (numpy.finfo(numpy.float32).max): a bigger FLOAT is refused.
FLOAT32_MAX = 3.4028234663852886e38

