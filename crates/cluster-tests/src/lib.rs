//! Integration tests of the local control plane live in `tests/`; this library is intentionally empty.
