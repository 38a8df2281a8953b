"""Open Badges 3.0 credentials signed as VC-JWT, and their Bitstring Status List."""
