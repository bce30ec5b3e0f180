//! jeto-vagrant (under construction).
