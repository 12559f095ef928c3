//! Validation, presets and builders.
