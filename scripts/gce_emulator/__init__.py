"""A local emulator of the Compute Engine REST API v1 subset clonefs uses.

It follows the API reference (field names, paths, list/operation shapes,
error envelopes); it never bends to a client.  Standard library only.
"""

VERSION = "0.1"
