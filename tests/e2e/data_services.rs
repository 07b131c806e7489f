//! Placeholder: the data services e2e test is being written.
