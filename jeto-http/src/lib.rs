//! jeto-http (under construction).
