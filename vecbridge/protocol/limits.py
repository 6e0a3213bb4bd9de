"""Every limit the wire protocol enforces, in one place (docs/protocol.md, section 8 "Limits").

Before a connection is authenticated (its hello checked against the run's token) a peer
is a stranger: it may send at most ``HELLO_MAX_FRAME`` bytes of first frame, within
``HANDSHAKE_TIMEOUT`` seconds, and at most ``MAX_UNAUTHENTICATED`` such connections are
held at once. After the hello the game is trusted with ``max_frame_size`` (per launch spec),
but every message still obeys the structural limits below, so that no input, however
malformed, costs unbounded memory, time or recursion. Input past a limit raises a
:class:`~vecbridge.errors.ProtocolError` or :class:`~vecbridge.errors.SpaceError` subclass.
"""

from __future__ import annotations

# ---------------------------------------------------------------- frames
#: Largest frame after the hello (bytes, as the framing counts them), unless
#: ``LaunchSpec.max_frame_size`` / ``max_frame_size=`` says otherwise.
DEFAULT_MAX_FRAME = 64 * 1024 * 1024
#: Largest first frame (the hello) of a connection not yet authenticated. A hello is a
#: few hundred bytes; a Box with per-element bounds of an 84x84x3 image is ~150 KiB.
HELLO_MAX_FRAME = 256 * 1024
#: Largest WebSocket upgrade request (the HTTP text before the first frame).
MAX_WEBSOCKET_UPGRADE = 16 * 1024
#: Most bytes a stranger may send before its hello is complete: one upgrade request,
#: one hello frame and its framing overhead (comm's base64 makes 256 KiB into 342 KiB).
MAX_BYTES_BEFORE_HELLO = MAX_WEBSOCKET_UPGRADE + HELLO_MAX_FRAME * 4 // 3 + 64
#: Digits of a comm frame's decimal length.
MAX_COMM_DIGITS = 10

# ---------------------------------------------------------------- message structure
#: Nesting of JSON objects and lists in a message header (``{"a": [1]}`` has depth 2).
MAX_JSON_DEPTH = 64
#: JSON integers anywhere in a header must lie in [INT_MIN, UINT_MAX] (64-bit signed or unsigned).
INT_MIN = -(2**63)
UINT_MAX = 2**64 - 1
#: Arrays in one message (entries of its ``"arrays"`` list).
MAX_ARRAYS = 4096
#: Dimensions of one array (numpy's own limit is 64 in numpy 2, 32 in numpy 1).
MAX_ARRAY_DIMS = 32
#: Elements of one array on the wire, and the most any one dimension may say (bytes are
#: bounded by the frame size anyway; this also bounds arrays with a zero dimension).
MAX_ARRAY_ELEMENTS = 2**31 - 1

# ---------------------------------------------------------------- spaces
#: Elements of a declared space, summed over a Dict's or Tuple's sub-spaces. vecbridge
#: allocates the space's bounds and num_envs rows of it in shared memory: 2**26 is a
#: 64 MiB uint8 observation, the default frame limit.
MAX_SPACE_ELEMENTS = 2**26
#: Sub-spaces of one space (Dict and Tuple entries, counted through every level), so
#: that building the Gymnasium objects stays cheap.
MAX_SUBSPACES = 4096
#: Items of gym-bizhawk type strings (after ``[N]`` expansion), e.g. ``"int 0 255 [131072]"``.
MAX_TYPE_STRING_ITEMS = 2**20
#: Characters of one type string.
MAX_TYPE_STRING_LENGTH = 256
#: Discrete ``n``/``start`` and MultiDiscrete ``nvec``/``start`` are int64 in Gymnasium.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# ---------------------------------------------------------------- connections before the hello
#: Seconds a connection may take from being accepted to a complete, valid hello
#: (default of ``LaunchSpec.handshake_timeout``).
HANDSHAKE_TIMEOUT = 5.0
#: Unauthenticated connections one listener holds at once, beyond one per instance that
#: still owes its hello; past it the oldest is closed.
MAX_UNAUTHENTICATED = 64
