// Keeps chorus_testlib non-empty while it has no other sources.
